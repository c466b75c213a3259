"""Analytics, read from aggregates the event functions keep: no scans at read time.

Class and exercise aggregates are sharded counters written by the progress event functions
(shared/aggregates.py), summed here (one query, at most SHARDS reads). Student
analytics are derived from the student's own `user_stats` document (one read).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from functions.analytics.models import (
    ClassAnalyticsOut,
    DayOut,
    DomainStatOut,
    ExamTypeStatOut,
    ExerciseAnalyticsOut,
    SchoolAnalyticsOut,
    StudentAnalyticsOut,
    TopicStatOut,
)
from shared import stats as progress
from shared import store
from shared.access import require_class_teacher
from shared.aggregates import CLASS_STATS, EXERCISE_STATS, SCHOOL_STATS
from shared.auth import Principal
from shared.collections import SCHOOLS
from shared.errors import NotFound
from shared.stats import ratio

RECENT_DAYS = 30


# Reading -----------------------------------------------------------------------------------------------


def _sum_shards(collection: str, key: str) -> dict[str, Any]:
    """The shards of one aggregate added up: counters summed, `domains` summed per key."""
    total: dict[str, Any] = {"domains": {}}
    for snapshot in store.db().collection(collection).document(key).collection("shards").stream():
        for name, value in (snapshot.to_dict() or {}).items():
            if name == "domains" and isinstance(value, dict):
                for domain, counts in value.items():
                    entry = total["domains"].setdefault(domain, {"answered": 0, "correct": 0})
                    for counter, n in counts.items():
                        entry[counter] = entry.get(counter, 0) + n
            elif isinstance(value, int | float) and not isinstance(value, bool):
                total[name] = total.get(name, 0) + value
    return total


def weakest_domains(domains: dict[str, dict[str, int]]) -> list[DomainStatOut]:
    out = []
    for key, entry in domains.items():
        exam_type, _, domain = key.partition("|")
        answered, correct = int(entry.get("answered", 0)), int(entry.get("correct", 0))
        out.append(
            DomainStatOut(
                exam_type=exam_type,
                domain=domain,
                answered=answered,
                correct=correct,
                accuracy=ratio(correct, answered),
            )
        )
    return sorted(out, key=lambda d: (d.accuracy, -d.answered, d.exam_type, d.domain))


def recent_days(daily: dict[str, dict[str, int]], today: date) -> list[DayOut]:
    start = today - timedelta(days=RECENT_DAYS - 1)
    days: Iterable[tuple[str, dict[str, int]]] = sorted(daily.items())
    return [
        DayOut(
            day=date.fromisoformat(day), xp=v.get("xp", 0), answered=v.get("answered", 0), correct=v.get("correct", 0)
        )
        for day, v in days
        if start <= date.fromisoformat(day) <= today
    ]


def learning_totals(totals: dict[str, Any]) -> dict[str, Any]:
    """The shared totals of a student's stats or a class's summed shards."""
    completed = int(totals.get("exams_completed", 0))
    return {
        "xp": int(totals.get("xp", 0)),
        "questions_answered": int(totals.get("questions_answered", 0)),
        "questions_correct": int(totals.get("questions_correct", 0)),
        "accuracy": ratio(totals.get("questions_correct", 0), totals.get("questions_answered", 0)),
        "exams_completed": completed,
        "average_exam_score": round(totals.get("exam_score_total", 0) / completed, 2) if completed else 0.0,
        "exercises_passed": int(totals.get("exercises_passed", 0)),
        "lessons_completed": int(totals.get("lessons_completed", 0)),
    }


def student_analytics(stats: dict[str, Any], today: date, current_streak: int) -> StudentAnalyticsOut:
    return StudentAnalyticsOut(
        student_id=stats["user_id"],
        **learning_totals(stats),
        active_days=len(stats.get("daily", {})),
        current_streak=current_streak,
        longest_streak=int(stats.get("longest_streak", 0)),
        last_30_days=recent_days(stats.get("daily", {}), today),
        weakest_domains=weakest_domains(stats.get("domains", {})),
        exam_types=[
            ExamTypeStatOut(
                exam_type=exam_type,
                completed=int(v.get("completed", 0)),
                average_score=round(v.get("score_total", 0) / v["completed"], 2) if v.get("completed") else 0.0,
                best_score=float(v.get("best", 0)),
                xp=int(v.get("xp", 0)),
            )
            for exam_type, v in sorted(stats.get("exam_types", {}).items())
        ],
        topics=[
            TopicStatOut(
                topic=topic,
                attempts=int(v.get("attempts", 0)),
                passed=int(v.get("passed", 0)),
                pass_rate=ratio(v.get("passed", 0), v.get("attempts", 0)),
            )
            for topic, v in sorted(stats.get("topics", {}).items())
        ],
    )


def exercise_analytics(exercise_id: str) -> ExerciseAnalyticsOut:
    """An exercise nobody has submitted to answers zeros (exercises live in another area)."""
    t = _sum_shards(EXERCISE_STATS, exercise_id)
    submissions = int(t.get("submissions", 0))
    students = int(t.get("students", 0))
    return ExerciseAnalyticsOut(
        exercise_id=exercise_id,
        attempts=submissions,
        submissions=submissions,
        passed_submissions=int(t.get("passed_submissions", 0)),
        pass_rate=ratio(t.get("passed_submissions", 0), submissions),
        average_score=round(t.get("score_total", 0) / submissions, 2) if submissions else 0.0,
        students=students,
        students_passed=int(t.get("students_passed", 0)),
        completion_rate=ratio(t.get("students_passed", 0), students),
        mastery_rate=ratio(t.get("students_mastered", 0), students),
    )


def class_analytics(class_id: str) -> ClassAnalyticsOut:
    t = _sum_shards(CLASS_STATS, class_id)
    return ClassAnalyticsOut(
        class_id=class_id,
        **learning_totals(t),
        weakest_domains=weakest_domains(t["domains"]),
    )


def get_student_analytics(principal: Principal, student_id: str, now: datetime) -> StudentAnalyticsOut:
    """Access: the route's guard (shared.http.student_data)."""
    stats = progress.read_stats(principal, student_id)
    today = progress.local_day(now, stats.get("timezone"))
    return student_analytics(stats, today, progress.current_streak(stats, today))


def get_exercise_analytics(exercise_id: str) -> ExerciseAnalyticsOut:
    return exercise_analytics(exercise_id)


def get_school_analytics(school_id: str) -> SchoolAnalyticsOut:
    """The school document (its counts) and its summed shards: 1 read plus one query of at most
    SHARDS reads, whatever the school's size. Who may ask is the route's (its school admins, admins)."""
    school = store.db().collection(SCHOOLS).document(school_id).get().to_dict()
    if school is None:
        raise NotFound("No such school.")
    counts = school.get("counts") or {}
    totals = _sum_shards(SCHOOL_STATS, school_id)
    return SchoolAnalyticsOut(
        school_id=school_id,
        name=school["name"],
        classes=int(school.get("class_count", 0)),
        students=int(counts.get("student", 0)),
        teachers=int(counts.get("teacher", 0)),
        school_admins=int(counts.get("school_admin", 0)),
        **learning_totals(totals),
        weakest_domains=weakest_domains(totals["domains"]),
    )


def get_class_analytics(principal: Principal, class_id: str) -> ClassAnalyticsOut:
    require_class_teacher(principal, class_id)
    return class_analytics(class_id)
