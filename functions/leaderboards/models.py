"""What the leaderboard route answers."""

from __future__ import annotations

from datetime import datetime

from shared.validation import Out


class EntryOut(Out):
    user_id: str
    display_name: str
    xp: int
    rank: int


class MyRankOut(Out):
    user_id: str
    xp: int
    rank: int | None


class LeaderboardOut(Out):
    scope: str
    entries: list[EntryOut]
    total_ranked: int
    rebuilt_at: datetime | None
    me: MyRankOut | None
