"""Payloads of the users routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import StringConstraints

from shared.accounts import GradeLevel, Name, TimeZone, UserOut
from shared.auth import Role as AnyRole
from shared.validation import NotNull, Out, Page, PageQuery, Payload

Role = Literal["student", "teacher", "admin"]


class UsersQuery(PageQuery):
    role: AnyRole | None = None
    status: Literal["active", "suspended", "archived"] | None = None


class UserPatchIn(Payload):
    """Names, grade and time zone: the user or an admin. `role`: an admin only, never on their own account."""

    first_name: NotNull[Name] = None
    last_name: NotNull[Name] = None
    grade_level: GradeLevel | None = None  # null: no grade
    timezone: NotNull[TimeZone] = None
    role: NotNull[Role] = None
    # A short public description; null or "" clears it.
    bio: Annotated[str, StringConstraints(max_length=500)] | None = None


class StatusIn(Payload):
    status: Literal["active", "suspended"]
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None


UsersPage = Page[UserOut]


class AvatarOut(Out):
    avatar_url: str


class ExportedDocument(Out):
    """One stored document: its id (null when the id itself is a secret's hash), its fields
    (hashes and mail bodies left out) and its subcollections."""

    id: str | None
    data: dict[str, Any]
    subcollections: dict[str, list[ExportedDocument]] = {}


class ExportOut(Out):
    """Everything held about a user: the documents of every collection that names them."""

    user_id: str
    generated_at: datetime
    collections: dict[str, list[ExportedDocument]]
