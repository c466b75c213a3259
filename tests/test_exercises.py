"""Coding exercises: authoring and what students may see, submissions graded in the sandbox
through the event function, every verdict, history, teacher evaluation, access rules, the rate
limit, redelivery, the stale sweep, and each route's Firestore budget."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from pytest_mock import MockerFixture

from functions.exercises import grading
from functions.exercises.submissions import RATE_WINDOW_SECONDS
from shared import store
from shared.collections import EXERCISES, SUBMISSIONS
from tests.support import Api, fields, ops
from tests.test_classes import Person, admin, doc, existing, join, listen, new_class, person  # noqa: F401 (listen: a fixture)

GRADE = ["exercises-grade--submission.created"]

ADD: dict[str, Any] = {
    "title": "Add two numbers",
    "description": "Write `add(a, b)` returning the sum.",
    "topic": "python-basics",
    "difficulty": "beginner",
    "language": "python",
    "starter_code": "def add(a, b):\n    pass\n",
    "hints": ["Use the + operator."],
    "time_limit_ms": 1000,
    "memory_limit_mb": 64,
    "tests": [
        {"name": "small", "code": "print(add(2, 3))", "expected_output": "5\n"},
        {
            "name": "stdin",
            "stdin": "40\n2\n",
            "code": "print(add(int(input()), int(input())))",
            "expected_output": "42",
        },
        {"name": "secret", "code": "print(add(-7, 7))", "expected_output": "0", "hidden": True, "weight": 2},
    ],
    "solution": "def add(a, b):\n    return a + b\n",
}
SOLUTION: str = ADD["solution"]


def author(api: Any, teacher: Person, **changes: Any) -> dict[str, Any]:
    response = api.post("/api/v1/exercises", {**ADD, **changes}, token=teacher.token)
    assert response.status_code == 201, response.json
    return dict(response.json)


def submit(api: Any, who: Person, exercise_id: str, code: str) -> Any:
    return api.post(
        "/api/v1/submissions", {"exercise_id": exercise_id, "code": code, "language": "python"}, token=who.token
    )


def graded(api: Any, drain: Any, who: Person, exercise_id: str, code: str) -> dict[str, Any]:
    response = submit(api, who, exercise_id, code)
    assert response.status_code == 202, response.json
    drain(GRADE)
    body = api.get(f"/api/v1/submissions/{response.json['id']}", token=who.token).json
    assert body["status"] == "graded", body
    return dict(body)


@pytest.fixture
def school(api: Any) -> dict[str, Person]:
    """A teacher with a class of one student, another student and teacher outside it, an admin."""
    teacher = person(api, "teacher@example.com", "teacher")
    student = person(api, "student@example.com")
    klass = new_class(api, teacher)
    assert join(api, student, klass["class_code"]).status_code in (200, 201)
    return {
        "teacher": teacher,
        "student": student,
        "stranger": person(api, "stranger@example.com"),
        "other_teacher": person(api, "other-teacher@example.com", "teacher"),
        "admin": admin(api),
    }


# Authoring and views ------------------------------------------------------------------------------


def test_teacher_authors_and_students_see_no_solution_nor_hidden_tests(api: Api, school: dict[str, Person]) -> None:
    teacher, student = school["teacher"], school["student"]
    created = api.post("/api/v1/exercises", ADD, token=teacher.token)
    assert created.status_code == 201, created.json
    assert ops(created) == {"reads": 1, "writes": 1, "deletes": 0}
    exercise = created.json
    assert exercise["author_id"] == teacher.id and exercise["solution"] == SOLUTION
    assert exercise["tests"][2] == {**ADD["tests"][2], "stdin": ""}

    seen = api.get(f"/api/v1/exercises/{exercise['id']}", token=student.token)
    assert seen.status_code == 200 and ops(seen) == {"reads": 2, "writes": 0, "deletes": 0}
    body = seen.json
    assert "solution" not in body
    assert body["tests"][2] == {"name": "secret", "hidden": True, "weight": 2}
    assert body["tests"][0]["expected_output"] == "5\n"
    assert body["hints"] == ["Use the + operator."] and body["starter_code"] == ADD["starter_code"]

    listed = api.get("/api/v1/exercises?topic=python-basics&difficulty=beginner", token=student.token)
    assert listed.status_code == 200 and ops(listed) == {"reads": 2, "writes": 0, "deletes": 0}
    assert [e["id"] for e in listed.json["items"]] == [exercise["id"]]
    assert "solution" not in listed.json["items"][0] and "code" not in listed.json["items"][0]["tests"][2]
    assert api.get("/api/v1/exercises?topic=strings", token=student.token).json["items"] == []
    assert api.get("/api/v1/exercises?difficulty=expert", token=student.token).status_code == 422


def test_only_authors_and_admins_change_exercises(api: Api, school: dict[str, Person]) -> None:
    exercise = author(api, school["teacher"])
    path = f"/api/v1/exercises/{exercise['id']}"
    assert api.post("/api/v1/exercises", ADD, token=school["student"].token).status_code == 403
    assert api.put(path, ADD, token=school["student"].token).status_code == 403
    assert api.put(path, ADD, token=school["other_teacher"].token).status_code == 403
    assert api.delete(path, token=school["other_teacher"].token).status_code == 403
    assert api.get("/api/v1/exercises/nope", token=school["student"].token).status_code == 404

    renamed = api.put(path, {**ADD, "title": "Sum"}, token=school["teacher"].token)
    assert renamed.status_code == 200 and renamed.json["title"] == "Sum"
    assert ops(renamed) == {"reads": 2, "writes": 1, "deletes": 0}
    assert renamed.json["created_at"] == exercise["created_at"] and renamed.json["author_id"] == school["teacher"].id
    deleted = api.delete(path, token=school["admin"].token)
    assert deleted.status_code == 204 and ops(deleted) == {"reads": 2, "writes": 0, "deletes": 1}
    assert doc(EXERCISES, exercise["id"]) is None


def test_a_solution_must_pass_its_tests_and_bad_input_is_refused(api: Api, school: dict[str, Person]) -> None:
    teacher = school["teacher"]
    wrong = api.post(
        "/api/v1/exercises", {**ADD, "solution": "def add(a, b):\n    return a - b\n"}, token=teacher.token
    )
    assert wrong.status_code == 422
    assert {d["field"] for d in wrong.json["error"]["details"]} == {"solution"}
    assert "small" in wrong.json["error"]["details"][0]["message"]
    for bad in (
        {**ADD, "language": "java"},
        {**ADD, "tests": []},
        {**ADD, "time_limit_ms": 10_001},
        {**ADD, "memory_limit_mb": 513},
        {**ADD, "difficulty": "easy"},
        {**ADD, "secret": 1},
    ):
        assert api.post("/api/v1/exercises", bad, token=teacher.token).status_code == 422
    assert list(store.db().collection(EXERCISES).stream()) == []


# Submissions and verdicts ----------------------------------------------------------------------------


def test_accepted_submission_with_results_and_one_graded_event(
    api: Api,
    drain: Callable[..., int],
    school: dict[str, Person],
    listen: Any,  # noqa: F811
) -> None:
    student = school["student"]
    exercise = author(api, school["teacher"])
    received = listen("submission.graded")
    queued = submit(api, student, exercise["id"], SOLUTION)
    assert queued.status_code == 202
    # + submission.created in the outbox; + the author's classes (class_ids: one read per class, at least one)
    assert ops(queued) == {"reads": 3, "writes": 3, "deletes": 1}
    assert set(queued.json) == {"id", "exercise_id", "user_id", "status", "created_at"}
    assert queued.json["status"] == "queued" and queued.json["user_id"] == student.id
    pending = api.get(f"/api/v1/submissions/{queued.json['id']}", token=student.token).json
    assert pending["status"] == "queued" and pending["verdict"] is None

    drain(GRADE)
    read = api.get(f"/api/v1/submissions/{queued.json['id']}", token=student.token)
    assert ops(read) == {"reads": 2, "writes": 0, "deletes": 0}
    body = read.json
    assert body["status"] == "graded" and body["verdict"] == "accepted"
    assert body["score"] == body["auto_score"] == 100 and body["tests_passed"] == body["tests_total"] == 3
    assert body["results"][0]["stdout"] == "5\n" and body["results"][0]["expected_output"] == "5\n"
    assert body["results"][0]["error"] is None
    assert body["results"][2] == {"name": "secret", "passed": True, "verdict": "accepted", "hidden": True}
    assert body["evaluated_by"] is None and body["graded_at"]

    # A redelivered submission.created grades nothing again and republishes the same result.
    stored = doc(SUBMISSIONS, body["id"])
    assert grading.grade(body["id"], store.now()) == "graded"
    assert doc(SUBMISSIONS, body["id"]) == stored
    events = received()
    assert events and all(e == events[0] for e in events)
    assert events[0] | {"score": 100.0} == {
        "user_id": student.id,
        "submission_id": body["id"],
        "exercise_id": exercise["id"],
        "topic": "python-basics",
        "score": 100.0,
        "passed": True,
        "verdict": "accepted",
    }


VERDICTS = {
    "wrong_answer": "def add(a, b):\n    return a * b\n",
    "syntax_error": "def add(a, b)\n    return a + b\n",
    "runtime_error": "def add(a, b):\n    return a + undefined_name\n",
    "time_limit_exceeded": "def add(a, b):\n    while True:\n        pass\n",
    "memory_limit_exceeded": "def add(a, b):\n    x = []\n    while True:\n        x.append(bytearray(10**6))\n",
    "output_limit_exceeded": "def add(a, b):\n    print('x' * 10**6)\n",
}


def test_every_verdict(api: Api, drain: Callable[..., int], school: dict[str, Person]) -> None:
    student = school["student"]
    exercise = author(api, school["teacher"])
    ids = {}
    for verdict, code in VERDICTS.items():
        response = submit(api, student, exercise["id"], code)
        assert response.status_code == 202
        ids[verdict] = response.json["id"]
    drain(GRADE)
    for verdict, submission_id in ids.items():
        body = api.get(f"/api/v1/submissions/{submission_id}", token=student.token).json
        assert body["verdict"] == verdict, (verdict, body["results"])
        assert body["score"] == 0 and body["tests_passed"] == 0
    runtime = api.get(f"/api/v1/submissions/{ids['runtime_error']}", token=student.token).json
    assert runtime["results"][0]["error"].endswith("NameError: name 'undefined_name' is not defined")
    assert 'File "submission.py", line 2, in add' in runtime["results"][0]["error"]
    syntax = api.get(f"/api/v1/submissions/{ids['syntax_error']}", token=student.token).json
    assert "SyntaxError" in syntax["results"][0]["error"]
    output = api.get(f"/api/v1/submissions/{ids['output_limit_exceeded']}", token=student.token).json
    assert len(output["results"][0]["stdout"]) == 4096

    # Partial credit by weight: the hidden test (weight 2) fails, the two visible ones pass.
    partial = graded(api, drain, student, exercise["id"], "def add(a, b):\n    return a + b if a >= 0 else 1\n")
    assert partial["verdict"] == "wrong_answer" and partial["score"] == 50 and partial["tests_passed"] == 2
    assert "stdout" not in partial["results"][2]


def test_internal_error_when_the_exercise_is_gone_and_the_sweep_ends_stale_ones(
    api: Api, drain: Callable[..., int], school: dict[str, Person]
) -> None:
    student = school["student"]
    exercise = author(api, school["teacher"])
    first = submit(api, student, exercise["id"], SOLUTION).json
    second = submit(api, student, exercise["id"], SOLUTION).json
    store.db().collection(EXERCISES).document(exercise["id"]).delete()
    drain(GRADE)
    gone = api.get(f"/api/v1/submissions/{first['id']}", token=student.token).json
    assert gone["status"] == "graded" and gone["verdict"] == "internal_error"

    # A submission whose grader vanished: stale after its deadline, ended by the sweep.
    ref = store.db().collection(SUBMISSIONS).document(second["id"])
    ref.update({"status": "running", "verdict": None, "lease_until": store.now() + timedelta(minutes=5)})
    assert grading.grade(second["id"], store.now()) == "busy"
    assert grading.sweep(store.now()) == 0
    assert grading.sweep(store.now() + timedelta(minutes=16)) == 1
    swept = api.get(f"/api/v1/submissions/{second['id']}", token=student.token).json
    assert swept["status"] == "graded" and swept["verdict"] == "internal_error"


def test_submission_input_is_checked_and_nothing_stored(api: Api, school: dict[str, Person]) -> None:
    student = school["student"]
    exercise = author(api, school["teacher"])
    body = {"exercise_id": exercise["id"], "code": "print(1)", "language": "python"}
    assert api.post("/api/v1/submissions", {**body, "language": "javascript"}, token=student.token).status_code == 422
    too_big = api.post("/api/v1/submissions", {**body, "code": "#" * (64 * 1024 + 1)}, token=student.token)
    assert too_big.status_code == 422 and too_big.json["error"]["details"][0]["field"] == "code"
    assert (
        api.post("/api/v1/submissions", {**body, "code": "é" * (32 * 1024 + 1)}, token=student.token).status_code == 422
    )
    assert api.post("/api/v1/submissions", {**body, "exercise_id": "nope"}, token=student.token).status_code == 404
    assert api.post("/api/v1/submissions", {**body, "extra": 1}, token=student.token).status_code == 422
    assert list(store.db().collection(SUBMISSIONS).stream()) == []
    fits = api.post("/api/v1/submissions", {**body, "code": "#" * (64 * 1024)}, token=student.token)
    assert fits.status_code == 202


def test_submissions_are_rate_limited_per_user(api: Api, school: dict[str, Person]) -> None:
    """At most 10 submissions per user and minute window: the one past it is refused (429 with
    Retry-After) and stores nothing; another user is not held back. The windows are fixed
    (shared/ratelimit.py), so a burst may straddle two of them: submit until the refusal."""
    exercise = author(api, school["teacher"])
    statuses = []
    for _ in range(21):
        answer = submit(api, school["student"], exercise["id"], "print(1)")
        statuses.append(answer.status_code)
        if answer.status_code != 202:
            break
    assert statuses[-1] == 429 and set(statuses[:-1]) == {202}
    assert int(answer.headers["Retry-After"]) >= 1 and answer.json["error"]["code"] == "rate_limited"
    stored = [fields(s) for s in store.db().collection(SUBMISSIONS).stream()]
    assert len(stored) == len(statuses) - 1
    windows = Counter(int(s["created_at"].timestamp()) // RATE_WINDOW_SECONDS for s in stored)
    assert windows[max(windows)] == 10  # the refusal came when its window held the limit
    assert submit(api, school["stranger"], exercise["id"], "print(1)").status_code == 202


# Access, history, evaluation ----------------------------------------------------------------------------


def test_who_sees_and_evaluates_a_submission(api: Api, drain: Callable[..., int], school: dict[str, Person]) -> None:
    teacher, student = school["teacher"], school["student"]
    exercise = author(api, teacher)
    mine = graded(api, drain, student, exercise["id"], VERDICTS["wrong_answer"])
    path = f"/api/v1/submissions/{mine['id']}"
    assert api.get(path, token=school["stranger"].token).status_code == 404
    assert api.get(path, token=school["other_teacher"].token).status_code == 404
    as_teacher = api.get(path, token=teacher.token)
    assert as_teacher.status_code == 200 and ops(as_teacher) == {"reads": 3, "writes": 0, "deletes": 0}
    assert api.get(path, token=school["admin"].token).status_code == 200
    assert api.get("/api/v1/submissions/" + "0" * 32, token=student.token).status_code == 404

    evaluation = {"score": 80, "feedback": "Right idea: read the task again."}
    assert api.put(f"{path}/evaluate", evaluation, token=student.token).status_code == 403
    assert api.put(f"{path}/evaluate", evaluation, token=school["other_teacher"].token).status_code == 404
    assert api.put(f"{path}/evaluate", {"score": 101}, token=teacher.token).status_code == 422
    evaluated = api.put(f"{path}/evaluate", evaluation, token=teacher.token)
    assert evaluated.status_code == 200, evaluated.json
    assert ops(evaluated) == {"reads": 3, "writes": 1, "deletes": 0}
    body = evaluated.json
    assert body["score"] == 80 and body["auto_score"] == 0 and body["evaluated_by"] == teacher.id
    assert body["feedback"] == evaluation["feedback"]
    assert api.get(path, token=student.token).json["score"] == 80

    queued = submit(api, student, exercise["id"], SOLUTION).json
    early = api.put(f"/api/v1/submissions/{queued['id']}/evaluate", evaluation, token=school["admin"].token)
    assert early.status_code == 409


def test_submission_history_per_student_and_per_exercise(
    api: Api, drain: Callable[..., int], school: dict[str, Person]
) -> None:
    teacher, student, stranger = school["teacher"], school["student"], school["stranger"]
    exercise = author(api, teacher)
    other = author(api, teacher, title="Another")
    first = submit(api, student, exercise["id"], SOLUTION).json
    second = submit(api, student, other["id"], SOLUTION).json
    outsider = submit(api, stranger, exercise["id"], SOLUTION).json

    mine = api.get(f"/api/v1/students/{student.id}/submissions", token=student.token)
    assert mine.status_code == 200 and ops(mine) == {"reads": 3, "writes": 0, "deletes": 0}
    assert [s["id"] for s in mine.json["items"]] == [second["id"], first["id"]]
    one = api.get(f"/api/v1/students/{student.id}/submissions?exercise_id={exercise['id']}", token=teacher.token)
    assert [s["id"] for s in one.json["items"]] == [first["id"]]
    assert api.get(f"/api/v1/students/{student.id}/submissions", token=stranger.token).status_code == 403
    assert api.get(f"/api/v1/students/{student.id}/submissions", token=school["other_teacher"].token).status_code == 403

    everyone = api.get(f"/api/v1/exercises/{exercise['id']}/submissions", token=teacher.token)
    assert everyone.status_code == 200 and ops(everyone) == {"reads": 4, "writes": 0, "deletes": 0}
    assert [s["id"] for s in everyone.json["items"]] == [outsider["id"], first["id"]]
    as_admin = api.get(f"/api/v1/exercises/{exercise['id']}/submissions", token=school["admin"].token).json
    assert len(as_admin["items"]) == 2
    # Another teacher sees only their own students' submissions: they have none here.
    theirs = api.get(f"/api/v1/exercises/{exercise['id']}/submissions", token=school["other_teacher"].token)
    assert theirs.status_code == 200 and theirs.json["items"] == []
    klass = new_class(api, school["other_teacher"], name="Evening")
    join(api, stranger, klass["class_code"])
    drain()  # class.joined brings the new student's earlier submissions to the teacher's list
    theirs = api.get(f"/api/v1/exercises/{exercise['id']}/submissions", token=school["other_teacher"].token)
    assert [s["id"] for s in theirs.json["items"]] == [outsider["id"]]
    assert api.get(f"/api/v1/exercises/{exercise['id']}/submissions", token=student.token).status_code == 403


def test_a_teacher_of_more_students_than_one_query_takes_sees_them_all(api: Api, school: dict[str, Person]) -> None:
    """Firestore's `in` filter takes 30 values: a teacher with 32 students still sees every one of
    their submissions to another teacher's exercise, newest first, page by page, and nobody else's."""
    exercise = author(api, school["teacher"])
    teacher = school["other_teacher"]
    klass = new_class(api, teacher, name="Big class")
    expected = []
    for n in range(32):
        learner = person(api, f"learner{n}@example.com")
        assert join(api, learner, klass["class_code"]).status_code in (200, 201)
        expected.append(submit(api, learner, exercise["id"], SOLUTION).json["id"])
    submit(api, school["stranger"], exercise["id"], SOLUTION)  # not theirs
    seen: list[str] = []
    cursor = ""
    while True:
        page = api.get(f"/api/v1/exercises/{exercise['id']}/submissions?limit=10{cursor}", token=teacher.token)
        assert page.status_code == 200, page.json
        seen += [s["id"] for s in page.json["items"]]
        if not page.json["next_cursor"]:
            break
        cursor = f"&cursor={page.json['next_cursor']}"
    assert seen == expected[::-1]


def test_a_teachers_page_costs_the_same_reads_whatever_the_roster(
    api: Api, drain: Callable[..., int], school: dict[str, Person]
) -> None:
    """Issue 22: a page of a teacher's students' submissions reads the session, the exercise, the
    teacher's classes and the page (+1), whether the roster holds 1 student or 40; a student who
    joins later brings their earlier submissions, one who leaves takes theirs away."""
    exercise = author(api, school["teacher"])
    teacher = school["other_teacher"]
    klass = new_class(api, teacher, name="Big class")
    learners = [person(api, f"roster{n}@example.com") for n in range(40)]
    for learner in learners:
        assert join(api, learner, klass["class_code"]).status_code in (200, 201)
    first = submit(api, learners[0], exercise["id"], SOLUTION).json["id"]
    late = school["student"]  # not in this class yet: submits, then joins
    earlier = submit(api, late, exercise["id"], SOLUTION).json["id"]
    drain()
    page = api.get(f"/api/v1/exercises/{exercise['id']}/submissions?limit=5", token=teacher.token)
    assert [s["id"] for s in page.json["items"]] == [first]
    assert ops(page)["reads"] <= 1 + 1 + 1 + 6, ops(page)  # session, exercise, 1 class, the page and one more
    assert join(api, late, klass["class_code"]).status_code in (200, 201)
    drain()
    page = api.get(f"/api/v1/exercises/{exercise['id']}/submissions?limit=5", token=teacher.token)
    assert [s["id"] for s in page.json["items"]] == [earlier, first]
    left = api.delete(f"/api/v1/classes/{klass['id']}/students/{learners[0].id}", token=teacher.token)
    assert left.status_code == 204
    drain()
    page = api.get(f"/api/v1/exercises/{exercise['id']}/submissions?limit=5", token=teacher.token)
    assert [s["id"] for s in page.json["items"]] == [earlier]


# Demo data ------------------------------------------------------------------------------------------


def test_demo_exercises_load_once_and_their_solutions_pass(api: Api, drain: Callable[..., int]) -> None:
    from infra.local import demo_exercises, seed

    seed.load()
    assert seed.load()  # a second run adds nothing
    student = Person(api.login("student@studyhall.dev", seed.DEMO_PASSWORD))
    teacher = Person(api.login("teacher@studyhall.dev", seed.DEMO_PASSWORD))
    for exercise_id, demo in demo_exercises.DEMO_EXERCISES.items():
        seen = api.get(f"/api/v1/exercises/{exercise_id}", token=student.token).json
        assert seen["author_id"] == teacher.id and seen["difficulty"] == "beginner" and "solution" not in seen
        submit(api, student, exercise_id, demo["solution"])
    drain(GRADE)
    history = api.get(f"/api/v1/students/{student.id}/submissions", token=student.token).json["items"]
    assert sorted(s["exercise_id"] for s in history) == sorted(demo_exercises.DEMO_EXERCISES)
    assert {s["verdict"] for s in history} == {"accepted"}


def test_exercise_analytics_follow_graded_submissions(
    api: Api, drain: Callable[..., int], school: dict[str, Person]
) -> None:
    teacher, student, stranger = school["teacher"], school["student"], school["stranger"]
    exercise = author(api, teacher)
    submit(api, student, exercise["id"], SOLUTION)  # solved at once: mastered
    submit(api, stranger, exercise["id"], VERDICTS["wrong_answer"])
    drain()  # graded, and progress has counted both
    submit(api, stranger, exercise["id"], SOLUTION)  # solved at the second attempt
    drain()  # grading, then submission.graded to progress
    body = api.get(f"/api/v1/analytics/exercises/{exercise['id']}", token=teacher.token).json
    assert body | {"average_score": 0} == {
        "exercise_id": exercise["id"],
        "attempts": 3,
        "submissions": 3,
        "passed_submissions": 2,
        "pass_rate": 0.6667,
        "average_score": 0,
        "students": 2,
        "students_passed": 2,
        "completion_rate": 1.0,
        "mastery_rate": 0.5,
    }
    assert body["average_score"] == round(200 / 3, 2)


def test_grading_budget_per_event(api: Api, school: dict[str, Person]) -> None:
    exercise = author(api, school["teacher"])
    queued = submit(api, school["student"], exercise["id"], SOLUTION).json
    meter = store.start_metering()
    assert grading.grade(queued["id"], store.now()) == "claimed"
    # Claim (read + write), the exercise (read), finish (read + write, and submission.graded
    # in the outbox), the outbox entry deleted once Pub/Sub has it.
    assert (meter.reads, meter.writes, meter.deletes) == (3, 3, 1)
    meter = store.start_metering()
    assert grading.grade(queued["id"], store.now()) == "graded"
    assert (meter.reads, meter.writes, meter.deletes) == (1, 0, 0)  # a redelivery: one read
    assert existing(SUBMISSIONS, queued["id"])["verdict"] == "accepted"


def test_the_grader_deploys_with_its_own_account_and_the_interpreter() -> None:
    import yaml

    from tests.conftest import ROOT
    from tests.test_deploy import deploy_argv

    steps = {s["id"]: s for s in yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())["steps"]}
    grader = deploy_argv("exercises-grade")
    assert "--service-account=studyhall-grader@${PROJECT_ID}.iam.gserviceaccount.com" in grader
    assert {"--concurrency=1", "--source=.build/exercises-grade", "--timeout=540s"} <= set(grader)
    assert "prepare-exercises-grade" in steps["deploy-exercises-grade"]["waitFor"]
    fetch = steps["prepare-exercises-grade"]["args"][1]
    assert "functions/exercises/sandbox/assets.py --dest .wasm" in fetch and "cd .build/exercises-grade" in fetch
    # Every other function deploys from the source without the interpreter or the build copies.
    # (both uploads' ignore files take in .gitignore, which names them).
    for ignore_file in (".gcloudignore", ".gcloudignore-functions"):
        assert "#!include:.gitignore" in (ROOT / ignore_file).read_text().split()
    ignored = (ROOT / ".gitignore").read_text().split()
    assert ".wasm/" in ignored and ".build/" in ignored
    submit = deploy_argv("exercises-submit")
    assert "--service-account=studyhall-functions@${PROJECT_ID}.iam.gserviceaccount.com" in submit
    assert "--source=." in submit


def test_a_grader_crash_is_retried_and_repeated_crashes_end_as_internal_error(
    api: Api, drain: Callable[..., int], school: dict[str, Person], mocker: MockerFixture
) -> None:
    from functions.exercises import judge
    from functions.exercises.sandbox.runner import run_tests

    student = school["student"]
    exercise = author(api, school["teacher"])
    real, calls = run_tests, []

    def first_call_fails(*args: Any) -> Any:
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("sandbox host failed")
        return real(*args)

    crash = mocker.patch.object(judge, "run_tests", side_effect=first_call_fails)
    once = submit(api, student, exercise["id"], SOLUTION).json
    drain(GRADE)
    body = api.get(f"/api/v1/submissions/{once['id']}", token=student.token).json
    assert body["verdict"] == "accepted" and crash.call_count == 2  # failed delivery, then graded

    # Every delivery fails (as Pub/Sub would redeliver it): each gives its claim back, the
    # next delivery ends it as internal_error instead of grading forever.
    crash.side_effect = RuntimeError("sandbox host failed")
    always = submit(api, student, exercise["id"], SOLUTION).json
    for attempt in range(1, 4):
        with pytest.raises(RuntimeError):
            grading.grade(always["id"], store.now())
        assert existing(SUBMISSIONS, always["id"]) | {"attempts": attempt} == existing(SUBMISSIONS, always["id"])
        assert existing(SUBMISSIONS, always["id"])["status"] == "queued"
    assert grading.grade(always["id"], store.now()) == "graded"
    body = api.get(f"/api/v1/submissions/{always['id']}", token=student.token).json
    assert body["status"] == "graded" and body["verdict"] == "internal_error"
    assert existing(SUBMISSIONS, always["id"])["attempts"] == 3  # three claims, then ended


def test_a_firestore_failure_at_any_step_of_grading_loses_no_grade_and_pays_once(
    api: Api, drain: Callable[..., int], school: dict[str, Person], mocker: MockerFixture
) -> None:
    """Fail each Firestore call the grader makes (the claim, the exercise read, the finish, the
    outbox clean-up), one at a time: the redelivery grades it, once, and pays XP once."""
    from functions.progress.service import XP_EXERCISE_FIRST_PASS
    from tests.faults import FIRESTORE_ERRORS, Faults

    exercise = author(api, school["teacher"])
    faults = Faults(mocker).install()
    drain()
    happy = submit(api, school["student"], exercise["id"], SOLUTION).json
    with faults.armed():
        drain(GRADE)
    assert existing(SUBMISSIONS, happy["id"])["verdict"] == "accepted"
    calls = faults.calls["firestore"]
    assert calls >= 6
    errors = list(FIRESTORE_ERRORS.values())
    for n in range(1, calls + 1):
        learner = person(api, f"learner-{n}@example.com")
        drain()
        queued = submit(api, learner, exercise["id"], SOLUTION).json
        faults.reset()
        faults.fail("firestore", n, errors[n % len(errors)])
        with faults.armed():
            drain(GRADE)
        assert faults.injected, n
        drain()  # redeliveries, and what submission.graded sets off
        body = api.get(f"/api/v1/submissions/{queued['id']}", token=learner.token).json
        assert (body["status"], body["verdict"]) == ("graded", "accepted"), (faults.injected, body)
        assert existing("user_stats", learner.id)["xp"] == XP_EXERCISE_FIRST_PASS, faults.injected
        assert store.db().collection("event_outbox").get() == [] or n == calls, faults.injected


def test_the_sweep_ends_only_claims_whose_lease_ran_out(api: Api, school: dict[str, Person]) -> None:
    student = school["student"]
    exercise = author(api, school["teacher"])
    queued = submit(api, student, exercise["id"], SOLUTION).json
    ref = store.db().collection(SUBMISSIONS).document(queued["id"])
    late = store.now() + timedelta(minutes=16)  # past stale_at
    # A grader still at work past stale_at (a long queue): its lease holds, the sweep leaves it.
    ref.update({"status": "running", "attempts": 1, "lease_until": late + timedelta(minutes=2)})
    assert grading.sweep(late) == 0
    assert existing(SUBMISSIONS, queued["id"])["status"] == "running"
    # Its lease ran out: the grader is gone, the sweep ends it.
    assert grading.sweep(late + timedelta(minutes=3)) == 1
    assert existing(SUBMISSIONS, queued["id"])["verdict"] == "internal_error"
