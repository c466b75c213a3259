"""The learning events the progress pipeline consumes, and what its routes answer."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.validation import Out

Key = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class EventData(BaseModel):
    """An event's `data`: fields added later by a publisher are ignored, missing ones reject it."""

    model_config = ConfigDict(extra="ignore")

    user_id: Key


class ExamAnswered(EventData):
    session_id: Key
    exam_type: Key
    question_id: Key
    domain: Key
    correct: bool | None = None
    mode: str = "practice"


class DomainResult(BaseModel):
    model_config = ConfigDict(extra="ignore")

    domain: Key
    correct: int = Field(ge=0)
    total: int = Field(ge=0)


class ExamCompleted(EventData):
    session_id: Key
    exam_type: Key
    mode: str = "practice"
    score: float = Field(ge=0, le=100)
    correct: int = Field(ge=0)
    total: int = Field(ge=0)
    domains: list[DomainResult] = []


class SubmissionGraded(EventData):
    submission_id: Key
    exercise_id: Key
    topic: Key
    score: float = Field(ge=0, le=100)
    passed: bool


class LessonCompleted(EventData):
    lesson_id: Key
    path_id: Key | None = None
    topic: Key | None = None


class ClassMembershipChanged(EventData):
    class_id: Key


# Responses -------------------------------------------------------------------------------------


class BadgeOut(Out):
    id: str
    name: str
    description: str
    awarded_at: datetime | None = None


class BadgePage(Out):
    items: list[BadgeOut]
    next_cursor: str | None = None


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
