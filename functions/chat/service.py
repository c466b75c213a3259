"""Tutor chat rules: sessions, messages, their limits, and the tutor's reply.

A posted message is stored with its `chat.message.posted` (outbox, then Pub/Sub); the reply
function (`write_reply`) answers it once however often the event arrives: the reply's id is derived
from the message's, and it is created only if it does not exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.base_query import FieldFilter

from functions.chat.models import MessageOut, SessionOut, SourceOut
from shared import store
from shared.auth import new_id
from shared.collections import CHAT_SESSIONS, EXAM_SESSIONS, EXERCISES, QUESTIONS
from shared.config import settings
from shared.errors import Conflict, NotFound
from shared.event_types import MessagePosted
from shared.events import publish_in
from shared.logging import get_logger, log_fields
from shared.ratelimit import Limit, hit
from shared.registry import composite_index, published

log = get_logger("chat")

MESSAGES = "messages"  # subcollection of chat_sessions/{id}
MESSAGE_POSTED = published("chat.message.posted")
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


@dataclass(frozen=True)
class Guard:
    """What the tutor must not give away to this user now."""

    in_exam: bool = False  # an exam-mode session in progress: no question of the bank at all
    unanswered: frozenset[str] = frozenset()  # questions of practice sessions not answered yet


def guard_for(user_id: str) -> Guard:
    """From the user's sessions in progress (one read each, at most 5; equality filters only,
    served by single-field indexes). A practice question's answer and explanations come after
    the student answers it (API.md), so the tutor withholds those too until then."""
    found = (
        store.db()
        .collection(EXAM_SESSIONS)
        .where(filter=FieldFilter("user_id", "==", user_id))
        .where(filter=FieldFilter("status", "==", "in_progress"))
        .select(["mode", "questions", "answers"])
        .limit(5)
        .get()
    )
    sessions = [s.to_dict() or {} for s in found]
    unanswered = {
        str(q.get("id"))
        for data in sessions
        for q in data.get("questions") or []
        if str(q.get("id")) not in (data.get("answers") or {})
    }
    return Guard(in_exam=any(d.get("mode") == "exam" for d in sessions), unanswered=frozenset(unanswered))


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
    history = [
        (d.get("role", "user"), d.get("content", ""))
        for d in (
            s.to_dict() or {}
            for s in messages.where(filter=FieldFilter("created_at", "<", message_data["created_at"]))
            .order_by("created_at", direction=store.DESCENDING)
            .limit(HISTORY_TURNS)
            .stream()
        )
    ][::-1]
    answer = tutor.answer(
        message=message_data["content"],
        history=history,
        topic=session_data.get("topic"),
        context=session_data.get("context") or {},
        guard=guard_for(user_id),
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
