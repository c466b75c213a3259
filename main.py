"""The source module Cloud Functions loads: `--entry-point=auth_login` resolves here.

functions-framework looks the target up with getattr, so this module-level `__getattr__`
imports only the target's own area and the shared core, keeping every cold start small.
It runs this module inside the app it builds: the app's own errors (a path Werkzeug refuses)
become our JSON errors there.
"""

from typing import Any

import flask

if flask.has_app_context():
    from shared.framework_errors import install

    install(flask.current_app)


def __getattr__(target: str) -> Any:
    from shared.registry import entry_point

    return entry_point(target)
