"""What the progress routes answer (the events it consumes: shared/event_types.py)."""

from __future__ import annotations

from datetime import date, datetime

from shared.validation import Out, Page

# Responses -------------------------------------------------------------------------------------


class BadgeOut(Out):
    id: str
    name: str
    description: str
    awarded_at: datetime | None = None


BadgePage = Page[BadgeOut]


class DomainMasteryOut(Out):
    exam_type: str
    domain: str
    answered: int
    correct: int
    accuracy: float
    mastered: bool


class TopicMasteryOut(Out):
    topic: str
    attempts: int
    passed: int
    pass_rate: float


class ProgressOut(Out):
    user_id: str
    xp: int
    current_streak: int
    longest_streak: int
    last_active_day: date | None
    timezone: str
    questions_answered: int
    questions_correct: int
    accuracy: float
    exams_completed: int
    average_exam_score: float
    best_exam_score: float
    exercises_passed: int
    lessons_completed: int
    domains: list[DomainMasteryOut]
    topics: list[TopicMasteryOut]
    badges: list[BadgeOut]
    updated_at: datetime | None = None
