"""Tutor chat routes: sessions, messages, ending a session, the live-follow token, and the
event function that writes the tutor's replies."""

from __future__ import annotations

from functions.chat import providers, service, snapshot
from functions.chat.models import (
    FirebaseTokenOut,
    MessageIn,
    MessageListQuery,
    MessageOut,
    SessionIn,
    SessionListQuery,
    SessionOut,
)
from shared import store
from shared.errors import ServiceUnavailable
from shared.event_types import MESSAGE_POSTED, MessagePosted
from shared.events import Event, subscriber
from shared.http import SIGNED_IN, Call, HttpFunction
from shared.logging import get_logger, log_fields

log = get_logger("chat")
MODEL_USAGE = providers.USAGE  # declared there, next to the spend it counts (a TTL collection)

sessions_route = HttpFunction("chat-sessions", "/api/v1/chat/sessions")
messages_route = HttpFunction("chat-messages", "/api/v1/chat/sessions/{session_id}/messages")
end_route = HttpFunction("chat-session-end", "/api/v1/chat/sessions/{session_id}/end")
token_route = HttpFunction("chat-firebase-token", "/api/v1/auth/firebase-token")


@sessions_route.post(SIGNED_IN, body=SessionIn, response=SessionOut, status=201, errors=(404,))
def create_session(call: Call[SessionIn, None]) -> SessionOut:
    """Start a chat with the tutor, about a topic and optionally an exercise, question, lesson or exam session."""
    context = call.body.context.given() if call.body.context else None
    return service.create_session(call.user.user_id, call.body.topic, context, call.now)


@sessions_route.get(SIGNED_IN, query=SessionListQuery, response=SessionOut)
def list_sessions(call: Call[None, SessionListQuery]) -> store.Page:
    """The caller's chat sessions, newest first."""
    return service.list_sessions(call.user.user_id, call.query.limit, call.query.cursor)


@messages_route.get(SIGNED_IN, query=MessageListQuery, response=MessageOut)
def list_messages(call: Call[None, MessageListQuery]) -> store.Page:
    """A session's messages, oldest first (the caller's sessions only)."""
    return service.list_messages(call.params["session_id"], call.user.user_id, call.query.limit, call.query.cursor)


@messages_route.post(SIGNED_IN, body=MessageIn, response=MessageOut, status=202, errors=(409, 429))
def post_message(call: Call[MessageIn, None]) -> MessageOut:
    """Send a message; the tutor's reply is written asynchronously as the next message."""
    return service.post_message(call.params["session_id"], call.user.user_id, call.body.content, call.now)


@end_route.post(SIGNED_IN, response=SessionOut)
def end_session(call: Call[None, None]) -> SessionOut:
    """End a session: further messages are refused (409)."""
    return service.end_session(call.params["session_id"], call.user.user_id, call.now)


@token_route.post(SIGNED_IN, response=FirebaseTokenOut, errors=(503,))
def firebase_token(call: Call[None, None]) -> FirebaseTokenOut:
    """A Firebase custom token for the caller, to follow their chats live with a Firestore listener."""
    from functions.chat import live

    try:
        token, expires_in = live.custom_token(call.user.user_id, call.user.role)
    except Exception as exc:  # IAM signing unavailable: the client may retry; no detail leaks
        log.error("custom token not minted", extra=log_fields(error=type(exc).__name__))
        raise ServiceUnavailable("Live updates are unavailable right now; try again.") from exc
    return FirebaseTokenOut(token=token, expires_in=expires_in)


@subscriber("chat-reply", topic=MESSAGE_POSTED, timeout_seconds=120, memory="1Gi")
def reply(event: Event) -> None:
    """Write the tutor's reply to a user message, once (the reply's id comes from the message's)."""
    data = event.data_as(MessagePosted)  # ids that are path segments, or the event was dropped
    service.write_reply(data.session_id, data.message_id, store.now())


@subscriber(
    snapshot.REBUILD_JOB, topic=snapshot.REBUILD_TOPIC, schedule="*/30 * * * *", timeout_seconds=540, memory="1Gi"
)
def rebuild_index(event: Event) -> None:
    """Rebuild the tutor's retrieval index from every content document and share it as a Cloud
    Storage snapshot; replies load it and never build it themselves."""
    passages = snapshot.rebuild()
    log.info("tutor index rebuilt", extra=log_fields(passages=passages))
