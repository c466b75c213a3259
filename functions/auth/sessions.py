"""The signed-in user's sessions: list them, end one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from functions.auth.models import SessionOut
from shared import audit, store
from shared.accounts import (
    live_sessions,
)
from shared.audit import Client
from shared.auth import (
    SESSIONS,
    session_is_live,
)
from shared.errors import (
    NotFound,
)
from shared.registry import composite_index

# Sessions of the signed-in user ------------------------------------------------------------

SESSION_ORDER = [("created_at", store.DESCENDING)]
composite_index(SESSIONS, ("user_id", "ASCENDING"), ("revoked_at", "ASCENDING"), ("created_at", "DESCENDING"))


def session_out(session_id: str, data: dict[str, Any], current: str) -> SessionOut:
    return SessionOut(
        id=session_id,
        device=data.get("device", ""),
        ip=data.get("ip", ""),
        user_agent=data.get("user_agent", ""),
        created_at=data["created_at"],
        last_used_at=data.get("last_used_at") or data["created_at"],
        expires_at=data.get("expires_at"),
        current=session_id == current,
    )


def list_sessions(*, user_id: str, current: str, limit: int, cursor: str | None, now: datetime) -> store.Page:
    """The live sessions of the user, newest first: one query (limit + 1 reads)."""
    page = store.paginate(
        live_sessions(user_id), store.db().collection(SESSIONS), SESSION_ORDER, limit, cursor, lambda snap: snap
    )
    page.items = [
        session_out(snap.id, snap.to_dict() or {}, current)
        for snap in page.items
        if session_is_live(snap.to_dict(), now)
    ]
    return page


def revoke_session(*, user_id: str, session_id: str, client: Client, now: datetime) -> None:
    """End one of the caller's own sessions. Another user's session, or one already ended, is
    not found (1 read, 2 writes)."""
    ref = store.db().collection(SESSIONS).document(session_id)
    data = ref.get().to_dict()
    if data is None or data.get("user_id") != user_id or not session_is_live(data, now):
        raise NotFound("No such session.")
    batch = store.db().batch()
    batch.update(ref, {"revoked_at": now, "revoked_reason": "revoked_by_user"})
    audit.record(
        "auth.session_revoked",
        actor_id=user_id,
        target_id=user_id,
        client=client,
        details={"session_id": session_id},
        at=now,
        writer=batch,
    )
    batch.commit()
