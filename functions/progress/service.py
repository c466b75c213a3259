"""Per-user learning stats (XP, streaks, counts, mastery, badges), kept by event functions.

Every learning event is applied in one Firestore transaction through `run_once`: the marker,
the user's `user_stats` document (read-modify-write, so concurrent events for one user lose
nothing), and the aggregates the event feeds (class and exercise analytics shards, the
leaderboard scopes). The rules are in docs/progress.md.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from functions.progress.models import (
    BadgeOut,
    DomainMasteryOut,
    ProgressOut,
    TopicMasteryOut,
)
from shared import aggregates, store
from shared.auth import Principal
from shared.collections import MEMBERSHIPS, USER_STATS, USERS
from shared.event_types import (
    ClassMembershipChanged,
    EventData,
    ExamAnswered,
    ExamCompleted,
    LessonCompleted,
    SubmissionGraded,
)
from shared.events import Event, MalformedEvent, run_once
from shared.logging import get_logger, log_fields
from shared.stats import (
    LEADERBOARD_SCOPES,
    current_streak,
    domain_key,
    empty_stats,
    local_day,
    normalized,
    ratio,
    read_stats,
    streaks,
)
from shared.userdata import doc_id_prefix, personal

log = get_logger("progress")

# {user}_{exercise|lesson}_{id}: first pass / first completion, once
ITEMS = personal("progress_items", doc_id_prefix())

BADGES_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "badges.json"

# XP rules (docs/progress.md).
XP_CORRECT_ANSWER = 10
XP_WRONG_ANSWER = 2
XP_EXAM_COMPLETED = 50  # plus half the score, so 50..100 per exam
XP_EXERCISE_FIRST_PASS = 40
XP_LESSON_FIRST_COMPLETION = 20

M = TypeVar("M", bound=EventData)


# Stats documents --------------------------------------------------------------------------------


def create_stats(txn: store.Transaction, user_id: str, role: str, now: datetime) -> None:
    ref = store.db().collection(USER_STATS).document(user_id)
    if not ref.get(transaction=txn).exists:
        txn.set(ref, empty_stats(user_id, role, now))


# Days and streaks -------------------------------------------------------------------------------


# What one event contributes ------------------------------------------------------------------------


@dataclass
class Contribution:
    """What an event adds to a user's stats and to the class aggregates of the user's classes."""

    xp: int = 0
    questions_answered: int = 0
    questions_correct: int = 0
    exams_completed: int = 0
    exam_score_total: float = 0
    exercises_passed: int = 0
    lessons_completed: int = 0
    domains: dict[str, dict[str, int]] = field(default_factory=dict)
    exam_type: str | None = None
    exam_score: float | None = None
    topic: str | None = None
    topic_attempts: int = 0
    topic_passed: int = 0
    topic_lessons: int = 0

    def counters(self) -> dict[str, float]:
        return {
            "xp": self.xp,
            "questions_answered": self.questions_answered,
            "questions_correct": self.questions_correct,
            "exams_completed": self.exams_completed,
            "exam_score_total": self.exam_score_total,
            "exercises_passed": self.exercises_passed,
            "lessons_completed": self.lessons_completed,
        }


def answered_contribution(data: ExamAnswered) -> Contribution:
    correct = 1 if data.correct else 0
    return Contribution(
        xp=XP_CORRECT_ANSWER if correct else XP_WRONG_ANSWER,
        questions_answered=1,
        questions_correct=correct,
        domains={domain_key(data.exam_type, data.domain): {"answered": 1, "correct": correct}},
        exam_type=data.exam_type,
    )


def completed_contribution(data: ExamCompleted) -> Contribution:
    """The exam itself; in exam mode also its questions (their answers are counted here, once,
    not from the burst of exam-mode `exam.answered` events published at submit)."""
    c = Contribution(
        xp=XP_EXAM_COMPLETED + int(data.score) // 2,
        exams_completed=1,
        exam_score_total=data.score,
        exam_type=data.exam_type,
        exam_score=data.score,
    )
    if data.mode == "exam":
        for result in data.domains:
            correct = min(result.correct, result.total)
            c.questions_answered += result.total
            c.questions_correct += correct
            c.xp += XP_CORRECT_ANSWER * correct + XP_WRONG_ANSWER * (result.total - correct)
            entry = c.domains.setdefault(domain_key(data.exam_type, result.domain), {"answered": 0, "correct": 0})
            entry["answered"] += result.total
            entry["correct"] += correct
    return c


def graded_contribution(data: SubmissionGraded, first_pass: bool) -> Contribution:
    return Contribution(
        xp=XP_EXERCISE_FIRST_PASS if first_pass else 0,
        exercises_passed=1 if first_pass else 0,
        topic=data.topic,
        topic_attempts=1,
        topic_passed=1 if data.passed else 0,
    )


def lesson_contribution(data: LessonCompleted, first_completion: bool) -> Contribution:
    return Contribution(
        xp=XP_LESSON_FIRST_COMPLETION if first_completion else 0,
        lessons_completed=1 if first_completion else 0,
        topic=data.topic if first_completion else None,
        topic_lessons=1 if first_completion else 0,
    )


def apply_contribution(stats: dict[str, Any], c: Contribution, occurred_at: datetime) -> None:
    """Add `c` to `stats` and mark the event's day active. Every step is commutative."""
    for name, value in c.counters().items():
        stats[name] = stats.get(name, 0) + value
    for key, add in c.domains.items():
        entry = stats["domains"].setdefault(key, {"answered": 0, "correct": 0})
        entry["answered"] += add["answered"]
        entry["correct"] += add["correct"]
    if c.topic:
        entry = stats["topics"].setdefault(c.topic, {"attempts": 0, "passed": 0, "lessons": 0})
        entry["attempts"] = entry.get("attempts", 0) + c.topic_attempts
        entry["passed"] = entry.get("passed", 0) + c.topic_passed
        entry["lessons"] = entry.get("lessons", 0) + c.topic_lessons
    if c.exam_type:
        entry = stats["exam_types"].setdefault(c.exam_type, {"xp": 0, "completed": 0, "score_total": 0, "best": 0})
        entry["xp"] += c.xp
        if c.exam_score is not None:
            entry["completed"] += 1
            entry["score_total"] += c.exam_score
            entry["best"] = max(entry["best"], c.exam_score)
    if c.exam_score is not None:
        stats["best_exam_score"] = max(stats.get("best_exam_score", 0), c.exam_score)

    day = local_day(occurred_at, stats.get("timezone")).isoformat()
    daily = stats["daily"].setdefault(day, {"xp": 0, "answered": 0, "correct": 0, "events": 0})
    daily["xp"] += c.xp
    daily["answered"] += c.questions_answered
    daily["correct"] += c.questions_correct
    daily["events"] += 1
    stats["current_streak"], stats["longest_streak"] = streaks(stats["daily"])
    stats["last_active_day"] = max(stats["daily"])
    last_at = stats.get("last_active_at")
    stats["last_active_at"] = occurred_at if last_at is None or occurred_at > last_at else last_at


