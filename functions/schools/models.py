"""Payloads of the school routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import StringConstraints

from shared.accounts import UserOut
from shared.emails import Email
from shared.validation import Out, Page, PageQuery, Payload

SchoolName = Annotated[str, StringConstraints(min_length=1, max_length=120)]
# The roles a school gives (shared.schools.SCHOOL_ROLES): never `admin`, the platform's own.
SchoolRole = Literal["student", "teacher", "school_admin"]
Token = Annotated[str, StringConstraints(min_length=1, max_length=512)]


class SchoolIn(Payload):
    name: SchoolName


class SchoolOut(Out):
    id: str
    name: str
    created_at: datetime
    updated_at: datetime | None = None


class InvitationIn(Payload):
    email: Email
    role: SchoolRole


class InvitationOut(Out):
    id: str
    school_id: str
    email: str
    role: SchoolRole
    created_at: datetime
    expires_at: datetime


class AcceptIn(Payload):
    token: Token


class MembersQuery(PageQuery):
    role: SchoolRole | None = None


class MemberPatch(Payload):
    role: SchoolRole | None = None


SchoolsPage = Page[SchoolOut]
InvitationsPage = Page[InvitationOut]
MembersPage = Page[UserOut]
