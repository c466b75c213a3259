"""Payloads of the student profile and interest routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from shared.interests import InterestId
from shared.validation import DISTINCT, Changes, NotNull, Out, Payload

Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
MIN_INTERESTS = 1
MAX_INTERESTS = 5


class InterestOut(Out):
    id: str
    name: str
    category: str


class InterestCatalogue(Out):
    items: list[InterestOut]


class InterestsIn(Payload):
    interest_ids: Annotated[list[InterestId], Field(min_length=MIN_INTERESTS, max_length=MAX_INTERESTS), DISTINCT]


class InterestsOut(Out):
    student_id: str
    interest_ids: list[str]
    interests: list[InterestOut]


class ProfilePatch(Changes):
    first_name: NotNull[Name] = None
    last_name: NotNull[Name] = None
    grade_level: Annotated[int, Field(ge=9, le=12)] | None = None  # null: no grade


class EnrolledClass(Out):
    class_id: str
    name: str
    subject: str
    teacher_id: str
    status: Literal["active", "archived"]
    joined_at: datetime


class ProfileOut(Out):
    id: str
    email: str
    first_name: str
    last_name: str
    grade_level: int | None = None
    interest_ids: list[str]
    interests: list[InterestOut]
    classes: list[EnrolledClass]
