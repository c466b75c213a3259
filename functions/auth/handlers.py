"""Auth routes: register, login, refresh, logout, me."""

from __future__ import annotations

from typing import Any

from functions.auth import service
from functions.auth.models import LoginIn, LogoutQuery, RefreshIn, RegisterIn, TokensOut, UserOut
from shared.auth import authenticate, require_role
from shared.http import PUBLIC, Call, HttpFunction, Response

register_route = HttpFunction("auth-register", "/api/v1/auth/register")
login_route = HttpFunction("auth-login", "/api/v1/auth/login")
refresh_route = HttpFunction("auth-refresh", "/api/v1/auth/refresh")
logout_route = HttpFunction("auth-logout", "/api/v1/auth/logout")
me_route = HttpFunction("auth-me", "/api/v1/auth/me")


def _client(call: Call[Any, Any]) -> service.Client:
    return service.Client(ip=call.ip, user_agent=call.user_agent)


@register_route.post(PUBLIC, body=RegisterIn, response=TokensOut, status=201)
def register(call: Call[RegisterIn, None]) -> TokensOut:
    """Create an account and sign it in. Only an admin may create an admin."""
    body = call.body
    if body.role == "admin":
        require_role(authenticate(call.request.headers.get("Authorization"), call.now), ["admin"])
    return service.register(
        email=body.email,
        password=body.password,
        first_name=body.first_name,
        last_name=body.last_name,
        role=body.role,
        grade_level=body.grade_level,
        client=_client(call),
        now=call.now,
    )


@login_route.post(PUBLIC, body=LoginIn, response=TokensOut)
def login(call: Call[LoginIn, None]) -> TokensOut:
    """Sign in with email and password."""
    return service.login(email=call.body.email, password=call.body.password, client=_client(call), now=call.now)


@refresh_route.post(PUBLIC, body=RefreshIn, response=TokensOut)
def refresh(call: Call[RefreshIn, None]) -> TokensOut:
    """Trade a refresh token for a new pair; the old one is spent."""
    return service.refresh(refresh_token=call.body.refresh_token, client=_client(call), now=call.now)


@logout_route.post(query=LogoutQuery, status=204)
def logout(call: Call[None, LogoutQuery]) -> Response:
    """End this session, or every session with `?all_devices=true`."""
    service.logout(
        user_id=call.user.user_id, session_id=call.user.session_id, all_devices=call.query.all_devices, now=call.now
    )
    return Response(status=204)


@me_route.get(response=UserOut)
def me(call: Call[None, None]) -> UserOut:
    """The signed-in user."""
    return service.get_user(call.user.user_id)
