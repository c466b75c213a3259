"""Typed events: one model per event type (shared.event_types) for publisher and consumers; a
delivery that does not fit its model is acknowledged at once and changes nothing."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from shared import store
from shared.event_types import MODELS, ExamCompleted, LessonCompleted
from shared.events import Event, MalformedEvent
from shared.registry import load_all


def _push(stack: Any, event_id: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    envelope = {"id": event_id, "type": event_type, "occurred_at": store.now().isoformat(), "data": data}
    return {
        "message": {
            "data": base64.b64encode(json.dumps(envelope).encode()).decode(),
            "attributes": {"event_type": event_type, "event_id": event_id},
            "messageId": f"m-{event_id}",
            "publishTime": "2026-11-24T00:00:00Z",
        },
        "subscription": f"projects/{stack.project}/subscriptions/test",
    }


def _deliver(stack: Any, function: str, topic: str, body: dict[str, Any]) -> int:
    return int(stack.gateway.deliver(function, f"/projects/{stack.project}/topics/{topic}", body))


def _stats(user_id: str) -> dict[str, Any]:
    return store.db().collection("user_stats").document(user_id).get().to_dict() or {}


def _markers() -> list[str]:
    return [s.id for s in store.db().collection("processed_events").stream()]


def test_a_malformed_event_is_acknowledged_and_changes_nothing(api: Any, stack: Any, drain: Any) -> None:
    user = api.register("typed@example.com")["user"]
    drain()
    before, markers = _stats(user["id"]), _markers()
    bad = {"user_id": user["id"], "session_id": "s-1", "exam_type": "sec", "score": 250}  # no counts; score > 100
    for function in ("progress-on-exam-completed", "paths-on-exam-completed"):
        assert _deliver(stack, function, "exam.completed", _push(stack, "evt-bad", "exam.completed", bad)) == 200
    assert (
        _deliver(
            stack,
            "chat-reply",
            "chat.message.posted",
            _push(
                stack,
                "evt-chat",
                "chat.message.posted",
                {"user_id": user["id"], "session_id": "a/b", "message_id": "m"},
            ),
        )
        == 200
    )
    assert _stats(user["id"]) == before
    assert _markers() == markers

    good = {**bad, "score": 80, "correct": 8, "total": 10}
    body = _push(stack, "evt-good", "exam.completed", good)
    assert _deliver(stack, "progress-on-exam-completed", "exam.completed", body) == 200
    assert _deliver(stack, "progress-on-exam-completed", "exam.completed", body) == 200  # redelivered
    after = _stats(user["id"])
    assert after["exams_completed"] == before["exams_completed"] + 1
    assert after["xp"] > before["xp"]


def test_every_domain_topic_a_function_consumes_has_a_model() -> None:
    consumed = {
        s.topic for s in load_all().values() if s.kind == "event" and s.topic and not s.topic.startswith("jobs.")
    }
    assert consumed - set(MODELS) == set()


def test_a_consumer_reads_the_model_and_refuses_what_does_not_fit() -> None:
    data = {"user_id": "u", "session_id": "s", "exam_type": "t", "score": 90, "correct": 9, "total": 10, "extra": 1}
    event = Event(id="e", type="exam.completed", occurred_at=store.now(), data=data)
    parsed = event.data_as(ExamCompleted)
    assert (parsed.score, parsed.total, parsed.domains) == (90, 10, [])
    assert parsed.model_dump()["extra"] == 1  # a field added by a publisher is kept, not an error
    with pytest.raises(MalformedEvent, match="lesson_id"):
        Event(id="e", type="lesson.completed", occurred_at=store.now(), data={"user_id": "u"}).data_as(LessonCompleted)
