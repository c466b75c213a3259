"""Leaderboards: the scheduled rebuild and the board route."""

from __future__ import annotations

from functions.leaderboards import service
from functions.leaderboards.models import LeaderboardOut
from shared import store
from shared.events import Event, subscriber
from shared.http import SIGNED_IN, Call, HttpFunction

board_route = HttpFunction("leaderboards-board", "/api/v1/leaderboards/{scope}")


@subscriber("leaderboards-rebuild", topic="jobs.leaderboards-rebuild", schedule="*/10 * * * *", timeout_seconds=540)
def rebuild(event: Event) -> None:
    """Rebuild every board (Cloud Scheduler, every ten minutes; or the admin's run-job route).
    A rebuild is idempotent by nature: a repeated delivery rewrites the same boards."""
    service.rebuild_all(store.now())


@board_route.get(SIGNED_IN, response=LeaderboardOut)
def board(call: Call[None, None]) -> LeaderboardOut:
    """The top entries of `global`, `exam:<type>` or `class:<id>`, and the caller's own rank."""
    return service.get_board(call.user, call.params["scope"])
