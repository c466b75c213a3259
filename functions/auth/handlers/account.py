"""The signed-in account's live sessions: list them, end one."""

from __future__ import annotations

from functions.auth import sessions
from functions.auth.models import SessionsPage
from shared import store
from shared.http import SIGNED_IN, Call, HttpFunction, Response
from shared.validation import PageQuery

sessions_route = HttpFunction("auth-sessions", "/api/v1/auth/sessions")
session_route = HttpFunction("auth-sessions-item", "/api/v1/auth/sessions/{id}")


@sessions_route.get(SIGNED_IN, query=PageQuery, response=SessionsPage)
def list_sessions(call: Call[None, PageQuery]) -> store.Page:
    """The caller's live sessions: device, IP, created and last used."""
    return sessions.list_sessions(
        user_id=call.user.user_id,
        current=call.user.session_id,
        limit=call.query.limit,
        cursor=call.query.cursor,
        now=call.now,
    )


@session_route.delete(SIGNED_IN, status=204)
def revoke_session(call: Call[None, None]) -> Response:
    """End one of the caller's sessions (its tokens stop at once)."""
    sessions.revoke_session(user_id=call.user.user_id, session_id=call.params["id"], client=call.client, now=call.now)
    return Response(status=204)
