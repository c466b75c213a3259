"""Answers stay earned (issue 19): each side door tried through the gateway as a user would.

The export of a student mid-exam and mid-practice; a self-registered teacher reading the bank's
keys and another teacher's exercise; an unverified teacher, a teacher of another school and a
colleague of the author's school on one exercise; hidden test results; a burst of video reports.
A school is put on users directly in Firestore (tests.support.put_in_school): the schools area
that will do it over HTTP is not in this branch."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from shared.answers import HIDDEN_RESULT_FIELDS, Viewer, earned_only
from shared.collections import EXAM_SESSIONS, EXERCISES, SUBMISSIONS
from tests.support import Api, ops, put_in_school
from tests.test_classes import Person, person
from tests.test_exams import SEC, admin, bank  # noqa: F401 (fixtures)
from tests.test_exercises import ADD, GRADE, author, submit
from tests.test_paths import lesson_ids, make_path, make_refs

EXAM_KEYS = ("correct_answer",)


def start(api: Api, who: Person, mode: str, count: int) -> dict[str, Any]:
    response = api.post(
        "/api/v1/exam-sessions", {"exam_type": SEC, "question_count": count, "mode": mode}, token=who.token
    )
    assert response.status_code == 201, response.json
    return dict(response.json)


def answer(api: Api, who: Person, session_id: str, question_id: str) -> dict[str, Any]:
    response = api.post(
        f"/api/v1/exam-sessions/{session_id}/answers", {"question_id": question_id, "answer": "B"}, token=who.token
    )
    assert response.status_code == 200, response.json
    return dict(response.json)


def exported_sessions(api: Api, who: Person) -> dict[str, dict[str, Any]]:
    response = api.get(f"/api/v1/users/{who.id}/export", token=who.token)
    assert response.status_code == 200, response.json
    return {d["id"]: d["data"] for d in response.json["collections"]["exam_sessions"]}


def keyed(session: dict[str, Any]) -> set[str]:
    """The questions of an exported session that carry their key."""
    return {q["id"] for q in session["questions"] if "correct_answer" in q}


# The rule on plain values -------------------------------------------------------------------------------

STUDENT = Viewer(user_id="u1", role="student")


def stored_session(mode: str, status: str) -> dict[str, Any]:
    return {
        "user_id": "u1",
        "mode": mode,
        "status": status,
        "questions": [
            {"id": "q1", "domain": "1.1", "correct_answer": "A"},
            {"id": "q2", "domain": "1.1", "correct_answer": "B"},
        ],
        "answers": {"q1": {"answer": "A", "correct": True}},
        "correct": 1,
    }


def test_earned_only_shapes_each_stored_document_by_the_rule() -> None:
    running = earned_only(STUDENT, EXAM_SESSIONS, stored_session("exam", "in_progress"))
    assert [q.get("correct_answer") for q in running["questions"]] == [None, None]
    assert running["answers"] == {"q1": {"answer": "A"}} and "correct" not in running
    practice = earned_only(STUDENT, EXAM_SESSIONS, stored_session("practice", "in_progress"))
    assert [q.get("correct_answer") for q in practice["questions"]] == ["A", None] and practice["correct"] == 1
    submitted = earned_only(STUDENT, EXAM_SESSIONS, stored_session("exam", "submitted"))
    assert [q.get("correct_answer") for q in submitted["questions"]] == ["A", "B"]
    someone_else = earned_only(Viewer(user_id="u2", role="student"), EXAM_SESSIONS, stored_session("exam", "submitted"))
    assert [q.get("correct_answer") for q in someone_else["questions"]] == [None, None]
    verified = Viewer(user_id="t1", role="teacher", school_id="s1")
    assert (
        len(
            [
                q
                for q in earned_only(verified, EXAM_SESSIONS, stored_session("exam", "in_progress"))["questions"]
                if "correct_answer" in q
            ]
        )
        == 2
    )

    result = {"name": "secret", "hidden": True, "passed": True, "verdict": "accepted", "time_ms": 3}
    assert earned_only(STUDENT, SUBMISSIONS, {"results": [result]})["results"] == [
        {"name": "secret", "hidden": True, "passed": True, "verdict": "accepted"}
    ]
    exercise = {
        "author_id": "t1",
        "author_school_id": "s1",
        "solution": "x",
        "tests": [
            {"name": "a", "code": "c", "expected_output": "1"},
            {"name": "b", "code": "c", "stdin": "", "expected_output": "2", "hidden": True},
        ],
    }
    assert earned_only(STUDENT, EXERCISES, exercise)["tests"][1] == {"name": "b", "hidden": True}
    assert "solution" not in earned_only(Viewer(user_id="t2", role="teacher", school_id="s2"), EXERCISES, exercise)
    assert earned_only(Viewer(user_id="t3", role="teacher", school_id="s1"), EXERCISES, exercise) == exercise
    assert earned_only(STUDENT, "users", {"role": "student"}) == {"role": "student"}


# The export ----------------------------------------------------------------------------------------


def test_the_export_mid_exam_and_mid_practice_holds_only_the_keys_earned(
    api: Api,
    bank: dict[str, str],  # noqa: F811 (the fixture)
) -> None:
    student = person(api, "student@example.com")
    exam = start(api, student, "exam", 5)
    practice = start(api, student, "practice", 4)
    exam_ids = [q["id"] for q in exam["questions"]]
    practice_ids = [q["id"] for q in practice["questions"]]
    for qid in exam_ids[:2]:
        assert answer(api, student, exam["id"], qid) == {"recorded": True}
    assert answer(api, student, practice["id"], practice_ids[0])["correct_answer"] == "A"

    sessions = exported_sessions(api, student)
    running, practising = sessions[exam["id"]], sessions[practice["id"]]
    # Mid-exam: no key, not even whether an answer was right, nor how many were.
    assert keyed(running) == set()
    assert all("correct" not in given for given in running["answers"].values())
    assert len(running["answers"]) == 2 and "correct" not in running
    # Mid-practice: the key of the answered question only, from that answer on.
    assert keyed(practising) == {practice_ids[0]}
    assert practising["answers"][practice_ids[0]]["correct"] is False

    # Submitted, the exam's keys are the student's.
    assert api.post(f"/api/v1/exam-sessions/{exam['id']}/submit", token=student.token).status_code == 200
    submitted = exported_sessions(api, student)[exam["id"]]
    assert keyed(submitted) == set(exam_ids)
    assert submitted["correct"] == 0


def test_a_session_view_shows_the_same_keys_as_the_export(api: Api, bank: dict[str, str]) -> None:  # noqa: F811
    student = person(api, "student@example.com")
    exam = start(api, student, "exam", 3)
    answer(api, student, exam["id"], exam["questions"][0]["id"])
    view = api.get(f"/api/v1/exam-sessions/{exam['id']}", token=student.token).json
    assert [q.get("correct_answer") for q in view["questions"]] == [None] * 3
    assert view["questions"][0]["correct"] is None


# The question bank ---------------------------------------------------------------------------------


def test_a_self_registered_teacher_reads_no_bank_key_and_a_verified_one_does(
    api: Api,
    bank: dict[str, str],  # noqa: F811 (the fixture)
) -> None:
    question_id = next(iter(bank))
    teacher = person(api, "self-made@example.com", "teacher")
    refused = api.get(f"/api/v1/questions/{question_id}", token=teacher.token)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden"
    assert ops(refused) == {"reads": 1, "writes": 0, "deletes": 0}  # the session only: refused before the read
    assert "correct_answer" not in refused.get_data(as_text=True)
    listed = api.get(f"/api/v1/questions?exam_type={SEC}", token=teacher.token)
    assert listed.status_code == 403
    missing = api.get(f"/api/v1/questions/{SEC}:NOPE", token=teacher.token)
    assert missing.status_code == 403  # a refusal tells nothing of what the bank holds

    put_in_school(teacher.id, "school-1")  # a school takes them in: now a verified teacher
    read = api.get(f"/api/v1/questions/{question_id}", token=teacher.token)
    assert read.status_code == 200 and read.json["correct_answer"] == "A"
    assert ops(read) == {"reads": 2, "writes": 0, "deletes": 0}  # the school came with the session: no read
    assert api.get(f"/api/v1/questions?exam_type={SEC}", token=teacher.token).json["items"]

    put_in_school(teacher.id, None)  # removed: not verified any more
    assert api.get(f"/api/v1/questions/{question_id}", token=teacher.token).status_code == 403


# Exercises ------------------------------------------------------------------------------------------


def key_shown(api: Api, who: Person, exercise_id: str) -> bool:
    """Whether `who` reads the exercise's solution and its hidden test's content."""
    body = api.get(f"/api/v1/exercises/{exercise_id}", token=who.token).json
    hidden = next(t for t in body["tests"] if t["hidden"])
    shown = "solution" in body
    assert shown == ("code" in hidden) == ("expected_output" in hidden), body
    assert shown or ADD["solution"] not in str(body)
    return shown


def test_an_exercise_key_goes_to_its_author_their_school_and_admins_only(api: Api) -> None:
    writer = person(api, "writer@example.com", "teacher")
    put_in_school(writer.id, "school-1")
    exercise = author(api, writer)
    colleague = person(api, "colleague@example.com", "teacher")
    put_in_school(colleague.id, "school-1")
    elsewhere = person(api, "elsewhere@example.com", "teacher")
    put_in_school(elsewhere.id, "school-2")
    self_made = person(api, "self-made@example.com", "teacher")
    student = person(api, "student@example.com")
    put_in_school(student.id, "school-1")  # a student of the school is no staff
    staff = Person(api.admin())

    seen = {
        p.email: key_shown(api, p, exercise["id"]) for p in (writer, colleague, elsewhere, self_made, student, staff)
    }
    assert seen == {
        "writer@example.com": True,
        "colleague@example.com": True,
        "elsewhere@example.com": False,
        "self-made@example.com": False,
        "student@example.com": False,
        "admin@example.com": True,
    }
    # The list shows each exercise by the same rule.
    listed = api.get("/api/v1/exercises", token=self_made.token).json["items"]
    assert [e.get("solution") for e in listed] == [None]


def test_a_self_registered_authors_exercise_is_theirs_alone(api: Api) -> None:
    writer = person(api, "writer@example.com", "teacher")
    exercise = author(api, writer)  # no school vouches for the author: no colleague holds the key
    colleague = person(api, "colleague@example.com", "teacher")
    put_in_school(colleague.id, "school-1")
    assert key_shown(api, writer, exercise["id"]) is True
    assert key_shown(api, colleague, exercise["id"]) is False


def test_a_hidden_tests_result_is_its_name_and_outcome_for_everyone(api: Api, drain: Callable[..., int]) -> None:
    writer = person(api, "writer@example.com", "teacher")
    put_in_school(writer.id, "school-1")
    exercise = author(api, writer)
    student = person(api, "student@example.com")
    queued = submit(api, student, exercise["id"], "def add(a, b):\n    return a * b\n")
    assert queued.status_code == 202
    drain(GRADE)
    body = api.get(f"/api/v1/submissions/{queued.json['id']}", token=student.token).json
    assert body["status"] == "graded"
    hidden = [r for r in body["results"] if r["hidden"]]
    visible = [r for r in body["results"] if not r["hidden"]]
    assert hidden == [{"name": "secret", "hidden": True, "passed": False, "verdict": "wrong_answer"}]
    assert set(hidden[0]) == set(HIDDEN_RESULT_FIELDS)
    assert all("time_ms" in r and "stdout" in r for r in visible)
    # The author (a key holder) reads the same shape: the test itself is on the exercise for them.
    by_author = api.get(f"/api/v1/exercises/{exercise['id']}/submissions", token=writer.token).json["items"]
    assert [r for r in by_author[0]["results"] if r["hidden"]] == hidden
    exported = api.get(f"/api/v1/users/{student.id}/export", token=student.token).json
    stored = exported["collections"]["submissions"][0]["data"]["results"]
    assert [r for r in stored if r["hidden"]] == hidden


# Video credit ---------------------------------------------------------------------------------------


def test_video_credit_never_outruns_the_clock_however_many_reports_arrive(api: Api) -> None:
    admin_token = api.admin()["access_token"]
    make_refs(api, admin_token)
    teacher = person(api, "teacher@example.com", "teacher")
    path = make_path(api, teacher.token)
    video = lesson_ids(path)[1]  # 100 s; completes at 90 s watched
    learner = person(api, "learner@example.com")
    assert api.post(f"/api/v1/paths/{path['id']}/enrollment", token=learner.token).status_code == 201

    def report(_: int = 0) -> dict[str, Any]:
        response = api.post(f"/api/v1/lessons/{video}/progress", {"watched_seconds": 100}, token=learner.token)
        assert response.status_code == 200, response.json
        return dict(response.json)

    def bound(started: float) -> float:
        return 2 * (time.monotonic() - started) + 5

    started = time.monotonic()  # before the first report reaches the server
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(report, range(8)))
    assert max(r["watched_seconds"] for r in concurrent) <= bound(started)
    burst = [report() for _ in range(60)]
    assert burst[-1]["watched_seconds"] <= bound(started)
    with ThreadPoolExecutor(max_workers=8) as pool:
        again = list(pool.map(report, range(8)))
    credited = max(r["watched_seconds"] for r in again)
    assert credited <= bound(started)
    if bound(started) < 90:  # 76 requests in under 42 s: far too soon to have watched 90 s
        assert not any(r["completed"] for r in [*concurrent, *burst, *again])
