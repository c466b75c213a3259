"""Passwords: a forgotten one reset through a mailed token, a known one changed."""

from __future__ import annotations

from functions.auth import recovery
from functions.auth.models import (
    ChangePasswordIn,
    MessageOut,
    PasswordChangedOut,
    PasswordResetConfirmIn,
    PasswordResetRequestIn,
)
from shared.http import PUBLIC, SIGNED_IN, Call, HttpFunction
from shared.ratelimit import per_ip

reset_request_route = HttpFunction("auth-password-reset-request", "/api/v1/auth/password-reset-request")
reset_confirm_route = HttpFunction("auth-password-reset-confirm", "/api/v1/auth/password-reset-confirm")
change_password_route = HttpFunction("auth-change-password", "/api/v1/auth/change-password")

# Per-IP limit (production default; the setting ip_limit_password_reset overrides it).
RESET_LIMIT = per_ip("password_reset", default=20, window_seconds=3600)


@reset_request_route.post(PUBLIC, body=PasswordResetRequestIn, response=MessageOut, status=202, before=(RESET_LIMIT,))
def password_reset_request(call: Call[PasswordResetRequestIn, None]) -> MessageOut:
    """Mail a reset link if the email has an account; the answer is the same either way."""
    recovery.request_password_reset(email=call.body.email, client=call.client, now=call.now)
    return MessageOut(message="If an account uses this email, a reset link is on its way.")


@reset_confirm_route.post(
    PUBLIC, body=PasswordResetConfirmIn, response=MessageOut, before=(RESET_LIMIT,), errors=(404,)
)
def password_reset_confirm(call: Call[PasswordResetConfirmIn, None]) -> MessageOut:
    """Set a new password with the mailed single-use token; every session ends."""
    recovery.confirm_password_reset(
        token=call.body.token, new_password=call.body.new_password, client=call.client, now=call.now
    )
    return MessageOut(message="Your password is changed; sign in with it.")


@change_password_route.post(SIGNED_IN, body=ChangePasswordIn, response=PasswordChangedOut, errors=(429,))
def change_password(call: Call[ChangePasswordIn, None]) -> PasswordChangedOut:
    """Change the password with the current one; the other sessions end."""
    revoked = recovery.change_password(
        user_id=call.user.user_id,
        session_id=call.user.session_id,
        current_password=call.body.current_password,
        new_password=call.body.new_password,
        client=call.client,
        now=call.now,
    )
    return PasswordChangedOut(message="Your password is changed.", sessions_revoked=revoked)
