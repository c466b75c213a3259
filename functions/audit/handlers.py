"""Audit routes: the security trail, for admins."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from functions.audit import service
from shared import store
from shared.http import Call, HttpFunction, roles
from shared.validation import Moment, Page, PageQuery

Id = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@\-]+$")]

logs_route = HttpFunction("audit-logs", "/api/v1/audit-logs")


class AuditQuery(PageQuery):
    action: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z_.]+$")] | None = None
    actor_id: Id | None = None
    target_id: Id | None = None
    since: Moment | None = None
    until: Moment | None = None


AuditPage = Page[service.AuditLogOut]


@logs_route.get(roles("admin"), query=AuditQuery, response=AuditPage)
def list_logs(call: Call[None, AuditQuery]) -> store.Page:
    """Security events, newest first, filtered by action, actor, target and time (admin)."""
    q = call.query
    return service.list_logs(
        filters={"action": q.action, "actor_id": q.actor_id, "target_id": q.target_id},
        since=q.since,
        until=q.until,
        limit=q.limit,
        cursor=q.cursor,
    )
