"""Learning events: XP, streaks, counts, mastery and badges, through the real Pub/Sub and
Firestore emulators (events drained deterministically), read back through the API."""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import store
from shared.auth import new_id
from shared.events import publish
from tests.support import Api, Stack, ops

EXAM = "a-plus-core-1"


# Helpers the other progress, leaderboard and analytics tests share ---------------------------------


def days_ago(n: int, hour: int = 12) -> datetime:
    today = datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    return today - timedelta(days=n)


def answered(
    user_id: str,
    at: datetime,
    *,
    correct: bool = True,
    domain: str = "1.0",
    exam_type: str = EXAM,
    session: str = "s1",
    question: str | None = None,
    mode: str = "practice",
    event_id: str | None = None,
) -> str:
    data = {
        "user_id": user_id,
        "session_id": session,
        "exam_type": exam_type,
        "question_id": question or new_id(),
        "domain": domain,
        "correct": correct,
        "mode": mode,
    }
    return publish("exam.answered", data, occurred_at=at, event_id=event_id)


def completed(
    user_id: str,
    at: datetime,
    *,
    score: float,
    correct: int = 0,
    total: int = 0,
    exam_type: str = EXAM,
    mode: str = "practice",
    event_id: str | None = None,
) -> str:
    data = {
        "user_id": user_id,
        "session_id": new_id(),
        "exam_type": exam_type,
        "mode": mode,
        "score": score,
        "correct": correct,
        "total": total,
        "domains": [{"domain": "1.0", "correct": correct, "total": total}],
    }
    return publish("exam.completed", data, occurred_at=at, event_id=event_id)


def graded(user_id: str, at: datetime, *, exercise: str, topic: str, score: float, passed: bool) -> str:
    data = {
        "user_id": user_id,
        "submission_id": new_id(),
        "exercise_id": exercise,
        "topic": topic,
        "score": score,
        "passed": passed,
    }
    return publish("submission.graded", data, occurred_at=at)


def lesson(user_id: str, at: datetime, *, lesson_id: str, topic: str = "networking") -> str:
    data = {"user_id": user_id, "lesson_id": lesson_id, "path_id": "p1", "topic": topic}
    return publish("lesson.completed", data, occurred_at=at)


def take_exam(user_id: str, at: datetime, *, right: int, wrong: int, exam_type: str = EXAM) -> None:
    """A whole exam: one exam.answered per question, then exam.completed."""
    for _ in range(right):
        answered(user_id, at, correct=True, exam_type=exam_type)
    for _ in range(wrong):
        answered(user_id, at, correct=False, exam_type=exam_type)
    total = right + wrong
    completed(user_id, at, score=round(100 * right / total), correct=right, total=total, exam_type=exam_type)


def stats_of(user_id: str) -> dict[str, Any]:
    return store.db().collection("user_stats").document(user_id).get().to_dict() or {}


def student(api: Any, email: str) -> tuple[str, str]:
    tokens = api.register(email)
    return tokens["user"]["id"], tokens["access_token"]


def set_timezone(user_id: str, timezone: str) -> None:
    store.db().collection("users").document(user_id).update({"timezone": timezone})


def comparable(body: dict[str, Any]) -> dict[str, Any]:
    """A progress body without what legitimately differs between two users or two runs."""
    out = {k: v for k, v in body.items() if k not in ("user_id", "updated_at")}
    out["badges"] = sorted(b["id"] for b in body["badges"])
    return out


# The acceptance story -----------------------------------------------------------------------------


