"""Auth routes: register, login, refresh, logout, me, password reset and change, sessions."""

from __future__ import annotations

from functions.auth import recovery, service, sessions, verification
from functions.auth import refresh as rotation
from functions.auth.models import (
    ChangePasswordIn,
    EmailVerifiedOut,
    LoginIn,
    LogoutQuery,
    MessageOut,
    PasswordChangedOut,
    PasswordResetConfirmIn,
    PasswordResetRequestIn,
    RefreshIn,
    RegisterIn,
    SessionsPage,
    TokensOut,
    VerifyEmailIn,
)
from shared import store
from shared.accounts import UserOut
from shared.auth import authenticate, require_role
from shared.events import Event, subscriber
from shared.http import PUBLIC, SIGNED_IN, Call, HttpFunction, Response
from shared.ratelimit import per_ip
from shared.validation import PageQuery

register_route = HttpFunction("auth-register", "/api/v1/auth/register")
login_route = HttpFunction("auth-login", "/api/v1/auth/login")
refresh_route = HttpFunction("auth-refresh", "/api/v1/auth/refresh")
logout_route = HttpFunction("auth-logout", "/api/v1/auth/logout")
me_route = HttpFunction("auth-me", "/api/v1/auth/me")
reset_request_route = HttpFunction("auth-password-reset-request", "/api/v1/auth/password-reset-request")
reset_confirm_route = HttpFunction("auth-password-reset-confirm", "/api/v1/auth/password-reset-confirm")
change_password_route = HttpFunction("auth-change-password", "/api/v1/auth/change-password")
sessions_route = HttpFunction("auth-sessions", "/api/v1/auth/sessions")
session_route = HttpFunction("auth-sessions-item", "/api/v1/auth/sessions/{id}")
verify_email_route = HttpFunction("auth-verify-email", "/api/v1/auth/verify-email")
verify_resend_route = HttpFunction("auth-verify-email-resend", "/api/v1/auth/verify-email/resend")

# Per-IP limits (production defaults; settings ip_limit_<name> override).
REGISTER_LIMIT = per_ip("register", default=50, window_seconds=3600)
LOGIN_LIMIT = per_ip("login", default=300, window_seconds=900)
RESET_LIMIT = per_ip("password_reset", default=20, window_seconds=3600)
VERIFY_LIMIT = per_ip("verify_email", default=30, window_seconds=3600)


@register_route.post(PUBLIC, body=RegisterIn, response=TokensOut, status=201, before=(REGISTER_LIMIT,))
def register(call: Call[RegisterIn, None]) -> TokensOut:
    """Create an account and sign it in. Only an admin may create an admin."""
    body = call.body
    created_by = None
    if body.role == "admin":
        creator = authenticate(call.request.headers.get("Authorization"), call.now)
        require_role(creator, ["admin"])
        created_by = creator.user_id
    return service.register(
        email=body.email,
        password=body.password,
        first_name=body.first_name,
        last_name=body.last_name,
        role=body.role,
        grade_level=body.grade_level,
        timezone=body.timezone,
        client=call.client,
        now=call.now,
        created_by=created_by,
    )


@login_route.post(PUBLIC, body=LoginIn, response=TokensOut, before=(LOGIN_LIMIT,))
def login(call: Call[LoginIn, None]) -> TokensOut:
    """Sign in with email and password. Repeated failures lock the login for a growing while."""
    return service.login(email=call.body.email, password=call.body.password, client=call.client, now=call.now)


@refresh_route.post(PUBLIC, body=RefreshIn, response=TokensOut)
def refresh(call: Call[RefreshIn, None]) -> TokensOut:
    """Trade a refresh token for a new pair; the old one is spent."""
    return rotation.refresh(refresh_token=call.body.refresh_token, client=call.client, now=call.now)


@logout_route.post(SIGNED_IN, query=LogoutQuery, status=204)
def logout(call: Call[None, LogoutQuery]) -> Response:
    """End this session, or every session with `?all_devices=true`."""
    service.logout(
        user_id=call.user.user_id,
        session_id=call.user.session_id,
        all_devices=call.query.all_devices,
        client=call.client,
        now=call.now,
    )
    return Response(status=204)


@me_route.get(SIGNED_IN, response=UserOut)
def me(call: Call[None, None]) -> UserOut:
    """The signed-in user."""
    return service.get_user(call.user.user_id)


@reset_request_route.post(PUBLIC, body=PasswordResetRequestIn, response=MessageOut, status=202, before=(RESET_LIMIT,))
def password_reset_request(call: Call[PasswordResetRequestIn, None]) -> MessageOut:
    """Mail a reset link if the email has an account; the answer is the same either way."""
    recovery.request_password_reset(email=call.body.email, client=call.client, now=call.now)
    return MessageOut(message="If an account uses this email, a reset link is on its way.")


@reset_confirm_route.post(PUBLIC, body=PasswordResetConfirmIn, response=MessageOut, before=(RESET_LIMIT,))
def password_reset_confirm(call: Call[PasswordResetConfirmIn, None]) -> MessageOut:
    """Set a new password with the mailed single-use token; every session ends."""
    recovery.confirm_password_reset(
        token=call.body.token, new_password=call.body.new_password, client=call.client, now=call.now
    )
    return MessageOut(message="Your password is changed; sign in with it.")


@change_password_route.post(SIGNED_IN, body=ChangePasswordIn, response=PasswordChangedOut)
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


@sessions_route.get(SIGNED_IN, query=PageQuery, response=SessionsPage)
def list_sessions(call: Call[None, PageQuery]) -> store.Page:
    """The caller's live sessions: device, IP, created and last used."""
    return sessions.list_sessions(
        user_id=call.user.user_id,
        current=call.user.session_id,
        limit=call.query.limit,
        cursor=call.query.cursor,
        now=call.now,
    )


@session_route.delete(SIGNED_IN, status=204)
def revoke_session(call: Call[None, None]) -> Response:
    """End one of the caller's sessions (its tokens stop at once)."""
    sessions.revoke_session(user_id=call.user.user_id, session_id=call.params["id"], client=call.client, now=call.now)
    return Response(status=204)


@verify_email_route.post(PUBLIC, body=VerifyEmailIn, response=EmailVerifiedOut, before=(VERIFY_LIMIT,))
def verify_email(call: Call[VerifyEmailIn, None]) -> EmailVerifiedOut:
    """Confirm the email address with the mailed single-use token."""
    verification.verify(token=call.body.token, client=call.client, now=call.now)
    return EmailVerifiedOut(message="Your email address is confirmed.", email_verified=True)


@verify_resend_route.post(SIGNED_IN, response=MessageOut, status=202, before=(VERIFY_LIMIT,))
def resend_verification(call: Call[None, None]) -> MessageOut:
    """Mail a new confirmation link (nothing when the address is confirmed already)."""
    sent = verification.resend(user_id=call.user.user_id, now=call.now)
    return MessageOut(message="A new link is on its way." if sent else "Your email address is already confirmed.")


@subscriber("auth-on-user-registered", topic="user.registered")
def on_user_registered(event: Event) -> None:
    """A new account gets its verification mail, once however often the event arrives."""
    verification.on_user_registered(event)
