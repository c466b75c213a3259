"""Payloads and responses of the coding-exercise routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_serializer

from shared.answers import HIDDEN_RESULT_FIELDS
from shared.validation import Out, PageQuery, Payload

MAX_CODE_BYTES = 64 * 1024
MAX_TESTS = 20
MAX_TEST_TEXT = 16 * 1024
MAX_TIME_LIMIT_MS = 10_000
MAX_MEMORY_LIMIT_MB = 512

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$"
TOPIC_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"

Difficulty = Literal["beginner", "intermediate", "advanced"]
Language = Literal["python"]
Verdict = Literal[
    "accepted",
    "wrong_answer",
    "time_limit_exceeded",
    "memory_limit_exceeded",
    "runtime_error",
    "syntax_error",
    "output_limit_exceeded",
    "internal_error",
]
SubmissionStatus = Literal["queued", "running", "graded"]

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Topic = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60, pattern=TOPIC_PATTERN)]
ExerciseKey = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=ID_PATTERN)]
# Program text keeps its white space exactly (indentation, trailing newlines of an input).
TestText = Annotated[str, StringConstraints(max_length=MAX_TEST_TEXT)]


def _code_size(value: str) -> str:
    if len(value.encode("utf-8")) > MAX_CODE_BYTES:
        raise ValueError(f"Code is limited to {MAX_CODE_BYTES // 1024} KiB.")
    return value


class _Program(Payload):
    model_config = ConfigDict(extra="forbid", str_max_length=MAX_CODE_BYTES, str_strip_whitespace=False)


class TestCaseIn(_Program):
    name: Title
    stdin: TestText = ""
    code: TestText = ""
    expected_output: TestText
    hidden: bool = False
    weight: float = Field(default=1, gt=0, le=1000)


class ExerciseIn(_Program):
    title: Title
    description: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
    topic: Topic
    difficulty: Difficulty
    language: Language = "python"
    starter_code: str = ""
    hints: Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=2000)]], Field(max_length=20)] = []
    time_limit_ms: int = Field(default=2000, ge=100, le=MAX_TIME_LIMIT_MS)
    memory_limit_mb: int = Field(default=128, ge=32, le=MAX_MEMORY_LIMIT_MB)
    tests: Annotated[list[TestCaseIn], Field(min_length=1, max_length=MAX_TESTS)]
    solution: str | None = Field(default=None, description="When given, it must pass every test (else 422).")

    @field_validator("starter_code", "solution")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        return None if value is None else _code_size(value)


class ExerciseListQuery(PageQuery):
    topic: Topic | None = None
    difficulty: Difficulty | None = None


class _DropNone(Out):
    """Optional keys a viewer may not see are left out, not sent as null."""

    @model_serializer(mode="wrap")
    def _drop_none(self, handler: Any) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


class TestCaseOut(_DropNone):
    name: str
    hidden: bool
    weight: float
    stdin: str | None = None
    code: str | None = None
    expected_output: str | None = None


class ExerciseOut(_DropNone):
    id: str
    title: str
    description: str
    topic: str
    difficulty: Difficulty
    language: Language
    starter_code: str
    hints: list[str]
    time_limit_ms: int
    memory_limit_mb: int
    tests: list[TestCaseOut]
    solution: str | None = None
    author_id: str
    created_at: datetime
    updated_at: datetime


class SubmissionIn(_Program):
    exercise_id: ExerciseKey
    code: Annotated[str, StringConstraints(min_length=1)]
    language: Language

    @field_validator("code")
    @classmethod
    def _size(cls, value: str) -> str:
        return _code_size(value)


class SubmissionQueuedOut(Out):
    id: str
    exercise_id: str
    user_id: str
    status: SubmissionStatus
    created_at: datetime


class TestResultOut(Out):
    """A hidden test's result shows only its name and outcome (shared.answers.hidden_result); a
    visible one also its time, output, the expected output and the error (null when it passed)."""

    name: str
    passed: bool
    verdict: Verdict
    time_ms: int | None = None
    hidden: bool = False
    stdout: str | None = None
    expected_output: str | None = None
    error: str | None = None

    @model_serializer(mode="wrap")
    def _hide(self, handler: Any) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.hidden:
            return {k: data[k] for k in HIDDEN_RESULT_FIELDS}
        return data


class SubmissionOut(Out):
    id: str
    exercise_id: str
    user_id: str
    language: Language = "python"
    code: str
    status: SubmissionStatus
    verdict: Verdict | None = None
    score: float | None = None
    auto_score: float | None = None
    tests_passed: int | None = None
    tests_total: int | None = None
    results: list[TestResultOut] = []
    feedback: str | None = None
    evaluated_by: str | None = None
    created_at: datetime
    graded_at: datetime | None = None


class SubmissionListQuery(PageQuery):
    exercise_id: ExerciseKey | None = None


class EvaluationIn(Payload):
    score: float = Field(ge=0, le=100)
    feedback: Annotated[str, StringConstraints(max_length=5000)] = ""