# Badges ------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def badge_catalogue() -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(BADGES_FILE.read_text()))


def rule_holds(rule: dict[str, Any], stats: dict[str, Any]) -> bool:
    metric = rule.get("metric")
    if metric == "domain_mastered":
        return any(
            mastered(entry, rule.get("accuracy_gte", 0.9), rule.get("min_answers", 20))
            for entry in stats.get("domains", {}).values()
        )
    value = stats.get(str(metric))
    if not isinstance(value, int | float) or "gte" not in rule:
        return False  # an unknown metric is never met, rather than failing every event
    return bool(value >= rule["gte"])


def mastered(entry: dict[str, int], accuracy: float = 0.9, min_answers: int = 20) -> bool:
    answered = entry.get("answered", 0)
    return answered >= min_answers and entry.get("correct", 0) / answered >= accuracy


def award_badges(stats: dict[str, Any], at: datetime) -> list[str]:
    """Award every badge whose rule now holds and the user does not hold yet; never twice."""
    held = set(stats.get("badges", []))
    new = [b["id"] for b in badge_catalogue() if b["id"] not in held and rule_holds(b.get("rule", {}), stats)]
    if new:
        stats["badges"] = [*stats.get("badges", []), *new]
        stats.setdefault("badge_awards", {}).update({badge_id: at for badge_id in new})
    return new


def mastery_rule() -> tuple[float, int]:
    for badge in badge_catalogue():
        rule = badge.get("rule", {})
        if rule.get("metric") == "domain_mastered":
            return float(rule.get("accuracy_gte", 0.9)), int(rule.get("min_answers", 20))
    return 0.9, 20


# Consuming events -----------------------------------------------------------------------------------


def parse(model: type[M], event: Event, consumer: str) -> M | None:
    """The event's data (parsed once, by the subscriber), or None (logged) when it does not fit."""
    try:
        return event.data_as(model)
    except MalformedEvent as exc:
        log.error("invalid event dropped", extra=log_fields(function=consumer, event_id=event.id, error=str(exc)))
        return None


def display_name(user: dict[str, Any]) -> str:
    first = str(user.get("first_name") or "").strip()
    last = str(user.get("last_name") or "").strip()
    return f"{first} {last[:1]}.".strip() if last else first or "Student"


def _shard(event: Event) -> int:
    return zlib.crc32(event.id.encode()) % aggregates.SHARDS


