"""Payloads of the tutor chat: sessions, messages, the live-follow token."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from shared.validation import NotNull, Out, PageQuery, Payload

MAX_CONTENT = 4000
Ident = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")]


class ContextIn(Payload):
    """What the chat is about: at most one exercise, question, lesson or exam session."""

    model_config = ConfigDict(json_schema_extra={"maxProperties": 1})

    exercise_id: NotNull[Ident] = None
    question_id: NotNull[Ident] = None
    lesson_id: NotNull[Ident] = None
    exam_session_id: NotNull[Ident] = None

    @model_validator(mode="after")
    def _one_at_most(self) -> ContextIn:
        if len(self.given()) > 1:
            raise ValueError("Give at most one of exercise_id, question_id, lesson_id, exam_session_id.")
        return self

    def given(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class SessionIn(Payload):
    topic: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    context: ContextIn | None = None


class SessionOut(Out):
    id: str
    user_id: str
    topic: str | None
    context: dict[str, str] | None
    status: Literal["open", "ended"]
    created_at: datetime
    ended_at: datetime | None = None


class MessageIn(Payload):
    # Whitespace is stripped first (Payload), so a blank message is empty: 422.
    content: Annotated[str, StringConstraints(min_length=1, max_length=MAX_CONTENT)]


class SourceOut(Out):
    kind: Literal["question", "lesson", "exercise"]
    id: str
    title: str


class MessageOut(Out):
    id: str
    session_id: str
    role: Literal["user", "assistant"]
    content: str
    sources: list[SourceOut] = Field(default_factory=list)
    created_at: datetime


class MessageListQuery(PageQuery):
    pass


class SessionListQuery(PageQuery):
    pass


class FirebaseTokenOut(Out):
    token: str
    expires_in: int
