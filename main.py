"""The source module Cloud Functions loads: `--entry-point=auth_login` resolves here.

functions-framework looks the target up with getattr, so this module-level `__getattr__`
imports only the target's own area and the shared core, keeping every cold start small.
"""

from typing import Any


def __getattr__(target: str) -> Any:
    from shared.registry import entry_point

    return entry_point(target)
