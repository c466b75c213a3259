"""Firebase Auth, as the live path uses it: the one `firebase-admin` app (custom tokens for the
web client, revocation of its sign-ins) and the sign-out moment the security rules read.

A web client signed in to Firebase (chat's live follow, functions/chat/live.py) would outlive the
platform's logout on its own refresh token. So every sign-out (logout, logout everywhere, a
password change or reset, suspension, archiving) records its moment on `users/{id}` in the write
it already makes, and infra/firestore.rules refuse an ID token whose `auth_time` is not after it
(Firebase's documented pattern for revoked tokens in rules): the listener is cut off at once.
Then `revoke_sign_ins` revokes the user's Firebase refresh tokens, so no new ID token is issued
to the old sign-in either. The recorded moment is what the rules enforce; a failed revocation is
logged, never an error of the sign-out (the user is signed out of the platform whatever Firebase
answers).

`firebase-admin` is imported on first use only: no entry point pays for it at import. With
`FIREBASE_AUTH_EMULATOR_HOST` set (the local stack, the tests) it talks to the Auth emulator.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from shared.config import settings
from shared.logging import get_logger, log_fields

# users/{id}: the last sign-out; the rules refuse a Firebase sign-in (auth_time) not after it.
SIGNED_OUT_AT = "firebase_signed_out_at"
# Every outbound call has a time limit: a slow Firebase never holds a sign-out for long.
HTTP_TIMEOUT_SECONDS = 5

log = get_logger("firebase")
_app: Any = None
_lock = threading.Lock()


def app() -> Any:
    """The process's `firebase-admin` app. Deployed, it signs custom tokens through IAM signBlob
    as the function's service account (or `STUDYHALL_FIREBASE_SERVICE_ACCOUNT`)."""
    global _app
    if _app is None:
        with _lock:
            if _app is None:
                import firebase_admin

                options: dict[str, Any] = {"projectId": settings().project_id, "httpTimeout": HTTP_TIMEOUT_SECONDS}
                if settings().firebase_service_account:
                    options["serviceAccountId"] = settings().firebase_service_account
                _app = firebase_admin.initialize_app(options=options, name="studyhall")
    return _app


def signed_out(now: datetime) -> dict[str, Any]:
    """The field to write on `users/{id}` with a sign-out, in the write the sign-out makes."""
    return {SIGNED_OUT_AT: now}


def revoke_sign_ins(user_id: str) -> bool:
    """Revoke the user's Firebase refresh tokens (after the sign-out's moment is stored).
    False when there was nothing to revoke or Firebase failed (logged): the rules already refuse
    the old sign-in."""
    from firebase_admin import auth, exceptions

    try:
        auth.revoke_refresh_tokens(user_id, app=app())
    except auth.UserNotFoundError:
        return False  # never signed in to Firebase: nothing to revoke
    except (exceptions.FirebaseError, OSError, ValueError) as error:
        log.warning("firebase revocation failed", extra=log_fields(user_id=user_id, error=type(error).__name__))
        return False
    return True
