"""Refresh-token rotation, with reuse detection that tells a race from a theft.

The presented token is spent and a new pair issued. A spent token presented again revokes the
whole login (RFC 9700 reuse detection), except the token spent last by a request that started
before that rotation committed, or within `refresh_race_grace_seconds` (10) after: that is two
tabs refreshing at once, not a theft. The loser answers 409 without tokens (the winner's pair is
already in the other tab) and nobody is signed out; a thief replaying inside the window gets
nothing either, and a replay after it revokes the login. The rotation records its commit time from the server
(SERVER_TIMESTAMP), so the comparison does not depend on the instances' clocks agreeing.
Rotation is an optimistic write: a loser reads the session again and answers as above.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from google.cloud.firestore import SERVER_TIMESTAMP

from functions.auth.models import TokensOut
from functions.auth.service import SPENT_HASHES_KEPT, _tokens
from shared import audit, store
from shared.audit import Client
from shared.auth import SESSIONS, hash_token, new_secret
from shared.collections import USERS
from shared.config import settings
from shared.errors import AccountSuspended, Conflict, Unauthorized
from shared.logging import get_logger, log_fields

log = get_logger("auth")


class RefreshReuse(Unauthorized):
    message = "The refresh token was already used; every session of that login has ended."


class RefreshRace(Conflict):
    message = "This refresh token was just used by a concurrent request; use the tokens that request received."


def parse_refresh_token(token: str) -> tuple[str, int, str]:
    parts = token.split(".")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[0].isalnum() or len(parts[0]) > 64:
        raise Unauthorized("The refresh token is invalid.")
    return parts[0], int(parts[1]), parts[2]


def lost_race(session: dict[str, Any], presented: str, started_at: datetime) -> bool:
    """The presented token is the one spent by the last rotation, and this request started before
    that rotation committed: it raced the winner, it did not replay a token."""
    spent = session.get("spent_hashes") or []
    rotated_at = session.get("rotated_at")
    grace = timedelta(seconds=settings().refresh_race_grace_seconds)
    return bool(spent) and spent[-1] == presented and rotated_at is not None and started_at <= rotated_at + grace


def refresh(*, refresh_token: str, client: Client, now: datetime) -> TokensOut:
    """Rotate the session's refresh token: 1 read and 1 write conditioned on the session being
    unchanged since it was read, 1 user read."""
    session_id, generation, secret = parse_refresh_token(refresh_token)
    presented = hash_token(secret)
    ref = store.db().collection(SESSIONS).document(session_id)
    new_secret_value = new_secret()

    def rotate(
        session: dict[str, Any] | None,
    ) -> tuple[dict[str, Any] | None, tuple[dict[str, Any], int, dict[str, Any]] | None]:
        if session is None:
            raise Unauthorized("The refresh token is invalid.")
        if presented in session.get("spent_hashes", []):
            if lost_race(session, presented, now) and session.get("revoked_at") is None:
                raise RefreshRace()
            if session.get("revoked_at") is None:
                return {"revoked_at": now, "revoked_reason": "refresh_token_reuse"}, None
            return None, None
        if presented != session.get("refresh_hash") or generation != session.get("refresh_gen"):
            raise Unauthorized("The refresh token is invalid.")
        # As in shared.auth.authenticate: a suspended account says so, whatever the session.
        if session.get("user_status", "active") == "suspended":
            raise AccountSuspended()
        if session.get("revoked_at") is not None or session.get("expires_at", now) <= now:
            raise Unauthorized("The session has ended; sign in again.")
        # The user is read before the rotation commits (issue 22): nothing that can fail is left
        # after it, or a failure there would spend the token with no new pair ever given out.
        user = store.db().collection(USERS).document(session["user_id"]).get().to_dict()
        if user is None:
            raise Unauthorized("The session has ended; sign in again.")
        next_gen = generation + 1
        rotation = {
            "refresh_gen": next_gen,
            "refresh_hash": hash_token(new_secret_value),
            "spent_hashes": [*session.get("spent_hashes", []), presented][-SPENT_HASHES_KEPT:],
            "rotated_at": SERVER_TIMESTAMP,  # the commit's time: what a racing request started before
            "last_used_at": now,
            "ip": client.ip,
        }
        return rotation, (session, next_gen, user)

    # Optimistic (store.guarded_write): of two tabs refreshing at once one rotates, the other reads
    # the rotation again and finds it lost the race; no lock waits, no transaction aborts.
    outcome, _ = store.guarded_write(ref, rotate)
    if outcome is None:
        log.warning("refresh token reuse: session revoked", extra=log_fields(session_id=session_id))
        owner = (ref.get().to_dict() or {}).get("user_id")
        audit.record(
            "auth.refresh_reuse",
            actor_id=None,
            target_id=owner,
            client=client,
            details={"session_id": session_id},
            at=now,
        )
        raise RefreshReuse()
    session, next_gen, user = outcome
    return _tokens(session["user_id"], user, session_id, f"{session_id}.{next_gen}.{new_secret_value}", now)