def test_exams_on_consecutive_and_skipped_days(api: Api, drain: Callable[..., int]) -> None:
    user_id, token = student(api, "sam@example.com")
    # Three days in a row, a missed day, then yesterday and today.
    for n in (5, 4, 3):
        take_exam(user_id, days_ago(n), right=8, wrong=2)
    take_exam(user_id, days_ago(1), right=10, wrong=0)
    take_exam(user_id, days_ago(0, hour=1), right=9, wrong=1)
    answered(user_id, days_ago(0, hour=2))  # a second event today counts once for the streak
    drain()

    response = api.get(f"/api/v1/students/{user_id}/progress", token=token)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["current_streak"] == 2
    assert body["longest_streak"] == 3
    assert body["last_active_day"] == days_ago(0).date().isoformat()
    assert body["exams_completed"] == 5
    assert body["questions_answered"] == 51
    assert body["questions_correct"] == 8 * 3 + 10 + 9 + 1
    assert body["best_exam_score"] == 100
    assert body["average_exam_score"] == (80 * 3 + 100 + 90) / 5
    # XP: 10 per right answer, 2 per wrong one, 50 + score // 2 per exam.
    answers_xp = 10 * (8 * 3 + 10 + 9 + 1) + 2 * (2 * 3 + 1)
    exams_xp = 3 * (50 + 40) + (50 + 50) + (50 + 45)
    assert body["xp"] == answers_xp + exams_xp
    assert [b["id"] for b in body["badges"]] == ["first-exam", "perfect-score"]
    assert body["domains"] == [
        {
            "exam_type": EXAM,
            "domain": "1.0",
            "answered": 51,
            "correct": 44,
            "accuracy": round(44 / 51, 4),
            "mastered": False,
        }
    ]

    badges = api.get(f"/api/v1/users/{user_id}/badges", token=token)
    assert badges.status_code == 200
    assert [b["id"] for b in badges.json["items"]] == ["first-exam", "perfect-score"]
    assert badges.json["items"][0]["name"] == "First Exam"
    assert badges.json["next_cursor"] is None


def test_an_exam_mode_exam_counts_its_answers_once_at_submit(api: Api, drain: Callable[..., int]) -> None:
    user_id, token = student(api, "examiner@example.com")
    at = days_ago(0)
    # Exam mode: the exams area publishes every exam.answered together with exam.completed.
    for i in range(4):
        answered(user_id, at, correct=i < 3, domain="1.0" if i < 2 else "2.0", mode="exam")
    publish(
        "exam.completed",
        {
            "user_id": user_id,
            "session_id": "x",
            "exam_type": EXAM,
            "mode": "exam",
            "score": 75,
            "correct": 3,
            "total": 4,
            "domains": [{"domain": "1.0", "correct": 2, "total": 2}, {"domain": "2.0", "correct": 1, "total": 2}],
        },
        occurred_at=at,
    )
    drain()
    body = api.get(f"/api/v1/students/{user_id}/progress", token=token).json
    assert body["questions_answered"] == 4 and body["questions_correct"] == 3
    assert body["exams_completed"] == 1
    assert body["xp"] == 3 * 10 + 1 * 2 + 50 + 37
    assert [(d["domain"], d["answered"], d["correct"]) for d in body["domains"]] == [("1.0", 2, 2), ("2.0", 2, 1)]


def test_a_missed_day_resets_the_current_streak_at_read_time(api: Api, drain: Callable[..., int]) -> None:
    user_id, token = student(api, "lapsed@example.com")
    for n in (6, 5, 4):
        answered(user_id, days_ago(n))
    drain()
    body = api.get(f"/api/v1/students/{user_id}/progress", token=token).json
    # Three days in a row, but the last was four days ago: no current streak any more.
    assert body["current_streak"] == 0
    assert body["longest_streak"] == 3
    assert stats_of(user_id)["current_streak"] == 3  # the run, stored; the read applies "today"


def test_streak_days_follow_the_users_time_zone(api: Api, drain: Callable[..., int]) -> None:
    user_id, token = student(api, "tz@example.com")
    set_timezone(user_id, "America/Los_Angeles")
    # 03:00 UTC on day 2 is still day 1 in Los Angeles; 20:00 UTC on day 2 is day 2 there.
    day2 = days_ago(3, hour=0)
    answered(user_id, day2 + timedelta(hours=3))
    answered(user_id, day2 + timedelta(hours=20))
    drain()
    stats = stats_of(user_id)
    assert sorted(stats["daily"]) == [(day2 - timedelta(days=1)).date().isoformat(), day2.date().isoformat()]
    assert stats["longest_streak"] == 2
    body = api.get(f"/api/v1/students/{user_id}/progress", token=token).json
    assert body["timezone"] == "America/Los_Angeles"
    assert body["longest_streak"] == 2

    # The same two moments for a UTC user are one day.
    other, _ = student(api, "utc@example.com")
    answered(other, day2 + timedelta(hours=3))
    answered(other, day2 + timedelta(hours=20))
    drain()
    assert stats_of(other)["longest_streak"] == 1


