"""Per-user learning stats (XP, streaks, counts), kept by event functions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared import store

USER_STATS = "user_stats"


def empty_stats(user_id: str, role: str, now: datetime) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "role": role,
        "xp": 0,
        "current_streak": 0,
        "longest_streak": 0,
        "last_active_day": None,
        "questions_answered": 0,
        "questions_correct": 0,
        "exams_completed": 0,
        "created_at": now,
        "updated_at": now,
    }


def create_stats(txn: store.Transaction, user_id: str, role: str, now: datetime) -> None:
    ref = store.db().collection(USER_STATS).document(user_id)
    if not ref.get(transaction=txn).exists:
        txn.set(ref, empty_stats(user_id, role, now))
