"""The per-user stats document (`user_stats/{id}`), as every area reads it.

The progress event functions write it; progress, analytics and leaderboards read it. Its
shape, the day and streak rules, and the scopes of the leaderboards live here so that no area
imports another.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared import store
from shared.auth import Principal
from shared.collections import USER_STATS
from shared.errors import NotFound
from shared.userdata import not_personal

# `exam:<type>`, `class:<id>`: boards to rebuild
LEADERBOARD_SCOPES = not_personal("leaderboard_scopes", "names of boards to rebuild")


def empty_stats(user_id: str, role: str, now: datetime) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "role": role,
        "display_name": "",
        "timezone": "UTC",
        "xp": 0,
        "current_streak": 0,
        "longest_streak": 0,
        "last_active_day": None,
        "last_active_at": None,
        "daily": {},
        "questions_answered": 0,
        "questions_correct": 0,
        "exams_completed": 0,
        "exam_score_total": 0,
        "best_exam_score": 0,
        "exercises_passed": 0,
        "lessons_completed": 0,
        "domains": {},
        "topics": {},
        "exam_types": {},
        "badges": [],
        "badge_awards": {},
        "class_ids": [],
        "created_at": now,
        "updated_at": now,
    }


def normalized(data: dict[str, Any] | None, user_id: str, role: str, now: datetime) -> dict[str, Any]:
    """A stats document with every field present (older documents miss the newer ones)."""
    stats = empty_stats(user_id, role, now)
    stats.update(data or {})
    return stats


def domain_key(exam_type: str, domain: str) -> str:
    return f"{exam_type}|{domain}"


# Days and streaks -------------------------------------------------------------------------------


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_day(moment: datetime, timezone: str | None) -> date:
    """The calendar day of `moment` in the user's time zone."""
    return moment.astimezone(zone(timezone)).date()


def streaks(days: Iterable[str]) -> tuple[int, int]:
    """(the run of consecutive days ending at the latest day, the longest run) over a set of
    ISO days: a function of the set alone, so the order events arrive in does not matter."""
    ordered = sorted({date.fromisoformat(d) for d in days})
    longest = run = 0
    previous: date | None = None
    for day in ordered:
        run = run + 1 if previous is not None and day - previous == timedelta(days=1) else 1
        longest = max(longest, run)
        previous = day
    return run, longest


def current_streak(stats: dict[str, Any], today: date) -> int:
    """The streak as of `today`: the run ending at the last active day, if that was today or
    yesterday (today may still be saved); 0 once a whole day has been missed."""
    last = stats.get("last_active_day")
    if not last:
        return 0
    return int(stats.get("current_streak", 0)) if date.fromisoformat(last) >= today - timedelta(days=1) else 0


def read_stats(principal: Principal, user_id: str) -> dict[str, Any]:
    """The user's stats. The user themself sees zeros before their first event; anyone else
    gets 404 for a user without stats (which may not exist at all)."""
    data = store.db().collection(USER_STATS).document(user_id).get().to_dict()
    if data is None:
        if principal.user_id != user_id:
            raise NotFound("No progress for this user.")
        return empty_stats(user_id, principal.role, store.now())
    return normalized(data, user_id, str(data.get("role", "student")), store.now())


def ratio(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0
