"""Live follow: a Firebase custom token for the caller, so the web client can sign in to
Firebase and follow `chat_sessions/{id}/messages` with a Firestore listener (the security
rules in infra/firestore.rules let it read its own chats, while the sign-in is newer than the
user's last sign-out, and nothing else).

`firebase-admin` (the app of shared/firebase.py) signs the token with the function's service
account through the IAM signBlob API (the account needs the Service Account Token Creator role
on itself); with `FIREBASE_AUTH_EMULATOR_HOST` set (the local stack and tests) it mints unsigned
tokens that the Auth emulator accepts. It is imported on first use only, by this route alone.
"""

from __future__ import annotations

from shared import firebase

CUSTOM_TOKEN_SECONDS = 3600  # fixed by Firebase: a custom token is good for one hour


def custom_token(user_id: str, role: str) -> tuple[str, int]:
    """A token whose Firebase uid is the platform's user id, with the role as a claim."""
    from firebase_admin import auth

    token = auth.create_custom_token(user_id, {"role": role}, app=firebase.app())
    return (token.decode() if isinstance(token, bytes) else str(token)), CUSTOM_TOKEN_SECONDS