def test_seven_day_streak_badge_once(api: Api, drain: Callable[..., int]) -> None:
    user_id, token = student(api, "week@example.com")
    for n in range(9, 0, -1):
        answered(user_id, days_ago(n))
    drain()
    body = api.get(f"/api/v1/users/{user_id}/badges", token=token).json
    assert [b["id"] for b in body["items"]].count("streak-7") == 1
    assert stats_of(user_id)["longest_streak"] == 9


# At-least-once, unordered, concurrent ------------------------------------------------------------------


def test_a_duplicated_event_counts_once(api: Api, drain: Callable[..., int]) -> None:
    user_id, token = student(api, "dup@example.com")
    event_id = new_id()
    for _ in range(3):
        completed(user_id, days_ago(1), score=100, correct=10, total=10, event_id=event_id)
    answer_id = new_id()
    answered(user_id, days_ago(1), event_id=answer_id, question="q-dup")
    answered(user_id, days_ago(1), event_id=answer_id, question="q-dup")
    drain()
    # And once more after the first ones were processed.
    completed(user_id, days_ago(1), score=100, correct=10, total=10, event_id=event_id)
    drain()
    body = api.get(f"/api/v1/students/{user_id}/progress", token=token).json
    assert body["exams_completed"] == 1
    assert body["questions_answered"] == 1
    assert body["xp"] == 100 + 10
    assert [b["id"] for b in body["badges"]] == ["first-exam", "perfect-score"]


def _story(user_id: str) -> list[tuple[str, dict[str, Any], datetime]]:
    """A fortnight of activity with a gap, as (topic, data, occurred_at)."""
    events: list[tuple[str, dict[str, Any], datetime]] = []
    for n in (12, 11, 10, 9, 8, 7, 6, 4, 3, 1):
        at = days_ago(n)
        for i in range(3):
            events.append(
                (
                    "exam.answered",
                    {
                        "user_id": user_id,
                        "session_id": f"s{n}",
                        "exam_type": EXAM,
                        "question_id": f"q{i}",
                        "domain": "2.0" if i else "1.0",
                        "correct": i != 2,
                        "mode": "practice",
                    },
                    at,
                )
            )
        events.append(
            (
                "exam.completed",
                {
                    "user_id": user_id,
                    "session_id": f"s{n}",
                    "exam_type": EXAM,
                    "mode": "practice",
                    "score": 67 if n != 7 else 100,
                    "correct": 2,
                    "total": 3,
                    "domains": [],
                },
                at,
            )
        )
    events.append(
        (
            "submission.graded",
            {
                "user_id": user_id,
                "submission_id": "sub1",
                "exercise_id": "ex1",
                "topic": "python",
                "score": 40,
                "passed": False,
            },
            days_ago(2),
        )
    )
    events.append(
        (
            "submission.graded",
            {
                "user_id": user_id,
                "submission_id": "sub2",
                "exercise_id": "ex1",
                "topic": "python",
                "score": 90,
                "passed": True,
            },
            days_ago(2),
        )
    )
    events.append(("lesson.completed", {"user_id": user_id, "lesson_id": "l1", "topic": "python"}, days_ago(7)))
    return events


def test_events_out_of_order_give_the_same_totals(api: Api, drain: Callable[..., int]) -> None:
    first, first_token = student(api, "inorder@example.com")
    second, second_token = student(api, "reversed@example.com")
    for topic, data, at in _story(first):
        publish(topic, data, occurred_at=at)
    drain()
    for topic, data, at in reversed(_story(second)):
        publish(topic, data, occurred_at=at)
    drain()
    a = api.get(f"/api/v1/students/{first}/progress", token=first_token).json
    b = api.get(f"/api/v1/students/{second}/progress", token=second_token).json
    assert comparable(a) == comparable(b)
    assert a["longest_streak"] == 7
    assert a["current_streak"] == 4  # days 4, 3, 2 (the exercise), 1
    assert a["exercises_passed"] == 1
    assert a["lessons_completed"] == 1
    assert a["topics"] == [{"topic": "python", "attempts": 2, "passed": 1, "pass_rate": 0.5}]
    assert sorted(x["id"] for x in a["badges"]) == [
        "first-exam",
        "first-exercise",
        "first-lesson",
        "perfect-score",
        "streak-7",
        "xp-1000",
    ]


