"""Payloads of the student profile and interest routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from shared.validation import Out, Payload

Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
InterestId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MIN_INTERESTS = 1
MAX_INTERESTS = 5


class InterestOut(Out):
    id: str
    name: str
    category: str


class InterestCatalogue(Out):
    items: list[InterestOut]


class InterestsIn(Payload):
    interest_ids: Annotated[list[InterestId], Field(min_length=MIN_INTERESTS, max_length=MAX_INTERESTS)]

    @field_validator("interest_ids")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("Each interest may be chosen once.")
        return value


class InterestsOut(Out):
    student_id: str
    interest_ids: list[str]
    interests: list[InterestOut]


class ProfilePatch(Payload):
    first_name: Name | None = None
    last_name: Name | None = None
    grade_level: Annotated[int, Field(ge=9, le=12)] | None = None

    @model_validator(mode="after")
    def _something(self) -> ProfilePatch:
        if not self.model_fields_set:
            raise ValueError("Send at least one field to change.")
        for name in ("first_name", "last_name"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null.")
        return self


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
