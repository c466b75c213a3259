"""The sharded aggregates that learning events feed (read by the analytics area).

Class and exercise aggregates are hot counters (a whole class answers at once), so each is
split over `SHARDS` documents (`class_stats/{id}/shards/{k}`), written with blind increments
inside the event's transaction (no read, so no contention) and summed when read. They live
in the shared kernel: progress writes them, analytics reads them, neither imports the other.
"""

from __future__ import annotations

from typing import Any

from shared import store
from shared.userdata import not_personal

SHARDS = 8
CLASS_STATS = not_personal("class_stats", "sums over a class's members, not one user's")
EXERCISE_STATS = not_personal("exercise_stats", "sums over an exercise's submitters, not one user's")
SCHOOL_STATS = not_personal("school_stats", "sums over a school's members, not one user's")


def shard_ref(collection: str, key: str, shard: int) -> Any:
    return store.db().collection(collection).document(key).collection("shards").document(str(shard))


def _increments(counters: dict[str, float]) -> dict[str, Any]:
    return {name: store.Increment(value) for name, value in counters.items() if value}


def record_class(
    txn: store.Transaction,
    class_id: str,
    shard: int,
    counters: dict[str, float],
    domains: dict[str, dict[str, int]],
) -> None:
    """Add a member's event to the class aggregate."""
    _record_members(txn, CLASS_STATS, "class_id", class_id, shard, counters, domains)


def record_school(
    txn: store.Transaction,
    school_id: str,
    shard: int,
    counters: dict[str, float],
    domains: dict[str, dict[str, int]],
) -> None:
    """Add a member's event to the school aggregate (the school the learner is in when it counts)."""
    _record_members(txn, SCHOOL_STATS, "school_id", school_id, shard, counters, domains)


def _record_members(
    txn: store.Transaction,
    collection: str,
    key_field: str,
    key: str,
    shard: int,
    counters: dict[str, float],
    domains: dict[str, dict[str, int]],
) -> None:
    """One shard of a group's aggregate (a class's, a school's): counters and per-domain counts."""
    update: dict[str, Any] = {key_field: key, **_increments(counters)}
    if domains:
        update["domains"] = {name: _increments(dict(add)) for name, add in domains.items()}
    txn.set(shard_ref(collection, key, shard), update, merge=True)


def record_exercise(txn: store.Transaction, exercise_id: str, shard: int, counters: dict[str, float]) -> None:
    txn.set(
        shard_ref(EXERCISE_STATS, exercise_id, shard),
        {"exercise_id": exercise_id, **_increments(counters)},
        merge=True,
    )
