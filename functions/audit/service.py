"""Reading the audit trail (shared.audit writes it): filtered, newest first, cursor paged."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter
from pydantic import BaseModel

from shared import store
from shared.audit import AUDIT_LOGS
from shared.registry import composite_index
from shared.validation import Out

FILTERS = ("action", "actor_id", "target_id")
ORDER = [("at", store.DESCENDING)]

# Every combination of equality filters, ordered by time (and bounded by since/until on `at`).
for size in (1, 2, 3):
    for combo in itertools.combinations(FILTERS, size):
        composite_index(AUDIT_LOGS, *((name, "ASCENDING") for name in combo), ("at", "DESCENDING"))


class AuditLogOut(Out):
    id: str
    action: str
    actor_id: str | None = None
    target_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    details: dict[str, Any] = {}
    at: datetime


def _out(snapshot: Any) -> BaseModel:
    return AuditLogOut(id=snapshot.id, **(snapshot.to_dict() or {}))


def list_logs(
    *,
    filters: dict[str, str | None],
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
) -> store.Page:
    """One query: limit + 1 reads."""
    logs = store.db().collection(AUDIT_LOGS)
    query: Any = logs
    for name in FILTERS:
        value = filters.get(name)
        if value:
            query = query.where(filter=FieldFilter(name, "==", value))
    if since is not None:
        query = query.where(filter=FieldFilter("at", ">=", since))
    if until is not None:
        query = query.where(filter=FieldFilter("at", "<", until))
    return store.paginate(query, logs, ORDER, limit, cursor, _out)
