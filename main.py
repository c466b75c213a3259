"""The source module Cloud Functions loads: `--entry-point=auth_login` resolves here.

functions-framework looks the target up with getattr, so this module-level `__getattr__`
imports only the module that declares the target and the shared core, keeping every cold start
small. It runs this module inside the app it builds: the app's own errors (a path Werkzeug
refuses) become our JSON errors there.
"""

import gc
from typing import Any

import flask

if flask.has_app_context():
    from shared.framework_errors import install

    install(flask.current_app)

_loaded = False


def __getattr__(target: str) -> Any:
    from shared.registry import entry_point

    global _loaded
    if _loaded:
        return entry_point(target)
    # What the first load creates lives as long as the instance: no collection could free any
    # of it, so none runs meanwhile (~3 ms of a cold start), and it is frozen afterwards, out of
    # every later collection's way (and, as gunicorn forks its worker after this load, out of
    # copy-on-write's way too: the gc module's own advice for pre-fork servers).
    collecting = gc.isenabled()
    gc.disable()
    try:
        found = entry_point(target)
        _loaded = True
        return found
    finally:
        gc.freeze()
        if collecting:
            gc.enable()
