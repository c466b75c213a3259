"""Analytics: read from aggregates the event functions keep (sharded counters), not scans."""

from __future__ import annotations

from collections.abc import Callable

from shared import store
from tests.support import Api, ops
from tests.test_leaderboards import join
from tests.test_progress import answered, completed, days_ago, graded, student


def test_student_analytics(api: Api, drain: Callable[..., int]) -> None:
    user_id, token = student(api, "stu@example.com")
    for _ in range(3):
        answered(user_id, days_ago(2), domain="1.0", correct=True)
    answered(user_id, days_ago(1), domain="2.0", correct=False)
    answered(user_id, days_ago(1), domain="2.0", correct=True)
    completed(user_id, days_ago(1), score=80, correct=4, total=5)
    graded(user_id, days_ago(40), exercise="ex", topic="loops", score=100, passed=True)
    drain()
    response = api.get(f"/api/v1/analytics/students/{user_id}", token=token)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["questions_answered"] == 5 and body["questions_correct"] == 4
    assert body["accuracy"] == 0.8
    assert body["exams_completed"] == 1 and body["average_exam_score"] == 80
    assert body["active_days"] == 3
    assert [d["domain"] for d in body["weakest_domains"]] == ["2.0", "1.0"]
    assert body["weakest_domains"][0]["accuracy"] == 0.5
    # The last 30 days only: the exercise 40 days ago is not in the series.
    assert [d["day"] for d in body["last_30_days"]] == [days_ago(2).date().isoformat(), days_ago(1).date().isoformat()]
    assert body["exam_types"][0]["completed"] == 1
    assert body["topics"] == [{"topic": "loops", "attempts": 1, "passed": 1, "pass_rate": 1.0}]
    assert ops(response) == {"reads": 2, "writes": 0, "deletes": 0}

    _, other_token = student(api, "nosy@example.com")
    assert api.get(f"/api/v1/analytics/students/{user_id}", token=other_token).status_code == 403
    assert api.get(f"/api/v1/analytics/students/{user_id}").status_code == 401


def test_exercise_analytics_from_submission_events(api: Api, drain: Callable[..., int]) -> None:
    teacher = api.register("teacher@example.com", role="teacher")
    a, a_token = student(api, "a@example.com")
    b, _ = student(api, "b@example.com")
    graded(a, days_ago(0), exercise="fizzbuzz", topic="loops", score=40, passed=False)
    graded(a, days_ago(0), exercise="fizzbuzz", topic="loops", score=100, passed=True)
    graded(a, days_ago(0), exercise="fizzbuzz", topic="loops", score=100, passed=True)
    graded(b, days_ago(0), exercise="fizzbuzz", topic="loops", score=60, passed=False)
    graded(b, days_ago(0), exercise="other", topic="loops", score=60, passed=False)
    drain()
    response = api.get("/api/v1/analytics/exercises/fizzbuzz", token=teacher["access_token"])
    assert response.status_code == 200, response.json
    assert response.json == {
        "exercise_id": "fizzbuzz",
        "attempts": 4,
        "submissions": 4,
        "passed_submissions": 2,
        "pass_rate": 0.5,
        "average_score": 75.0,
        "students": 2,
        "students_passed": 1,
        "completion_rate": 0.5,
        "mastery_rate": 0.0,
    }
    assert ops(response)["reads"] <= 1 + 8  # session + at most one read per shard
    assert ops(response)["writes"] == 0
    assert api.get("/api/v1/analytics/exercises/fizzbuzz", token=a_token).status_code == 403
    none = api.get("/api/v1/analytics/exercises/never-tried", token=teacher["access_token"])
    assert none.status_code == 200 and none.json["submissions"] == 0


def test_class_analytics_count_members_activity_only(api: Api, drain: Callable[..., int]) -> None:
    admin = api.admin()
    teacher = api.register("teacher@example.com", role="teacher")
    other_teacher = api.register("other@example.com", role="teacher")
    teacher_id = teacher["user"]["id"]
    store.db().collection("classes").document("c9").set({"teacher_id": teacher_id, "name": "Sec+", "status": "active"})
    a, a_token = student(api, "a@example.com")
    b, _ = student(api, "b@example.com")
    outsider, _ = student(api, "c@example.com")
    join("c9", a, teacher_id)
    join("c9", b, teacher_id)
    drain()
    answered(a, days_ago(0), domain="3.0", correct=True)
    answered(b, days_ago(0), domain="3.0", correct=False)
    answered(b, days_ago(0), domain="1.0", correct=True)
    completed(a, days_ago(0), score=90, correct=9, total=10)
    answered(outsider, days_ago(0), domain="3.0", correct=False)
    drain()

    response = api.get("/api/v1/analytics/classes/c9", token=teacher["access_token"])
    assert response.status_code == 200, response.json
    body = response.json
    assert body["questions_answered"] == 3 and body["questions_correct"] == 2
    assert body["exams_completed"] == 1 and body["average_exam_score"] == 90
    assert body["xp"] == 10 + 2 + 10 + 95
    assert [(d["domain"], d["answered"], d["correct"]) for d in body["weakest_domains"]] == [
        ("3.0", 2, 1),
        ("1.0", 1, 1),
    ]
    assert ops(response)["reads"] <= 2 + 8  # session, class, shards
    assert api.get("/api/v1/analytics/classes/c9", token=admin["access_token"]).status_code == 200
    # Another teacher's class looks like no class at all; a student is refused by role first.
    assert api.get("/api/v1/analytics/classes/c9", token=other_teacher["access_token"]).status_code == 404
    assert api.get("/api/v1/analytics/classes/c9", token=a_token).status_code == 403
    assert api.get("/api/v1/analytics/classes/missing", token=teacher["access_token"]).status_code == 404
