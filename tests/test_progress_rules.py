"""The rules as plain functions, without HTTP or emulators."""

from __future__ import annotations

from datetime import UTC, date, datetime

from functions.leaderboards.service import parse_scope, rank_entries
from functions.progress import service
from infra.replay_dead_letters import original_topic
from shared.event_types import ExamAnswered, ExamCompleted
from shared.stats import current_streak, empty_stats, local_day, streaks


def test_streaks_are_a_function_of_the_set_of_days() -> None:
    days = ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-05", "2026-01-06"]
    assert streaks(days) == (2, 3)
    assert streaks(reversed(days)) == (2, 3)
    assert streaks(days + days) == (2, 3)
    assert streaks([]) == (0, 0)
    assert streaks(["2025-12-31", "2026-01-01"]) == (2, 2)  # across a year


def test_current_streak_as_of_today() -> None:
    stats = {"last_active_day": "2026-03-10", "current_streak": 4}
    assert current_streak(stats, date(2026, 3, 10)) == 4
    assert current_streak(stats, date(2026, 3, 11)) == 4  # today can still save it
    assert current_streak(stats, date(2026, 3, 12)) == 0  # a whole day missed
    assert current_streak({"last_active_day": None}, date(2026, 3, 12)) == 0


def test_local_day_and_unknown_zones() -> None:
    moment = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
    assert local_day(moment, "America/New_York") == date(2026, 3, 9)
    assert local_day(moment, "Asia/Tokyo") == date(2026, 3, 10)
    assert local_day(moment, "Not/AZone") == date(2026, 3, 10)


def test_badge_rules() -> None:
    stats = empty_stats("u", "student", datetime(2026, 1, 1, tzinfo=UTC))
    assert service.award_badges(stats, datetime(2026, 1, 1, tzinfo=UTC)) == []
    stats["exams_completed"] = 1
    stats["domains"] = {"net|1.0": {"answered": 20, "correct": 18}}
    at = datetime(2026, 1, 2, tzinfo=UTC)
    assert service.award_badges(stats, at) == ["first-exam", "domain-mastered"]
    assert service.award_badges(stats, at) == []  # never twice
    assert stats["badge_awards"] == {"first-exam": at, "domain-mastered": at}
    assert not service.rule_holds({"metric": "no_such_metric", "gte": 1}, stats)
    assert not service.mastered({"answered": 19, "correct": 19})


def test_xp_of_each_event() -> None:
    answered = ExamAnswered(user_id="u", session_id="s", exam_type="t", question_id="q", domain="d",
                                    correct=True)  # fmt: skip
    assert service.answered_contribution(answered).xp == 10
    done = ExamCompleted(user_id="u", session_id="s", exam_type="t", score=87, correct=7, total=8)
    assert service.completed_contribution(done).xp == 50 + 43


def test_competition_ranking() -> None:
    rows = [("a", "A", 50), ("b", "B", 30), ("c", "C", 30), ("d", "D", 10)]
    assert [e["rank"] for e in rank_entries(rows)] == [1, 2, 2, 4]


def test_scopes() -> None:
    assert parse_scope("exam:network-plus").metric == "exam_types.`network-plus`.xp"
    assert parse_scope("class:c1").kind == "class"


def test_dead_letter_routing() -> None:
    subs = {"progress-on-exam-completed--exam.completed": "exam.completed"}
    by_sub = {"CloudPubSubDeadLetterSourceSubscription": "progress-on-exam-completed--exam.completed"}
    assert original_topic(by_sub, subs) == "exam.completed"
    assert original_topic({"event_type": "exam.completed"}, subs) == "exam.completed"
    assert original_topic({"event_type": "nope"}, subs) is None
