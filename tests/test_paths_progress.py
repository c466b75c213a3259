"""Learners on a path: enrolment, `GET /users/{id}/paths`, lesson progress whose completion the
server decides (reading, video, exercise, practice exam), `lesson.completed` once, and the
`submission.graded` / `exam.completed` events that complete lessons by themselves."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from functions.paths import learning
from functions.paths.models import LessonProgressIn
from shared import store
from shared.errors import Conflict
from shared.events import publish
from tests.support import Api, PushEndpoint, Stack, eventually, ops
from tests.test_exams import Events
from tests.test_paths import SEC, lesson_ids, make_path, make_refs, path_body


@pytest.fixture
def admin(api: Any) -> str:
    return str(api.admin()["access_token"])


@pytest.fixture
def teacher(api: Any) -> str:
    return str(api.register("teacher@example.com", role="teacher")["access_token"])


@pytest.fixture
def created(api: Any, teacher: str, admin: str) -> dict[str, Any]:
    make_refs(api, admin)
    return make_path(api, teacher)


@pytest.fixture
def learner(api: Any) -> dict[str, Any]:
    registered = api.register("student@example.com")
    return {"id": registered["user"]["id"], "token": registered["access_token"]}


@pytest.fixture
def completions(stack: Any) -> Events:
    return Events(stack.project, "lesson.completed")


def enrol(api: Any, path_id: str, token: str) -> None:
    assert api.post(f"/api/v1/paths/{path_id}/enrollment", token=token).status_code in (200, 201)


def progress(api: Any, path_id: str, token: str) -> dict[str, Any]:
    return dict(api.get(f"/api/v1/paths/{path_id}", token=token).json["progress"])


def report(api: Any, lesson_id: str, token: str, **body: Any) -> Any:
    return api.post(f"/api/v1/lessons/{lesson_id}/progress", body, token=token)


def enrolment_doc(path_id: str, user_id: str) -> dict[str, Any] | None:
    return store.db().collection("path_enrollments").document(f"{path_id}_{user_id}").get().to_dict()


def submission(user_id: str, exercise_id: str, verdict: str, submission_id: str = "sub-1") -> None:
    """A graded submission as the exercises area stores it (only what paths read)."""
    store.db().collection("submissions").document(submission_id).set(
        {
            "user_id": user_id,
            "exercise_id": exercise_id,
            "status": "graded",
            "verdict": verdict,
            "score": 100 if verdict == "accepted" else 0,
            "graded_at": store.now(),
        }
    )


# Enrolment ----------------------------------------------------------------------------------------


def test_enrolment_is_idempotent_and_leaving_keeps_progress(
    api: Api, created: dict[str, Any], learner: dict[str, Any]
) -> None:
    path_id, token = created["id"], learner["token"]
    first = api.post(f"/api/v1/paths/{path_id}/enrollment", token=token)
    assert first.status_code == 201
    assert first.json["path_id"] == path_id and first.json["enrolled"] is True
    # session, path, a query for each of its exercise and practice-exam lessons, enrolment
    assert ops(first) == {"reads": 5, "writes": 1, "deletes": 0}
    again = api.post(f"/api/v1/paths/{path_id}/enrollment", token=token)
    assert again.status_code == 200 and again.json["enrolled_at"] == first.json["enrolled_at"]
    assert ops(again) == {"reads": 3, "writes": 0, "deletes": 0}

    reading = lesson_ids(created)[0]
    assert report(api, reading, token, completed=True).status_code == 200
    left = api.delete(f"/api/v1/paths/{path_id}/enrollment", token=token)
    assert left.status_code == 204
    assert ops(left) == {"reads": 2, "writes": 1, "deletes": 0}
    assert api.delete(f"/api/v1/paths/{path_id}/enrollment", token=token).status_code == 204
    assert api.get(f"/api/v1/users/{learner['id']}/paths", token=token).json["items"] == []
    after = progress(api, path_id, token)
    assert after["enrolled"] is False and after["completed_lessons"] == 1
    assert report(api, lesson_ids(created)[1], token, position_seconds=3).status_code == 409  # not enrolled

    assert api.post(f"/api/v1/paths/{path_id}/enrollment", token=token).status_code == 201
    back = progress(api, path_id, token)
    assert back["enrolled"] is True and back["percent"] == 25 and back["next_lesson_id"] == lesson_ids(created)[1]

    assert api.post("/api/v1/paths/nope/enrollment", token=token).status_code == 404
    assert api.delete("/api/v1/paths/nope/enrollment", token=token).status_code == 404
    assert enrolment_doc("nope", learner["id"]) is None


def test_work_done_before_enrolling_completes_its_lessons_at_enrolment(
    api: Api, created: dict[str, Any], learner: dict[str, Any], completions: Events
) -> None:
    """An exercise solved and a practice exam passed before enrolling: enrolling completes both
    lessons at once, with one `lesson.completed` each; a failed attempt counts for nothing, and
    leaving and coming back publishes nothing again."""
    user_id, token = learner["id"], learner["token"]
    reading, _video, hello, quiz = lesson_ids(created)
    submission(user_id, "ex-hello", "accepted", "s-before")
    store.db().collection("exam_sessions").document("x-fail").set(
        {"user_id": user_id, "exam_type": SEC, "status": "submitted", "score": 50}
    )
    first = api.post(f"/api/v1/paths/{created['id']}/enrollment", token=token)
    assert first.status_code == 201
    # session, path, one query per condition; enrolment, its write and one outbox entry, sent
    assert ops(first) == {"reads": 5, "writes": 2, "deletes": 1}
    mine = progress(api, created["id"], token)
    assert mine["lessons"][hello]["completed"] is True and mine["lessons"][quiz]["completed"] is False
    assert mine["percent"] == 25 and mine["next_lesson_id"] == reading

    store.db().collection("exam_sessions").document("x-pass").set(
        {"user_id": user_id, "exam_type": SEC, "status": "submitted", "score": 85}
    )
    assert api.delete(f"/api/v1/paths/{created['id']}/enrollment", token=token).status_code == 204
    assert api.post(f"/api/v1/paths/{created['id']}/enrollment", token=token).status_code == 201
    back = progress(api, created["id"], token)
    assert back["completed_lessons"] == 2 and back["lessons"][quiz]["completed"] is True
    events = completions.pull()
    assert sorted(e["data"]["lesson_id"] for e in events) == sorted([hello, quiz])


def test_concurrent_enrolments_make_one(api: Api, created: dict[str, Any], learner: dict[str, Any]) -> None:
    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(
            pool.map(
                lambda _: api.post(f"/api/v1/paths/{created['id']}/enrollment", token=learner["token"]).status_code,
                range(6),
            )
        )
    assert sorted(statuses) == [200] * 5 + [201]


def test_user_paths_show_percent_and_where_to_resume_to_those_who_may_see(
    api: Api, teacher: str, admin: str, created: dict[str, Any], learner: dict[str, Any]
) -> None:
    second = make_path(api, teacher, title="Second")
    enrol(api, created["id"], learner["token"])
    enrol(api, second["id"], learner["token"])
    report(api, lesson_ids(created)[0], learner["token"], completed=True)

    url = f"/api/v1/users/{learner['id']}/paths"
    listed = api.get(url, token=learner["token"])
    assert listed.status_code == 200
    assert ops(listed) == {"reads": 5, "writes": 0, "deletes": 0}  # session, 2 enrolments, 2 paths
    assert [(p["title"], p["percent"], p["completed_lessons"], p["next_lesson_id"]) for p in listed.json["items"]] == [
        ("Second", 0, 0, lesson_ids(second)[0]),
        ("Python from zero", 25, 1, lesson_ids(created)[1]),
    ]
    assert listed.json["items"][1]["lesson_count"] == 4
    page = api.get(f"{url}?limit=1", token=learner["token"]).json
    rest = api.get(f"{url}?limit=1&cursor={page['next_cursor']}", token=learner["token"]).json
    assert [p["title"] for p in page["items"] + rest["items"]] == ["Second", "Python from zero"]

    other = api.register("other@example.com")["access_token"]
    assert api.get(url, token=other).status_code == 403
    assert api.get(url, token=teacher).status_code == 403  # not (yet) their student
    klass = api.post("/api/v1/teachers/classes", {"name": "C", "subject": "Programming"}, token=teacher).json
    joined = api.post(
        f"/api/v1/students/{learner['id']}/classes/join", {"class_code": klass["class_code"]}, token=learner["token"]
    )
    assert joined.status_code == 201
    assert len(api.get(url, token=teacher).json["items"]) == 2
    assert len(api.get(url, token=admin).json["items"]) == 2

    assert api.delete(f"/api/v1/paths/{second['id']}", token=teacher).status_code == 204
    assert [p["title"] for p in api.get(url, token=learner["token"]).json["items"]] == ["Python from zero"]


# Completion ---------------------------------------------------------------------------------------


def test_a_reading_completes_when_told_and_publishes_once(
    api: Api, drain: Callable[..., int], created: dict[str, Any], learner: dict[str, Any], completions: Events
) -> None:
    token, reading = learner["token"], lesson_ids(created)[0]
    refused = report(api, reading, token, completed=True)
    assert refused.status_code == 409 and enrolment_doc(created["id"], learner["id"]) is None
    enrol(api, created["id"], token)

    done = report(api, reading, token, completed=True, position_seconds=9999)
    assert done.status_code == 200, done.json
    # session, the lesson's path, enrolment; the enrolment and lesson.completed in the outbox (deleted once sent)
    assert ops(done) == {"reads": 3, "writes": 2, "deletes": 1}
    body = done.json
    assert body["completed"] is True and body["completed_at"] is not None
    assert body["position_seconds"] == 300  # capped at the duration
    assert body["path_percent"] == 25 and body["next_lesson_id"] == lesson_ids(created)[1]

    repeat = report(api, reading, token, completed=True)
    assert repeat.status_code == 200 and repeat.json["completed_at"] == body["completed_at"]
    assert ops(repeat) == {"reads": 3, "writes": 0, "deletes": 0}

    events = completions.pull()
    assert [e["data"] for e in events] == [
        {"user_id": learner["id"], "lesson_id": reading, "path_id": created["id"], "topic": "python"}
    ]
    drain()
    stats = api.get(f"/api/v1/students/{learner['id']}/progress", token=token).json
    assert stats["lessons_completed"] == 1

    assert report(api, "no-such-lesson", token, completed=True).status_code == 404
    assert report(api, reading, token, watched_seconds=10).status_code == 409  # not a video: its kind
    assert api.post(f"/api/v1/lessons/{reading}/progress", {}, token=token).status_code == 422
    assert report(api, reading, token, completed=True, extra=1).status_code == 422


def test_concurrent_completions_publish_once(
    api: Api, created: dict[str, Any], learner: dict[str, Any], completions: Events
) -> None:
    enrol(api, created["id"], learner["token"])
    reading = lesson_ids(created)[0]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(lambda _: report(api, reading, learner["token"], completed=True).status_code, range(8))
        )
    assert statuses == [200] * 8
    assert len(completions.pull()) == 1


def test_credit_watched_rules() -> None:
    t0 = store.now()  # the moment the learner started the video
    assert learning.credit_watched(0, 100, 100, t0, t0) == 5  # a first report earns only the grace
    assert learning.credit_watched(5, 100, 100, t0, t0 + timedelta(seconds=20)) == 45  # 2x the 20 s + 5, in all
    assert learning.credit_watched(45, 100, 100, t0, t0 + timedelta(seconds=20)) == 45  # a repeat earns nothing
    assert learning.credit_watched(50, 30, 100, t0, t0 + timedelta(seconds=20)) == 50  # never shrinks
    assert learning.credit_watched(50, 80, 100, t0, t0 + timedelta(hours=1)) == 80  # the claim, not more
    assert learning.credit_watched(50, 900, 100, t0, t0 + timedelta(hours=1)) == 100  # capped at the duration
    assert learning.credit_watched(5, 100, 100, t0, t0 - timedelta(seconds=30)) == 5  # clock skew: the grace only


def test_a_video_completes_at_90_percent_of_watched_time_and_cannot_be_scrubbed(
    api: Api, created: dict[str, Any], learner: dict[str, Any], completions: Events
) -> None:
    token, user_id, video = learner["token"], learner["id"], lesson_ids(created)[1]
    enrol(api, created["id"], token)
    # One report claiming the whole video at once earns a few seconds, and completion is refused.
    claimed = report(api, video, token, watched_seconds=100, position_seconds=100)
    assert claimed.status_code == 200
    assert claimed.json["watched_seconds"] == 5 and claimed.json["position_seconds"] == 100
    assert claimed.json["completed"] is False
    assert ops(claimed) == {"reads": 3, "writes": 1, "deletes": 0}
    refused = report(api, video, token, completed=True, position_seconds=1)
    assert refused.status_code == 409
    assert progress(api, created["id"], token)["lessons"][video]["position_seconds"] == 100  # nothing written

    # As the player reports over (simulated) time, the server credits wall-clock time only.
    stored = enrolment_doc(created["id"], user_id)["lessons"][video]  # type: ignore[index]
    t0 = stored["reported_at"]

    def at(seconds: int, **body: Any) -> Any:
        return learning.report_progress(video, user_id, LessonProgressIn(**body), t0 + timedelta(seconds=seconds))

    assert at(20, watched_seconds=100).watched_seconds == 45  # 2 x 20 s since the start + 5
    assert at(30, watched_seconds=20).watched_seconds == 45  # watched time only grows
    with pytest.raises(Conflict):
        at(31, completed=True)
    almost = at(50, watched_seconds=89)
    assert almost.watched_seconds == 89 and almost.completed is False
    done = at(51, watched_seconds=100)
    assert done.watched_seconds == 100 and done.completed is True and done.path_percent == 25
    assert at(5000, watched_seconds=9000).watched_seconds == 100  # never past the duration
    assert len(completions.pull()) == 1


def test_an_exercise_lesson_needs_the_callers_accepted_submission(
    api: Api, created: dict[str, Any], learner: dict[str, Any]
) -> None:
    token, user_id, hello = learner["token"], learner["id"], lesson_ids(created)[2]
    enrol(api, created["id"], token)
    assert report(api, hello, token, completed=True).status_code == 409
    submission(user_id, "ex-hello", "wrong_answer", "s1")
    submission("someone-else", "ex-hello", "accepted", "s2")
    submission(user_id, "ex-other", "accepted", "s3")
    refused = report(api, hello, token, completed=True)
    assert refused.status_code == 409 and "accepted submission" in refused.json["error"]["message"]
    assert progress(api, created["id"], token)["lessons"][hello]["completed"] is False

    submission(user_id, "ex-hello", "accepted", "s4")
    done = report(api, hello, token, completed=True)
    assert done.status_code == 200 and done.json["completed"] is True
    assert ops(done) == {"reads": 4, "writes": 2, "deletes": 1}  # + the submissions query


def submit_session(api: Any, token: str, answer: str) -> int:
    """A real one-question practice session through the exams API; its score."""
    session = api.post(
        "/api/v1/exam-sessions", {"exam_type": SEC, "question_count": 1, "mode": "practice"}, token=token
    ).json
    question = session["questions"][0]["id"]
    assert (
        api.post(
            f"/api/v1/exam-sessions/{session['id']}/answers", {"question_id": question, "answer": answer}, token=token
        ).status_code
        == 200
    )
    result = api.post(f"/api/v1/exam-sessions/{session['id']}/submit", token=token)
    return int(result.json["score"])


def test_a_practice_exam_lesson_by_the_route_and_by_the_event(
    api: Api, drain: Callable[..., int], created: dict[str, Any], learner: dict[str, Any], completions: Events
) -> None:
    quiz = lesson_ids(created)[3]  # security-plus, pass_score 80; the bank's one question answers B
    enrol(api, created["id"], learner["token"])
    assert submit_session(api, learner["token"], "A") == 0
    drain()
    assert report(api, quiz, learner["token"], completed=True).status_code == 409
    assert progress(api, created["id"], learner["token"])["lessons"][quiz]["completed"] is False

    # The route: a submitted session of the type scoring at least pass_score.
    assert submit_session(api, learner["token"], "B") == 100
    done = report(api, quiz, learner["token"], completed=True)
    assert done.status_code == 200 and done.json["completed"] is True
    assert ops(done) == {"reads": 4, "writes": 2, "deletes": 1}

    # The event: another learner's lesson completes by itself when their exam.completed arrives.
    other = api.register("other@example.com")
    enrol(api, created["id"], other["access_token"])
    assert submit_session(api, other["access_token"], "B") == 100
    drain()  # also the first learner's exam.completed, whose lesson is complete already
    assert progress(api, created["id"], other["access_token"])["lessons"][quiz]["completed"] is True
    events = completions.pull()
    assert sorted(e["data"]["user_id"] for e in events) == sorted([learner["id"], other["user"]["id"]])


def graded(user_id: str, submission_id: str, passed: bool = True, event_id: str | None = None) -> str:
    data = {
        "user_id": user_id,
        "submission_id": submission_id,
        "exercise_id": "ex-hello",
        "topic": "python",
        "score": 100 if passed else 0,
        "passed": passed,
    }
    return publish("submission.graded", data, event_id=event_id)


def test_submission_graded_completes_enrolled_lessons_once(
    api: Api,
    drain: Callable[..., int],
    teacher: str,
    created: dict[str, Any],
    learner: dict[str, Any],
    completions: Events,
) -> None:
    user_id, token, hello = learner["id"], learner["token"], lesson_ids(created)[2]
    not_enrolled = make_path(api, teacher, title="Not mine")
    enrol(api, created["id"], token)

    submission(user_id, "ex-hello", "wrong_answer", "s-wrong")
    graded(user_id, "s-wrong", passed=True)  # the event says passed; the document does not
    graded(user_id, "s-missing", passed=True)
    drain()
    assert progress(api, created["id"], token)["lessons"][hello]["completed"] is False

    submission(user_id, "ex-hello", "accepted", "s-ok")
    event_id = graded(user_id, "s-ok")
    graded(user_id, "s-ok", event_id=event_id)  # redelivered
    drain()
    mine = progress(api, created["id"], token)
    assert mine["lessons"][hello]["completed"] is True and mine["percent"] == 25
    assert enrolment_doc(not_enrolled["id"], user_id) is None
    assert progress(api, not_enrolled["id"], token)["completed_lessons"] == 0

    graded(user_id, "s-ok")  # a new event for the same exercise changes nothing
    publish("submission.graded", {"user_id": user_id})  # unreadable: dropped
    drain()
    events = completions.pull()
    assert [(e["data"]["lesson_id"], e["data"]["path_id"]) for e in events] == [(hello, created["id"])]
    stats = api.get(f"/api/v1/students/{user_id}/progress", token=token).json
    assert stats["lessons_completed"] == 1


def test_progress_survives_a_new_version_of_the_path(
    api: Api, teacher: str, created: dict[str, Any], learner: dict[str, Any]
) -> None:
    token = learner["token"]
    reading, video, hello, quiz = lesson_ids(created)
    enrol(api, created["id"], token)
    report(api, reading, token, completed=True)
    report(api, video, token, position_seconds=40)

    body = path_body()
    body["modules"][0]["lessons"] = [{**body["modules"][0]["lessons"][0], "id": reading}]  # the video is gone
    body["modules"][1]["lessons"][0]["id"] = hello
    body["modules"][1]["lessons"][1]["id"] = quiz
    assert api.put(f"/api/v1/paths/{created['id']}", body, token=teacher).status_code == 200
    after = progress(api, created["id"], token)
    assert after["completed_lessons"] == 1 and after["percent"] == 33 and after["next_lesson_id"] == hello
    assert set(after["lessons"]) == {reading, hello, quiz}
    assert report(api, video, token, position_seconds=1).status_code == 404  # no longer a lesson


def test_exam_completed_pushed_by_the_emulator_completes_the_lesson(
    api: Api, stack: Stack, created: dict[str, Any], learner: dict[str, Any]
) -> None:
    quiz = lesson_ids(created)[3]
    enrol(api, created["id"], learner["token"])
    data = {
        "user_id": learner["id"],
        "session_id": "pushed-session",
        "exam_type": SEC,
        "mode": "practice",
        "score": 90,
        "correct": 9,
        "total": 10,
        "domains": [],
    }
    with PushEndpoint(stack, "paths-on-exam-completed", "exam.completed"):
        publish("exam.completed", data)
        eventually(lambda: progress(api, created["id"], learner["token"])["lessons"][quiz]["completed"])
    after = progress(api, created["id"], learner["token"])
    assert after["completed_lessons"] == 1 and after["percent"] == 25


def test_what_an_event_costs(api: Api, created: dict[str, Any], learner: dict[str, Any]) -> None:
    """Budget of the consumers: an unenrolled learner's event costs one read; a matching one
    reads enrolments, paths, the submission, the marker and the enrolment, and writes three
    (enrolment, marker, the outbox entry of lesson.completed) and deletes that entry once sent."""
    from shared.event_types import SubmissionGraded
    from shared.events import Event

    def deliver(submission_id: str, event_id: str) -> tuple[int, dict[str, int]]:
        data = {
            "user_id": learner["id"],
            "submission_id": submission_id,
            "exercise_id": "ex-hello",
            "topic": "python",
            "score": 100,
            "passed": True,
        }
        event = Event(id=event_id, type="submission.graded", occurred_at=store.now(), data=data)
        meter = store.start_metering()
        done = learning.on_submission_graded("paths-on-submission-graded", SubmissionGraded(**data), event)
        return done, {"reads": meter.reads, "writes": meter.writes}

    assert deliver("s-ok", "e1") == (0, {"reads": 1, "writes": 0})  # not enrolled anywhere
    enrol(api, created["id"], learner["token"])
    submission(learner["id"], "ex-hello", "accepted", "s-ok")  # after enrolling: the event completes it
    assert deliver("s-ok", "e2") == (1, {"reads": 5, "writes": 3})  # + lesson.completed in the outbox
    assert deliver("s-ok", "e2") == (0, {"reads": 4, "writes": 0})  # redelivery: the marker stops it