Contributor = Callable[[store.Transaction, dict[str, Any]], Contribution]


def apply_event(consumer: str, event: Event, user_id: str, contribute: Contributor) -> bool:
    """Apply one learning event for `user_id` once. `contribute(txn, stats)` may read (before
    any write) and returns what the event adds. False when the event was a duplicate."""
    db = store.db()
    user = db.collection(USERS).document(user_id).get().to_dict()
    if user is None:
        log.warning("event for an unknown user dropped", extra=log_fields(function=consumer, event_id=event.id))
        return False
    ref = db.collection(USER_STATS).document(user_id)
    at = event.occurred_at if event.occurred_at.tzinfo else event.occurred_at.replace(tzinfo=UTC)

    def work(txn: store.Transaction) -> bool:
        snapshot = ref.get(transaction=txn)
        stats = normalized(snapshot.to_dict(), user_id, str(user.get("role", "student")), at)
        stats["timezone"] = str(user.get("timezone") or "UTC")
        stats["display_name"] = display_name(user)
        known_exam_types = set(stats["exam_types"])
        contribution = contribute(txn, stats)  # its reads happen here, before every write
        apply_contribution(stats, contribution, at)
        award_badges(stats, at)
        stats["updated_at"] = store.now()
        txn.set(ref, stats)
        shard = _shard(event)
        for class_id in stats["class_ids"]:
            aggregates.record_class(txn, class_id, shard, contribution.counters(), contribution.domains)
        if user.get("school_id"):
            aggregates.record_school(txn, user["school_id"], shard, contribution.counters(), contribution.domains)
        if contribution.exam_type and contribution.exam_type not in known_exam_types:
            register_scope(txn, f"exam:{contribution.exam_type}")
        return True

    return bool(run_once(consumer, event, work))


def register_scope(txn: store.Transaction, scope: str) -> None:
    """A board the scheduled rebuild keeps (written once per user and scope, at most)."""
    kind, _, key = scope.partition(":")
    txn.set(
        store.db().collection(LEADERBOARD_SCOPES).document(scope),
        {"scope": scope, "kind": kind, "key": key},
    )


def on_exam_answered(consumer: str, event: Event) -> bool:
    """A practice answer. Exam-mode answers are published together at submit and counted from
    `exam.completed` instead: one transaction per exam rather than a burst on one document."""
    data = parse(ExamAnswered, event, consumer)
    if data is None or data.mode == "exam":
        return False
    return apply_event(consumer, event, data.user_id, lambda txn, stats: answered_contribution(data))


def on_exam_completed(consumer: str, event: Event) -> bool:
    data = parse(ExamCompleted, event, consumer)
    if data is None:
        return False
    return apply_event(consumer, event, data.user_id, lambda txn, stats: completed_contribution(data))


def _item_ref(user_id: str, kind: str, item_id: str) -> Any:
    return store.db().collection(ITEMS).document(f"{user_id}_{kind}_{item_id}")


def on_submission_graded(consumer: str, event: Event) -> bool:
    data = parse(SubmissionGraded, event, consumer)
    if data is None:
        return False
    item = _item_ref(data.user_id, "exercise", data.exercise_id)

    def contribute(txn: store.Transaction, stats: dict[str, Any]) -> Contribution:
        before = item.get(transaction=txn).to_dict()
        first_attempt = before is None
        passed_before = bool(before and before.get("passed"))
        first_pass = data.passed and not passed_before
        txn.set(
            item,
            {
                "user_id": data.user_id,
                "kind": "exercise",
                "item_id": data.exercise_id,
                "topic": data.topic,
                "attempts": (before or {}).get("attempts", 0) + 1,
                "passed": passed_before or data.passed,
                "best_score": max((before or {}).get("best_score", 0), data.score),
                "updated_at": event.occurred_at,
            },
        )
        aggregates.record_exercise(
            txn,
            data.exercise_id,
            _shard(event),
            {
                "submissions": 1,
                "passed_submissions": 1 if data.passed else 0,
                "score_total": data.score,
                "students": 1 if first_attempt else 0,
                "students_passed": 1 if first_pass else 0,
                # Solved at the first attempt: the exercise's mastery rate.
                "students_mastered": 1 if first_attempt and data.passed else 0,
            },
        )
        return graded_contribution(data, first_pass)

    return apply_event(consumer, event, data.user_id, contribute)


def on_lesson_completed(consumer: str, event: Event) -> bool:
    data = parse(LessonCompleted, event, consumer)
    if data is None:
        return False
    item = _item_ref(data.user_id, "lesson", data.lesson_id)

    def contribute(txn: store.Transaction, stats: dict[str, Any]) -> Contribution:
        first = not item.get(transaction=txn).exists
        if first:
            txn.set(
                item,
                {
                    "user_id": data.user_id,
                    "kind": "lesson",
                    "item_id": data.lesson_id,
                    "topic": data.topic,
                    "completed_at": event.occurred_at,
                },
            )
        return lesson_contribution(data, first)

    return apply_event(consumer, event, data.user_id, contribute)


