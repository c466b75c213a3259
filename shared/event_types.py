"""One model per domain event: the `data` of its envelope, shared by publisher and consumers.

A publisher builds the model (so a wrong payload fails where it is made) and hands it to
`shared.events.publish`; `shared.events.subscriber` validates every delivery against the model
of its topic once, and acknowledges, logged, a message that does not fit (no retry can mend it).
A consumer reads the parsed model with `event.data_as(Model)`.

Fields a publisher adds later are kept (extra="allow") so that adding one never breaks a
consumer; a missing or wrong field rejects the event.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.registry import published

# Each domain topic, named once: publishers and consumers (`@subscriber(..., topic=...)`) use these.
USER_REGISTERED = published("user.registered", by=("auth", "classes", "schools"))
EXAM_ANSWERED = published("exam.answered", by=("exams",))
EXAM_COMPLETED = published("exam.completed", by=("exams",))
SUBMISSION_CREATED = published("submission.created", by=("exercises",))
SUBMISSION_GRADED = published("submission.graded", by=("exercises",))
LESSON_COMPLETED = published("lesson.completed", by=("paths",))
CLASS_JOINED = published("class.joined", by=("classes",))
CLASS_LEFT = published("class.left", by=("classes",))
MESSAGE_POSTED = published("chat.message.posted", by=("chat",))

Key = Annotated[str, StringConstraints(min_length=1, max_length=128)]
# An id that becomes a document path segment.
Segment = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^/]+$")]


class EventData(BaseModel):
    model_config = ConfigDict(extra="allow")

    user_id: Key


class UserRegistered(EventData):
    role: str = "student"
    email_domain: str = ""

    @classmethod
    def of_account(cls, user_id: str, user: dict[str, Any]) -> UserRegistered:
        """The event of a new account, from its user document (`shared.accounts.new_user`)."""
        return cls(user_id=user_id, role=user["role"], email_domain=user["email"].split("@")[-1])


class ExamAnswered(EventData):
    session_id: Key
    exam_type: Key
    question_id: Key
    domain: Key
    correct: bool | None = None
    mode: str = "practice"


class DomainResult(BaseModel):
    model_config = ConfigDict(extra="allow")

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


class SubmissionCreated(EventData):
    submission_id: Segment
    exercise_id: Key


class SubmissionGraded(EventData):
    submission_id: Key
    exercise_id: Key
    topic: Key
    score: float = Field(ge=0, le=100)
    passed: bool
    verdict: str | None = None


class LessonCompleted(EventData):
    lesson_id: Key
    path_id: Key | None = None
    topic: Key | None = None


class ClassMembershipChanged(EventData):
    """`class.joined` and `class.left`."""

    class_id: Key


class MessagePosted(EventData):
    session_id: Segment
    message_id: Segment


MODELS: dict[str, type[EventData]] = {
    USER_REGISTERED: UserRegistered,
    EXAM_ANSWERED: ExamAnswered,
    EXAM_COMPLETED: ExamCompleted,
    SUBMISSION_CREATED: SubmissionCreated,
    SUBMISSION_GRADED: SubmissionGraded,
    LESSON_COMPLETED: LessonCompleted,
    CLASS_JOINED: ClassMembershipChanged,
    CLASS_LEFT: ClassMembershipChanged,
    MESSAGE_POSTED: MessagePosted,
}
