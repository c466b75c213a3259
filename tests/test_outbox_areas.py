"""Each area's events commit with their change (shared.events.publish_in): a process that dies
between the commit and the publish loses no event, the outbox flush delivers it.

The crash is injected on `StagedEvent.send`, the one step after the commit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from functions.exercises import grading
from shared import event_types, events, store
from shared.collections import SUBMISSIONS
from shared.event_types import SubmissionGraded
from tests.chat_support import messages_of
from tests.support import Api, Stack
from tests.test_classes import join, new_class, person
from tests.test_exams import SEC, Events, admin, bank  # noqa: F401 (admin, bank: fixtures)
from tests.test_exercises import SOLUTION, author, submit
from tests.test_paths import lesson_ids, make_path, make_refs


class ProcessDied(BaseException):
    """The instance is gone: nothing after the commit runs (not an Exception, so no handler
    in between turns it into a tidy answer)."""


class Crash:
    """From `start()`, the process dies right after each commit that staged an event."""

    def __init__(self, mocker: Any) -> None:
        self.mocker, self.patched = mocker, None

    def start(self) -> None:
        self.patched = self.mocker.patch.object(events.StagedEvent, "send", autospec=True, side_effect=ProcessDied)

    def stop(self) -> None:
        self.mocker.stop(self.patched)


@pytest.fixture
def crash(mocker: Any) -> Crash:
    return Crash(mocker)


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "OUTBOX_SETTLE", events.OUTBOX_SETTLE * 0)  # the flush may take them at once


def outbox_topics() -> list[str]:
    return sorted(str((d.to_dict() or {})["topic"]) for d in store.db().collection(events.OUTBOX).stream())


def recover(crash: Crash) -> int:
    """A new instance: sends work again, and the scheduled flush runs."""
    crash.stop()
    published = events.flush_outbox()
    assert outbox_topics() == []
    return published


def test_a_submission_and_its_grading_survive_a_crash_before_each_publish(
    api: Api, stack: Stack, drain: Callable[..., int], crash: Crash, settled: None
) -> None:
    teacher, student = person(api, "teacher@example.com", "teacher"), person(api, "student@example.com")
    assert join(api, student, new_class(api, teacher)["class_code"]).status_code in (200, 201)
    exercise = author(api, teacher)
    created, graded = Events(stack.project, "submission.created"), Events(stack.project, "submission.graded")

    crash.start()
    with pytest.raises(ProcessDied):
        submit(api, student, exercise["id"], SOLUTION)
    [stored] = store.db().collection(SUBMISSIONS).where(filter=store.eq("user_id", student.id)).get()
    assert stored.get("status") == "queued" and outbox_topics() == ["submission.created"]
    assert created.pull() == []

    with pytest.raises(ProcessDied):  # the grader dies too, after storing the result
        grading.grade(stored.id, store.now())
    assert store.db().collection(SUBMISSIONS).document(stored.id).get().get("verdict") == "accepted"
    assert outbox_topics() == ["submission.created", "submission.graded"]
    assert graded.pull() == []

    assert recover(crash) == 2
    assert [e["data"]["submission_id"] for e in created.pull()] == [stored.id]
    [result] = graded.pull()
    assert result["id"] == grading.graded_event_id(stored.id)
    assert SubmissionGraded.model_validate(result["data"]).passed is True
    drain()  # the late submission.created finds the result stored: nothing graded twice
    seen = api.get(f"/api/v1/submissions/{stored.id}", token=student.token).json
    assert seen["status"] == "graded" and seen["score"] == 100 and seen["tests_passed"] == seen["tests_total"] > 0


def test_a_lesson_completion_survives_a_crash_before_the_publish(
    api: Api, stack: Stack, admin: str, crash: Crash, settled: None  # noqa: F811
) -> None:
    make_refs(api, admin)
    path = make_path(api, str(api.register("teacher@example.com", role="teacher")["access_token"]))
    learner = api.register("student@example.com")
    token, reading = learner["access_token"], lesson_ids(path)[0]
    assert api.post(f"/api/v1/paths/{path['id']}/enrollment", token=token).status_code == 201
    completions = Events(stack.project, "lesson.completed")

    crash.start()
    with pytest.raises(ProcessDied):
        api.post(f"/api/v1/lessons/{reading}/progress", {"completed": True}, token=token)
    state = api.get(f"/api/v1/paths/{path['id']}", token=token).json["progress"]["lessons"][reading]
    assert state["completed"] is True and outbox_topics() == ["lesson.completed"]
    assert completions.pull() == []
    repeat = api.post(f"/api/v1/lessons/{reading}/progress", {"completed": True}, token=token)
    assert repeat.status_code == 200 and outbox_topics() == ["lesson.completed"]  # completed once: no new event

    assert recover(crash) == 1
    [event] = completions.pull()
    assert event["type"] == event_types.LESSON_COMPLETED
    assert (event["data"]["user_id"], event["data"]["lesson_id"], event["data"]["path_id"]) == (
        learner["user"]["id"],
        reading,
        path["id"],
    )


def test_a_chat_message_survives_a_crash_before_the_publish(
    api: Api, stack: Stack, drain: Callable[..., int], crash: Crash, settled: None
) -> None:
    student = api.register("ann@example.com")
    token = student["access_token"]
    session = api.post("/api/v1/chat/sessions", {}, token=token).json
    posted = Events(stack.project, "chat.message.posted")

    crash.start()
    with pytest.raises(ProcessDied):
        api.post(f"/api/v1/chat/sessions/{session['id']}/messages", {"content": "What is a subnet mask?"}, token=token)
    [message] = messages_of(session["id"])
    assert message["role"] == "user" and outbox_topics() == ["chat.message.posted"]
    assert posted.pull() == []

    assert recover(crash) == 1
    [event] = posted.pull()
    assert event["data"] == {"session_id": session["id"], "message_id": message["id"], "user_id": student["user"]["id"]}
    drain()
    assert [m["role"] for m in messages_of(session["id"])] == ["user", "assistant"]  # the tutor answered it


def test_exam_answers_and_the_result_survive_a_crash_before_the_publish(
    api: Api, stack: Stack, bank: dict[str, str], crash: Crash, settled: None  # noqa: F811
) -> None:
    token = api.register("alice@example.com")["access_token"]
    answered, completed = Events(stack.project, "exam.answered"), Events(stack.project, "exam.completed")
    started = api.post("/api/v1/exam-sessions", {"exam_type": SEC, "question_count": 3, "mode": "exam"}, token=token)
    assert started.status_code == 201, started.json
    url = f"/api/v1/exam-sessions/{started.json['id']}"
    ids = [q["id"] for q in started.json["questions"]]
    for qid, letter in zip(ids[:2], "AB", strict=True):
        assert api.post(f"{url}/answers", {"question_id": qid, "answer": letter}, token=token).status_code == 200

    crash.start()
    with pytest.raises(ProcessDied):
        api.post(f"{url}/submit", token=token)
    assert api.get(url, token=token).json["status"] == "submitted"
    assert outbox_topics() == ["exam.answered", "exam.answered", "exam.completed"]
    assert answered.pull() == [] and completed.pull() == []

    assert recover(crash) == 3
    assert sorted((e["data"]["question_id"], e["data"]["correct"]) for e in answered.pull()) == sorted(
        [(ids[0], True), (ids[1], False)]
    )
    [result] = completed.pull()
    assert (result["data"]["score"], result["data"]["correct"], result["data"]["total"]) == (33, 1, 3)