def on_class_membership(consumer: str, event: Event) -> bool:
    """`class.joined` / `class.left`: set the user's class_ids from the membership document as it
    is now, so joined and left arriving in either order end in the same state."""
    data = parse(ClassMembershipChanged, event, consumer)
    if data is None:
        return False
    db = store.db()
    ref = db.collection(USER_STATS).document(data.user_id)
    membership_ref = db.collection(MEMBERSHIPS).document(f"{data.class_id}_{data.user_id}")

    def work(txn: store.Transaction) -> bool:
        snapshot = ref.get(transaction=txn)
        membership = membership_ref.get(transaction=txn).to_dict()
        stats = normalized(snapshot.to_dict(), data.user_id, "student", event.occurred_at)
        active = bool(membership and membership.get("status") == "active")
        class_ids = [c for c in stats["class_ids"] if c != data.class_id]
        if active:
            class_ids.append(data.class_id)
        if sorted(class_ids) == sorted(stats["class_ids"]) and snapshot.exists:
            return False
        stats["class_ids"] = sorted(class_ids)
        stats["updated_at"] = store.now()
        txn.set(ref, stats)
        if active:
            register_scope(txn, f"class:{data.class_id}")
        return True

    return bool(run_once(consumer, event, work))


# Reading -----------------------------------------------------------------------------------------------


def badges_out(stats: dict[str, Any]) -> list[BadgeOut]:
    held = stats.get("badge_awards", {})
    catalogue = {b["id"]: b for b in badge_catalogue()}
    return [
        BadgeOut(
            id=badge_id,
            name=catalogue.get(badge_id, {}).get("name", badge_id),
            description=catalogue.get(badge_id, {}).get("description", ""),
            awarded_at=held.get(badge_id),
        )
        for badge_id in stats.get("badges", [])
    ]


def domains_out(stats: dict[str, Any]) -> list[DomainMasteryOut]:
    accuracy, min_answers = mastery_rule()
    out = []
    for key, entry in sorted(stats.get("domains", {}).items()):
        exam_type, _, domain = key.partition("|")
        out.append(
            DomainMasteryOut(
                exam_type=exam_type,
                domain=domain,
                answered=entry.get("answered", 0),
                correct=entry.get("correct", 0),
                accuracy=ratio(entry.get("correct", 0), entry.get("answered", 0)),
                mastered=mastered(entry, accuracy, min_answers),
            )
        )
    return out


def topics_out(stats: dict[str, Any]) -> list[TopicMasteryOut]:
    return [
        TopicMasteryOut(
            topic=topic,
            attempts=entry.get("attempts", 0),
            passed=entry.get("passed", 0),
            pass_rate=ratio(entry.get("passed", 0), entry.get("attempts", 0)),
        )
        for topic, entry in sorted(stats.get("topics", {}).items())
    ]


def progress_summary(stats: dict[str, Any], now: datetime) -> ProgressOut:
    today = local_day(now, stats.get("timezone"))
    last = stats.get("last_active_day")
    return ProgressOut(
        user_id=stats["user_id"],
        xp=int(stats["xp"]),
        current_streak=current_streak(stats, today),
        longest_streak=int(stats["longest_streak"]),
        last_active_day=date.fromisoformat(last) if last else None,
        timezone=str(stats.get("timezone") or "UTC"),
        questions_answered=int(stats["questions_answered"]),
        questions_correct=int(stats["questions_correct"]),
        accuracy=ratio(stats["questions_correct"], stats["questions_answered"]),
        exams_completed=int(stats["exams_completed"]),
        average_exam_score=round(stats["exam_score_total"] / stats["exams_completed"], 2)
        if stats["exams_completed"]
        else 0.0,
        best_exam_score=float(stats["best_exam_score"]),
        exercises_passed=int(stats["exercises_passed"]),
        lessons_completed=int(stats["lessons_completed"]),
        domains=domains_out(stats),
        topics=topics_out(stats),
        badges=badges_out(stats),
        updated_at=stats.get("updated_at"),
    )


def get_progress(principal: Principal, student_id: str, now: datetime) -> ProgressOut:
    """Access: the route's guard (shared.http.student_data)."""
    return progress_summary(read_stats(principal, student_id), now)


def get_badges(principal: Principal, user_id: str) -> list[BadgeOut]:
    """Access: the route's guard (shared.http.student_data)."""
    return badges_out(read_stats(principal, user_id))
