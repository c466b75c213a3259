"""Signing in and out: register, login, refresh, logout."""

from __future__ import annotations

from functions.auth import refresh as rotation
from functions.auth import service
from functions.auth.models import (
    LoginIn,
    LogoutQuery,
    RefreshIn,
    RegisterIn,
    TokensOut,
)
from shared.auth import authenticate, require_role
from shared.http import PUBLIC, SIGNED_IN, Call, HttpFunction, Response
from shared.ratelimit import per_ip

register_route = HttpFunction("auth-register", "/api/v1/auth/register")
login_route = HttpFunction("auth-login", "/api/v1/auth/login")
refresh_route = HttpFunction("auth-refresh", "/api/v1/auth/refresh")
logout_route = HttpFunction("auth-logout", "/api/v1/auth/logout")

# Per-IP limits (production defaults; settings ip_limit_<name> override).
REGISTER_LIMIT = per_ip("register", default=50, window_seconds=3600)
LOGIN_LIMIT = per_ip("login", default=300, window_seconds=900)


@register_route.post(
    PUBLIC, body=RegisterIn, response=TokensOut, status=201, before=(REGISTER_LIMIT,), errors=(401, 403, 409)
)
def register(call: Call[RegisterIn, None]) -> TokensOut:
    """Create an account and sign it in. Only an admin may create an admin; with an invitation,
    the account gets the invitation's role and school."""
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
        invitation_token=body.invitation_token,
    )


@login_route.post(PUBLIC, body=LoginIn, response=TokensOut, before=(LOGIN_LIMIT,), errors=(401, 403))
def login(call: Call[LoginIn, None]) -> TokensOut:
    """Sign in with email and password. Repeated failures lock the login for a growing while."""
    return service.login(email=call.body.email, password=call.body.password, client=call.client, now=call.now)


@refresh_route.post(PUBLIC, body=RefreshIn, response=TokensOut, errors=(401, 403, 409))
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
