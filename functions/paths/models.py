"""Payloads of the learning-path routes, and the events the area consumes (parsed here, not with
another area's models)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from shared.interests import InterestId
from shared.validation import DISTINCT, WHITE_SPACE, Changes, Out, Page, PageQuery, Payload

LessonKind = Literal["reading", "video", "exercise", "practice_exam"]
Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Subject = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Description = Annotated[str, StringConstraints(max_length=2000)]
Topic = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@-]+$")]
VideoUrl = Annotated[str, StringConstraints(min_length=9, max_length=2000, pattern=f"^https://[^{WHITE_SPACE}]+$")]
Seconds = Annotated[int, Field(ge=1, le=24 * 3600)]

MAX_MODULES = 50
MAX_LESSONS = 300  # per path: the learner's progress on every lesson lives in one document
MAX_INTERESTS = 5
DEFAULT_PASS_SCORE = 70


# Authoring ---------------------------------------------------------------------------------------

# What each kind of lesson must carry and may not carry.
REQUIRED: dict[str, tuple[str, ...]] = {
    "reading": ("body",),
    "video": ("video_url",),
    "exercise": ("exercise_id",),
    "practice_exam": ("exam_type",),
}
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "reading": ("video_url", "exercise_id", "exam_type", "pass_score"),
    "video": ("exercise_id", "exam_type", "pass_score"),
    "exercise": ("video_url", "exam_type", "pass_score"),
    "practice_exam": ("video_url", "exercise_id"),
}


def _kind_rules(schema: dict[str, Any]) -> None:
    """REQUIRED and FORBIDDEN in the OpenAPI document: per kind, an if/then."""
    schema["allOf"] = [
        {
            "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
            "then": {
                "required": list(REQUIRED[kind]),
                "properties": {
                    **{name: {"not": {"type": "null"}} for name in REQUIRED[kind]},
                    **{name: {"type": "null"} for name in FORBIDDEN[kind]},
                },
            },
        }
        for kind in REQUIRED
    ]


class LessonIn(Payload):
    """A lesson. `id` names an existing lesson of this path (on PUT) to keep it and the
    learners' progress on it; a lesson without `id` is new and gets one."""

    model_config = ConfigDict(json_schema_extra=_kind_rules)

    id: Ref | None = None
    title: Title
    kind: LessonKind
    topic: Topic
    duration_seconds: Seconds
    body: Body | None = None
    video_url: VideoUrl | None = None
    exercise_id: Ref | None = None
    exam_type: Ref | None = None
    pass_score: Annotated[int, Field(ge=0, le=100)] | None = None

    @model_validator(mode="after")
    def _fits_its_kind(self) -> LessonIn:
        for name in REQUIRED[self.kind]:
            if getattr(self, name) is None:
                raise ValueError(f"A {self.kind} lesson needs {name}.")
        for name in FORBIDDEN[self.kind]:
            if getattr(self, name) is not None:
                raise ValueError(f"A {self.kind} lesson does not take {name}.")
        if self.kind == "practice_exam" and self.pass_score is None:
            self.pass_score = DEFAULT_PASS_SCORE
        return self


class ModuleIn(Payload):
    id: Ref | None = None
    title: Title
    lessons: Annotated[list[LessonIn], Field(min_length=1, max_length=MAX_LESSONS)]


class PathIn(Payload):
    """A whole path, modules and lessons inline, in order."""

    title: Title
    subject: Subject
    description: Description = ""
    interests: Annotated[list[InterestId], Field(max_length=MAX_INTERESTS), DISTINCT] = []
    modules: Annotated[list[ModuleIn], Field(min_length=1, max_length=MAX_MODULES)]

    @model_validator(mode="after")
    def _bounded(self) -> PathIn:
        if sum(len(m.lessons) for m in self.modules) > MAX_LESSONS:
            raise ValueError(f"A path holds at most {MAX_LESSONS} lessons.")
        return self


class PathListQuery(PageQuery):
    subject: Subject | None = None
    interest: InterestId | None = None


class LessonOut(Out):
    id: str
    title: str
    kind: LessonKind
    topic: str
    duration_seconds: int
    body: str | None = None
    video_url: str | None = None
    exercise_id: str | None = None
    exam_type: str | None = None
    pass_score: int | None = None


class ModuleOut(Out):
    id: str
    title: str
    lessons: list[LessonOut]


class PathSummaryOut(Out):
    id: str
    title: str
    subject: str
    description: str
    interests: list[str]
    module_count: int
    lesson_count: int
    estimated_minutes: int


PathSummaryPage = Page[PathSummaryOut]


class PathOut(PathSummaryOut):
    author_id: str
    created_at: datetime
    updated_at: datetime
    modules: list[ModuleOut]


# Learners ----------------------------------------------------------------------------------------


class LessonStateOut(Out):
    completed: bool = False
    watched_seconds: int = 0
    position_seconds: int = 0


class ProgressOut(Out):
    enrolled: bool
    percent: int
    completed_lessons: int
    next_lesson_id: str | None
    lessons: dict[str, LessonStateOut]


class PathDetailOut(PathOut):
    progress: ProgressOut


class EnrollmentOut(Out):
    path_id: str
    user_id: str
    enrolled: bool
    enrolled_at: datetime


class UserPathOut(Out):
    path_id: str
    title: str
    subject: str
    enrolled_at: datetime
    lesson_count: int
    completed_lessons: int
    percent: int
    next_lesson_id: str | None


UserPathPage = Page[UserPathOut]


class LessonProgressIn(Changes):
    """A report from the player or reader. `watched_seconds` is the client's running total of
    seconds actually played (video only); the server decides how much of it to believe."""

    watched_seconds: Annotated[int, Field(ge=0, le=24 * 3600)] | None = None
    position_seconds: Annotated[int, Field(ge=0, le=24 * 3600)] | None = None
    completed: bool | None = None


class LessonProgressOut(Out):
    lesson_id: str
    path_id: str
    kind: LessonKind
    completed: bool
    completed_at: datetime | None
    watched_seconds: int
    position_seconds: int
    duration_seconds: int
    path_percent: int
    next_lesson_id: str | None
