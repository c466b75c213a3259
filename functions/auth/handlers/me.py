"""Who is signed in: the most frequent call of all, in a module of its own so that its cold
start loads the shared kernel and the user model, and nothing of the other auth routes."""

from __future__ import annotations

from shared.accounts import UserOut, account_of
from shared.http import SIGNED_IN_WITH_ACCOUNT, Call, HttpFunction

me_route = HttpFunction("auth-me", "/api/v1/auth/me")


@me_route.get(SIGNED_IN_WITH_ACCOUNT, response=UserOut)
def me(call: Call[None, None]) -> UserOut:
    """The signed-in user."""
    # Read with the session, in one round trip (SIGNED_IN_WITH_ACCOUNT).
    return account_of(call.user)
