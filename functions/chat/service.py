"""Tutor chat rules: sessions, messages, their limits, and the tutor's reply.

A posted message is stored with its `chat.message.posted` (outbox, then Pub/Sub); the reply
function (`write_reply`) answers it once however often the event arrives: the reply's id is derived
from the message's, and it is created only if it does not exist.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.base_query import FieldFilter

from functions.chat.models import MessageOut, SessionOut, SourceOut
from shared import answers, store
from shared.auth import new_id
from shared.collections import CHAT_SESSIONS, EXAM_SESSIONS, EXERCISES, QUESTIONS, USERS
from shared.config import settings
from shared.errors import Conflict, NotFound
from shared.event_types import MESSAGE_POSTED, MessagePosted
from shared.events import publish_in
from shared.logging import get_logger, log_fields
from shared.ratelimit import Limit, hit
from shared.registry import composite_index

if TYPE_CHECKING:
    from functions.chat.tutor import Turn

log = get_logger("chat")

MESSAGES = "messages"  # subcollection of chat_sessions/{id}
SESSIONS_BY_USER = composite_index(CHAT_SESSIONS, ("user_id", "ASCENDING"), ("created_at", "DESCENDING"))
HISTORY_TURNS = 6  # recent messages a reply reads for follow-ups
_SESSION_ID = re.compile(r"^[0-9a-f]{32}$")


def _sessions() -> Any:
    return store.db().collection(CHAT_SESSIONS)


def reply_id(message_id: str) -> str:
    """The reply to a message has one possible id: a redelivered event cannot write another."""
    return f"{message_id}-reply"


# Sessions -----------------------------------------------------------------------------------------


def session_out(session_id: str, data: dict[str, Any]) -> SessionOut:
    return SessionOut(
        id=session_id,
        user_id=data["user_id"],
        topic=data.get("topic"),
        context=data.get("context"),
        status=data["status"],
        created_at=data["created_at"],
        ended_at=data.get("ended_at"),
    )


def _check_context(user_id: str, context: dict[str, str]) -> None:
    """The document a context names must exist (and an exam session be the caller's): 422 if not.
    A lesson lives inside its path document; the reply looks it up in the content index."""
    invalid = None
    if "exercise_id" in context:
        if not store.db().collection(EXERCISES).document(context["exercise_id"]).get(field_paths=["title"]).exists:
            invalid = ("exercise_id", "No such exercise.")
    elif "question_id" in context:
        if not store.db().collection(QUESTIONS).document(context["question_id"]).get(field_paths=["domain"]).exists:
            invalid = ("question_id", "No such question.")
    elif "exam_session_id" in context:
        found = store.db().collection(EXAM_SESSIONS).document(context["exam_session_id"]).get(field_paths=["user_id"])
        if not found.exists or (found.to_dict() or {}).get("user_id") != user_id:
            invalid = ("exam_session_id", "No such exam session of yours.")
    if invalid:
        field, message = invalid
        raise NotFound(message, details=[{"field": f"context.{field}", "message": message}])


def create_session(user_id: str, topic: str | None, context: dict[str, str] | None, now: datetime) -> SessionOut:
    context = context or None
    if context:
        _check_context(user_id, context)
    doc = {
        "user_id": user_id,
        "topic": topic,
        "context": context,
        "status": "open",
        "created_at": now,
        "ended_at": None,
    }
    session_id = new_id()
    _sessions().document(session_id).create(doc)
    return session_out(session_id, doc)


def list_sessions(user_id: str, limit: int, cursor: str | None) -> store.Page:
    query = _sessions().where(filter=FieldFilter("user_id", "==", user_id))
    return store.paginate(
        query, _sessions(), [("created_at", store.DESCENDING)], limit, cursor, lambda s: session_out(s.id, s.to_dict())
    )


def _owned(session_id: str, user_id: str, transaction: Any = None) -> tuple[Any, dict[str, Any]]:
    """The caller's session; another user's does not exist for them (404)."""
    if not _SESSION_ID.match(session_id):
        raise NotFound("No such chat session.")
    ref = _sessions().document(session_id)
    snapshot = ref.get(transaction=transaction)
    data = snapshot.to_dict() if snapshot.exists else None
    if data is None or data.get("user_id") != user_id:
        raise NotFound("No such chat session.")
    return ref, data


def end_session(session_id: str, user_id: str, now: datetime) -> SessionOut:
    """End the session; ending an ended session changes nothing and answers the same."""

    def work(txn: store.Transaction) -> dict[str, Any]:
        ref, data = _owned(session_id, user_id, txn)
        if data["status"] != "ended":
            data = {**data, "status": "ended", "ended_at": now}
            txn.update(ref, {"status": "ended", "ended_at": now})
        return data

    return session_out(session_id, store.run_transaction(work))


# Messages -----------------------------------------------------------------------------------------


def message_out(session_id: str, message_id: str, data: dict[str, Any]) -> MessageOut:
    return MessageOut(
        id=message_id,
        session_id=session_id,
        role=data["role"],
        content=data["content"],
        sources=[SourceOut(**s) for s in data.get("sources") or []],
        created_at=data["created_at"],
    )


def list_messages(session_id: str, user_id: str, limit: int, cursor: str | None) -> store.Page:
    ref, _ = _owned(session_id, user_id)
    messages = ref.collection(MESSAGES)
    return store.paginate(
        messages,
        messages,
        [("created_at", store.ASCENDING)],
        limit,
        cursor,
        lambda s: message_out(session_id, s.id, s.to_dict()),
    )


def check_message_limits(user_id: str, now: datetime) -> None:
    """Per user: `tutor_messages_per_minute` and `tutor_messages_per_day` (429 with Retry-After)."""
    cfg = settings()
    hit(Limit("chat-minute", cfg.tutor_messages_per_minute, 60), user_id, now)
    hit(Limit("chat-day", cfg.tutor_messages_per_day, 86400), user_id, now)


def post_message(session_id: str, user_id: str, content: str, now: datetime) -> MessageOut:
    """Store the user's message and publish it for the tutor. An ended session: 409."""
    ref, data = _owned(session_id, user_id)
    if data["status"] != "open":
        raise Conflict("This chat session has ended; start a new one.")
    check_message_limits(user_id, now)
    message_id = new_id()
    doc = {"user_id": user_id, "role": "user", "content": content, "sources": [], "created_at": now}
    # The event commits with the message (shared.events.publish_in): no crash leaves it unanswered.
    batch = store.db().batch()
    batch.create(ref.collection(MESSAGES).document(message_id), doc)
    posted = MessagePosted(session_id=session_id, message_id=message_id, user_id=user_id)
    staged = publish_in(batch, MESSAGE_POSTED, posted, occurred_at=now)
    batch.commit()
    staged.send()
    return message_out(session_id, message_id, doc)


# The reply ------------------------------------------------------------------------------------------


def viewer_of(user_id: str) -> answers.Viewer:
    """Who the reply is for, as the answer rule needs them: the user document's role and school,
    read at reply time (one read), so a teacher a school removed stops seeing keys at once. A user
    gone since is a student of no school (sees the least)."""
    data = store.db().collection(USERS).document(user_id).get(field_paths=["role", "school_id"]).to_dict() or {}
    return answers.Viewer(user_id=user_id, role=str(data.get("role") or "student"), school_id=data.get("school_id"))


def history_of(messages: Any, before: datetime) -> list[Turn]:
    """The last `HISTORY_TURNS` messages before `before`, oldest first, with what they cited."""
    from functions.chat.tutor import Turn

    recent = (
        messages.where(filter=FieldFilter("created_at", "<", before))
        .order_by("created_at", direction=store.DESCENDING)
        .limit(HISTORY_TURNS)
        .stream()
    )
    turns = []
    for snapshot in recent:
        d = snapshot.to_dict() or {}
        cited = [(str(s.get("kind")), str(s.get("id"))) for s in d.get("sources") or []]
        turns.append(Turn(role=d.get("role", "user"), content=d.get("content", ""), sources=cited))
    return turns[::-1]


def write_reply(session_id: str, message_id: str, now: datetime) -> bool:
    """Answer one user message, once. Returns whether this call wrote the reply."""
    from functions.chat import tutor

    session_ref = _sessions().document(session_id)
    messages = session_ref.collection(MESSAGES)
    reply_ref = messages.document(reply_id(message_id))
    snapshots = {s.id: s for s in store.db().get_all([session_ref, messages.document(message_id), reply_ref])}
    session, message, reply = (snapshots.get(i) for i in (session_id, message_id, reply_ref.id))
    if reply is not None and reply.exists:
        return False  # answered already: a redelivery
    if session is None or not session.exists or message is None or not message.exists:
        log.warning("reply skipped: session or message gone", extra=log_fields(session_id=session_id))
        return False
    session_data, message_data = session.to_dict() or {}, message.to_dict() or {}
    user_id = session_data["user_id"]
    answer = tutor.answer(
        message=message_data["content"],
        history=history_of(messages, message_data["created_at"]),
        context=session_data.get("context") or {},
        viewer=viewer_of(user_id),
        now=now,
    )
    doc = {
        "user_id": user_id,
        "role": "assistant",
        "content": answer.content,
        "sources": [{"kind": p.kind, "id": p.id, "title": p.title} for p in answer.sources],
        "reply_to": message_id,
        "generated_by": answer.generated_by,
        # After the message it answers, even if the clocks of two instances disagree.
        "created_at": max(now, message_data["created_at"]),
    }
    try:
        reply_ref.create(doc)
    except gexc.AlreadyExists:
        return False  # a concurrent delivery wrote it first
    return True
