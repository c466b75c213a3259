"""shared.ratelimit: Firestore counters with a TTL, exact under concurrent hits."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from shared import store
from shared.errors import RateLimited
from shared.ratelimit import Limit, hit
from tests.support import Stack, fields


def test_counts_then_refuses_with_the_time_to_wait(stack: Stack) -> None:
    limit = Limit("unit", max_hits=3, window_seconds=60)
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)  # the start of a window
    assert [hit(limit, "k", now) for _ in range(3)] == [1, 2, 3]
    with pytest.raises(RateLimited) as refused:
        hit(limit, "k", now + timedelta(seconds=20))
    assert refused.value.headers["Retry-After"] == "40"
    assert hit(limit, "other key", now) == 1
    assert hit(limit, "k", now + timedelta(seconds=60)) == 1  # a new window
    docs = [fields(d) for d in store.db().collection("rate_limits").stream()]
    assert all(d["expires_at"] > now and "other key" not in str(d) for d in docs)


def test_concurrent_hits_never_overshoot(stack: Stack) -> None:
    limit = Limit("race", max_hits=5, window_seconds=60)
    now = store.now()

    def attempt(_: int) -> bool:
        try:
            hit(limit, "same", now)
            return True
        except RateLimited:
            return False

    with ThreadPoolExecutor(max_workers=8) as pool:
        allowed = sum(pool.map(attempt, range(8)))
    assert allowed == 5  # each request learns its own place: exactly the limit passes
    [doc] = [fields(d) for d in store.db().collection("rate_limits").stream()]
    assert doc["hits"] == 8  # every hit counted: increments never abort on contention


def test_a_burst_under_the_limit_all_passes(stack: Stack) -> None:
    limit = Limit("burst", max_hits=100, window_seconds=60)
    now = store.now()
    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = sorted(pool.map(lambda _: hit(limit, "school", now), range(8)))
    assert counts[-1] == 8
