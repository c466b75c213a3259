"""Payloads of the auth routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from shared.accounts import GradeLevel, Name, TimeZone, UserOut
from shared.emails import Email, EmailLookup
from shared.emails import normalize_email as normalize_email  # re-exported: the one normaliser
from shared.passwords import MAX_LENGTH, MIN_LENGTH, NEW_PASSWORD_RULES
from shared.validation import Out, Page, Payload

# Passwords keep every character, leading and trailing spaces included.
Password = Annotated[str, StringConstraints(strip_whitespace=False, min_length=1, max_length=MAX_LENGTH)]
# A password being set: the policy of shared.passwords, as far as a schema can say it (the rest in
# its description).
NewPassword = Annotated[
    str,
    StringConstraints(strip_whitespace=False, min_length=MIN_LENGTH, max_length=MAX_LENGTH),
    Field(json_schema_extra=NEW_PASSWORD_RULES),
]


class RegisterIn(Payload):
    email: Email
    password: NewPassword
    first_name: Name
    last_name: Name
    role: Literal["student", "teacher", "admin"] = "student"
    grade_level: GradeLevel | None = None
    timezone: TimeZone = "UTC"
    # A school's invitation (shared/schools.py): the account gets its role and school.
    invitation_token: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = None


class LoginIn(Payload):
    email: EmailLookup
    password: Password


class RefreshIn(Payload):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=512)]


class LogoutQuery(Payload):
    all_devices: bool = False


class TokensOut(Out):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    user: UserOut


class PasswordResetRequestIn(Payload):
    email: EmailLookup


class PasswordResetConfirmIn(Payload):
    token: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    new_password: NewPassword


class ChangePasswordIn(Payload):
    current_password: Password
    new_password: NewPassword


class MessageOut(Out):
    message: str


class VerifyEmailIn(Payload):
    token: Annotated[str, StringConstraints(min_length=1, max_length=512)]


class EmailVerifiedOut(Out):
    message: str
    email_verified: bool


class PasswordChangedOut(Out):
    message: str
    sessions_revoked: int


class SessionOut(Out):
    id: str
    device: str
    ip: str
    user_agent: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime | None = None
    current: bool


SessionsPage = Page[SessionOut]
