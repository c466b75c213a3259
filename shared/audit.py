"""The audit trail of security events: who did what to whom, from where, when.

Any area records an event with one write:

    audit.record("user.role_changed", actor_id=admin_id, target_id=user_id, client=call.client,
                 details={"from": "student", "to": "teacher"})

`client` is a `Client(ip, user_agent)`: where the request came from (`call.client` in a handler).

`audit_logs/{id}` = {action, actor_id, target_id, ip, user_agent, details, at, expires_at}.
Entries expire after a year (a TTL field). Never put a secret in `details`: no password, token
or hash. Admins read the trail through `GET /api/v1/audit-logs` (functions/audit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared import store
from shared.auth import new_id
from shared.registry import expires
from shared.userdata import field, personal

AUDIT_LOGS = personal(expires("audit_logs"), field("actor_id"), field("target_id"))
RETENTION = timedelta(days=365)

# The vocabulary of actions (the list endpoint filters on them).
ACTIONS = (
    "auth.register",
    "auth.login",
    "auth.login_failed",
    "auth.lockout",
    "auth.logout",
    "auth.logout_all",
    "auth.refresh_reuse",
    "auth.session_revoked",
    "auth.password_changed",
    "auth.password_change_failed",
    "auth.password_reset_requested",
    "auth.password_reset",
    "auth.email_verified",
    "user.created_by_admin",
    "user.updated",
    "user.role_changed",
    "user.status_changed",
    "user.archived",
    "user.exported",
)

_FORBIDDEN_DETAIL_KEYS = ("password", "token", "hash", "secret")


@dataclass(frozen=True)
class Client:
    """Where a request came from, for sessions and the audit trail."""

    ip: str
    user_agent: str


def entry(
    action: str,
    *,
    actor_id: str | None,
    target_id: str | None,
    client: Client,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The audit document (without writing it)."""
    clean = {k: v for k, v in (details or {}).items() if not any(word in k.lower() for word in _FORBIDDEN_DETAIL_KEYS)}
    when = at or store.now()
    return {
        "action": action,
        "actor_id": actor_id,
        "target_id": target_id,
        "ip": (client.ip or "")[:64] or None,
        "user_agent": (client.user_agent or "")[:256] or None,
        "details": clean,
        "at": when,
        "expires_at": when + RETENTION,
    }


def record(
    action: str,
    *,
    actor_id: str | None,
    target_id: str | None,
    client: Client,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
    writer: Any = None,
) -> str:
    """Write one audit entry (one Firestore write). With `writer` (a transaction or a batch) the
    entry joins that commit instead of its own. Returns the entry id."""
    doc = entry(action, actor_id=actor_id, target_id=target_id, client=client, details=details, at=at)
    entry_id = new_id()
    ref = store.db().collection(AUDIT_LOGS).document(entry_id)
    if writer is not None:
        writer.create(ref, doc)
    else:
        ref.create(doc)
    return entry_id