def _push_body(project: str, topic: str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    envelope = {"id": new_id(), "type": topic, "occurred_at": at.isoformat(), "data": data}
    return {
        "message": {
            "data": base64.b64encode(json.dumps(envelope).encode()).decode(),
            "attributes": {"event_type": topic, "event_id": envelope["id"]},
            "messageId": new_id(),
            "publishTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        },
        "subscription": f"projects/{project}/subscriptions/test",
    }


def test_many_events_for_one_user_at_once_lose_no_update(api: Api, stack: Stack) -> None:
    user_id, token = student(api, "busy@example.com")
    function = "progress-on-exam-answered"
    path = f"/projects/{stack.project}/topics/exam.answered"
    bodies = [
        _push_body(
            stack.project,
            "exam.answered",
            {
                "user_id": user_id,
                "session_id": "s",
                "exam_type": EXAM,
                "question_id": f"q{i}",
                "domain": "1.0",
                "correct": i % 2 == 0,
                "mode": "practice",
            },
            days_ago(i % 3),
        )
        for i in range(6)
    ]

    def deliver_until_acked(body: dict[str, Any]) -> int:
        # Pub/Sub redelivers a failed push after a backoff; so does this loop.
        for attempt in range(1, 60):
            if 200 <= stack.gateway.deliver(function, path, body) < 300:
                return attempt
            time.sleep(random.uniform(0.05, 0.3))
        raise AssertionError("never acknowledged")

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=3) as pool:
        attempts = list(pool.map(deliver_until_acked, bodies))
    print(f"6 concurrent events: {sum(attempts)} deliveries, {time.monotonic() - started:.1f}s")
    stats = stats_of(user_id)
    assert stats["questions_answered"] == 6
    assert stats["questions_correct"] == 3
    assert stats["xp"] == 3 * 10 + 3 * 2
    assert sorted(stats["daily"]) == sorted({days_ago(n).date().isoformat() for n in range(3)})
    assert stats["longest_streak"] == 3
    body = api.get(f"/api/v1/students/{user_id}/progress", token=token).json
    assert body["questions_answered"] == 6


# Exercises and lessons -----------------------------------------------------------------------------------


def test_exercise_xp_on_first_pass_only_and_topic_mastery(api: Api, drain: Callable[..., int]) -> None:
    user_id, token = student(api, "coder@example.com")
    graded(user_id, days_ago(1), exercise="ex-1", topic="loops", score=30, passed=False)
    graded(user_id, days_ago(1), exercise="ex-1", topic="loops", score=100, passed=True)
    graded(user_id, days_ago(0), exercise="ex-1", topic="loops", score=100, passed=True)
    graded(user_id, days_ago(0), exercise="ex-2", topic="recursion", score=20, passed=False)
    drain()
    body = api.get(f"/api/v1/students/{user_id}/progress", token=token).json
    assert body["exercises_passed"] == 1
    assert body["xp"] == 40
    assert body["topics"] == [
        {"topic": "loops", "attempts": 3, "passed": 2, "pass_rate": round(2 / 3, 4)},
        {"topic": "recursion", "attempts": 1, "passed": 0, "pass_rate": 0.0},
    ]
    assert "first-exercise" in [b["id"] for b in body["badges"]]
    assert body["current_streak"] == 2


def test_a_lesson_counts_once(api: Api, drain: Callable[..., int]) -> None:
    user_id, token = student(api, "reader@example.com")
    lesson(user_id, days_ago(0), lesson_id="l-1")
    lesson(user_id, days_ago(0), lesson_id="l-1")  # completed again: a new event, the same lesson
    lesson(user_id, days_ago(0), lesson_id="l-2")
    drain()
    body = api.get(f"/api/v1/students/{user_id}/progress", token=token).json
    assert body["lessons_completed"] == 2
    assert body["xp"] == 40


# Bad events, unknown users -----------------------------------------------------------------------------


def test_an_invalid_event_is_dropped_and_writes_nothing(api: Api, drain: Callable[..., int]) -> None:
    user_id, _ = student(api, "odd@example.com")
    drain()
    before = stats_of(user_id)
    publish("exam.completed", {"user_id": user_id, "score": "lots"}, occurred_at=days_ago(0))
    publish("exam.answered", {"session_id": "s"}, occurred_at=days_ago(0))
    publish("exam.answered", {"user_id": "nobody", "session_id": "s", "exam_type": EXAM, "question_id": "q",
                              "domain": "1.0", "correct": True}, occurred_at=days_ago(0))  # fmt: skip
    drain()
    assert stats_of(user_id) == before
    assert not store.db().collection("user_stats").document("nobody").get().exists


def test_stats_exist_even_when_learning_comes_before_registration(api: Api, drain: Callable[..., int]) -> None:
    """Unordered delivery: a learning event may beat user.registered to the stats document."""
    user_id, token = student(api, "early@example.com")
    store.db().collection("user_stats").document(user_id).delete()
    stack_sub = "progress-on-exam-answered--exam.answered"
    answered(user_id, days_ago(0))
    drain(subscriptions=[stack_sub])
    assert stats_of(user_id)["questions_answered"] == 1
    drain()  # now user.registered: it must not reset what is there
    assert stats_of(user_id)["questions_answered"] == 1
    assert api.get(f"/api/v1/students/{user_id}/progress", token=token).json["xp"] == 10


# Who may read, and at what cost --------------------------------------------------------------------------


def test_progress_access_and_budget(api: Api, drain: Callable[..., int]) -> None:
    user_id, token = student(api, "own@example.com")
    other_id, other_token = student(api, "other@example.com")
    teacher = api.register("teach@example.com", role="teacher")
    admin = api.admin()
    answered(user_id, days_ago(0))
    drain()

    mine = api.get(f"/api/v1/students/{user_id}/progress", token=token)
    assert mine.status_code == 200
    assert ops(mine) == {"reads": 2, "writes": 0, "deletes": 0}  # session + stats

    assert api.get(f"/api/v1/students/{user_id}/progress").status_code == 401
    for path in (f"/api/v1/students/{user_id}/progress", f"/api/v1/users/{user_id}/badges"):
        denied = api.get(path, token=other_token)
        assert denied.status_code == 403
        assert denied.json["error"]["code"] == "forbidden"
        assert api.get(path, token=teacher["access_token"]).status_code == 403

    # A teacher sees the students of their active classes.
    store.db().collection("class_memberships").document(f"c1_{user_id}").set(
        {"class_id": "c1", "student_id": user_id, "teacher_id": teacher["user"]["id"],
         "joined_at": store.now(), "status": "active"}
    )  # fmt: skip
    as_teacher = api.get(f"/api/v1/students/{user_id}/progress", token=teacher["access_token"])
    assert as_teacher.status_code == 200
    assert as_teacher.json["questions_answered"] == 1
    assert ops(as_teacher)["reads"] <= 3

    as_admin = api.get(f"/api/v1/students/{user_id}/progress", token=admin["access_token"])
    assert as_admin.status_code == 200
    badges = api.get(f"/api/v1/users/{user_id}/badges", token=token)
    assert ops(badges) == {"reads": 2, "writes": 0, "deletes": 0}

    # Before any event: zeros for oneself, 404 for an admin asking about an unknown user.
    store.db().collection("user_stats").document(other_id).delete()
    fresh = api.get(f"/api/v1/students/{other_id}/progress", token=other_token)
    assert fresh.status_code == 200
    assert fresh.json["xp"] == 0 and fresh.json["badges"] == []
    assert api.get("/api/v1/students/nobody/progress", token=admin["access_token"]).status_code == 404
    assert api.post(f"/api/v1/students/{user_id}/progress", token=token).status_code == 405


def test_responses_carry_nothing_sensitive(api: Api, drain: Callable[..., int]) -> None:
    user_id, token = student(api, "private@example.com")
    answered(user_id, days_ago(0))
    drain()
    text = api.get(f"/api/v1/students/{user_id}/progress", token=token).get_data(as_text=True)
    assert "private@example.com" not in text
    assert "password" not in text
