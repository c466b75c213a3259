"""Payloads of the class routes: classes, rosters, joins, student account requests, dashboard."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from shared.emails import Email
from shared.validation import DISTINCT, Changes, NotNull, Out, Page, PageQuery, Payload

ClassName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Subject = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Description = Annotated[str, StringConstraints(max_length=1000)]
GradeLevel = Annotated[int, Field(ge=9, le=12)]
PersonName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
ClassStatus = Literal["active", "archived"]
RequestStatus = Literal["pending", "approved", "rejected"]


GradeLevels = Annotated[list[GradeLevel], Field(max_length=4), DISTINCT, AfterValidator(sorted)]


class ClassIn(Payload):
    name: ClassName
    subject: Subject
    description: Description = ""
    grade_levels: GradeLevels = []


class ClassPatch(Changes):
    name: NotNull[ClassName] = None
    subject: NotNull[Subject] = None
    description: NotNull[Description] = None
    grade_levels: NotNull[GradeLevels] = None


class ClassOut(Out):
    id: str
    teacher_id: str
    # The school of the teacher when the class was made (shared/schools.py), if any.
    school_id: str | None = None
    name: str
    subject: str
    description: str = ""
    grade_levels: list[int] = []
    class_code: str
    status: ClassStatus
    student_count: int
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = None


class ClassListQuery(PageQuery):
    status: ClassStatus = "active"


ClassPage = Page[ClassOut]


class JoinIn(Payload):
    class_code: Annotated[str, StringConstraints(min_length=1, max_length=40)]


class MembershipOut(Out):
    class_id: str
    student_id: str
    teacher_id: str
    name: str
    subject: str
    status: Literal["active", "removed"]
    joined_at: datetime


class RosterEntry(Out):
    student_id: str
    first_name: str
    last_name: str
    grade_level: int | None = None
    joined_at: datetime


RosterPage = Page[RosterEntry]


# Student account requests ----------------------------------------------------------------------


class StudentRequestIn(Payload):
    first_name: PersonName
    last_name: PersonName
    email: Email
    class_id: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]
    grade_level: GradeLevel | None = None


class RejectIn(Payload):
    reason: Annotated[str, StringConstraints(max_length=500)] = ""


class StudentRequestOut(Out):
    id: str
    teacher_id: str
    class_id: str
    class_name: str
    first_name: str
    last_name: str
    email: str
    grade_level: int | None = None
    status: RequestStatus
    created_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    reason: str | None = None
    student_id: str | None = None


class RequestListQuery(PageQuery):
    status: RequestStatus | None = None


class AdminRequestListQuery(PageQuery):
    status: RequestStatus = "pending"


StudentRequestPage = Page[StudentRequestOut]


# Dashboard --------------------------------------------------------------------------------------


class DashboardQuery(PageQuery):
    limit: Annotated[int, Field(ge=1, le=10)] = 5


class ActiveStudent(Out):
    student_id: str
    first_name: str
    last_name: str
    last_active_at: datetime


class DomainStat(Out):
    exam_type: str
    domain: str
    answered: int
    correct: int
    accuracy: float


class ClassDashboard(Out):
    class_id: str
    name: str
    subject: str
    class_code: str
    student_count: int
    students_considered: int
    active_last_7_days: int
    active_students: list[ActiveStudent]
    exams_completed: int
    average_exam_score: float | None
    weakest_domains: list[DomainStat]


class DashboardOut(Out):
    teacher_id: str
    generated_at: datetime
    items: list[ClassDashboard]
    next_cursor: str | None
