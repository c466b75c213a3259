"""Leaderboard rebuild cost and time as users grow, event-handler throughput, and the reads of
the progress and leaderboard requests, on the emulators (test ports, a project of its own).

    .venv/bin/python -m bench.leaderboards [--sizes 1000,10000,100000] [--events 300]

Prints markdown tables. Users are written with a BulkWriter raised above its default 500
operations a second ramp, growing one population (1,000 -> 10,000 -> 100,000) so that each
size costs only the users it adds.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

os.environ.setdefault("STUDYHALL_BENCH_PROJECT", "studyhall-bench-leaderboards")

from bench.environment import BENCH_PROJECT, configure

configure()

from google.cloud.firestore_v1.bulk_writer import BulkWriterOptions  # noqa: E402

from functions.leaderboards import service as boards  # noqa: E402
from functions.progress import service as progress  # noqa: E402
from infra.local.emulators import clear_firestore  # noqa: E402
from infra.manifest import TEST_PORTS  # noqa: E402
from shared import stats as user_stats  # noqa: E402
from shared import store  # noqa: E402
from shared.auth import Principal  # noqa: E402
from shared.collections import USER_STATS  # noqa: E402

EXAM_TYPES = ["a-plus-core-1", "a-plus-core-2", "network-plus", "security-plus"]
CLASSES = ["bench-c1", "bench-c2", "bench-c3"]


def write_users(start: int, stop: int) -> float:
    """user_stats for users start..stop-1 (random XP, an exam type, one in ten in a class)."""
    db = store.db()
    rng = random.Random(start)
    writer = db.bulk_writer(options=BulkWriterOptions(initial_ops_per_second=20_000, max_ops_per_second=50_000))
    now = store.now()
    began = time.perf_counter()
    for i in range(start, stop):
        user_id = f"bench-user-{i:06d}"
        stats = user_stats.empty_stats(user_id, "student", now)
        xp = rng.randint(0, 50_000)
        exam = EXAM_TYPES[i % len(EXAM_TYPES)]
        stats.update(
            {
                "display_name": f"User {i}",
                "xp": xp,
                "exam_types": {exam: {"xp": xp, "completed": 1, "score_total": 80, "best": 80}},
                "class_ids": [CLASSES[i % len(CLASSES)]] if i % 10 == 0 else [],
            }
        )
        writer.set(db.collection(USER_STATS).document(user_id), stats)
    writer.close()  # type: ignore[no-untyped-call]
    return time.perf_counter() - began


def register_scopes() -> None:
    db = store.db()
    for scope in [f"exam:{e}" for e in EXAM_TYPES] + [f"class:{c}" for c in CLASSES]:
        kind, _, key = scope.partition(":")
        db.collection(user_stats.LEADERBOARD_SCOPES).document(scope).set({"scope": scope, "kind": kind, "key": key})


def measure_rebuild() -> tuple[int, int, float, int]:
    """(reads as metered, writes, seconds, reads as production bills them). A count aggregation
    is metered as one read; production bills one read per 1,000 index entries it counts."""
    meter = store.start_metering()
    began = time.perf_counter()
    boards.rebuild_all(store.now())
    reads, writes, elapsed = meter.reads, meter.writes, time.perf_counter() - began
    billed = reads
    for board in store.db().collection(boards.BOARDS).stream():
        total = int((board.to_dict() or {}).get("total_ranked", 0))
        if total >= boards.TOP_N:  # the rebuild counted this board
            billed += max(1, -(-total // 1000)) - 1
    return reads, writes, elapsed, billed


def measure_reads(user_count: int) -> dict[str, int]:
    """Service-level reads of a leaderboard and a progress request (+1 for the session read
    every authenticated request makes)."""
    out: dict[str, int] = {}
    low = Principal(user_id=f"bench-user-{user_count - 1:06d}", role="student", session_id="bench")
    # Find someone outside the top 100 for the own-rank path.
    board = store.db().collection(boards.BOARDS).document("global").get().to_dict() or {}
    top = {e["user_id"] for e in board.get("entries", [])}
    outsider = next(f"bench-user-{i:06d}" for i in range(user_count) if f"bench-user-{i:06d}" not in top)
    for name, principal in (
        ("leaderboard global, caller outside top 100", Principal(outsider, "student", "bench")),
        ("leaderboard global, caller in top 100", Principal(next(iter(top)), "student", "bench")),
    ):
        meter = store.start_metering()
        boards.get_board(principal, "global")
        out[name] = meter.reads + 1
    meter = store.start_metering()
    progress.get_progress(low, low.user_id, store.now())
    out["student progress"] = meter.reads + 1
    return out


def measure_events(count: int) -> list[tuple[str, int, float]]:
    """Events one handler instance sustains: drained one by one through the gateway, as push
    would deliver them to a single instance with concurrency 1."""
    from google.cloud import pubsub_v1

    from infra.local import pubsub
    from infra.local.gateway import Gateway

    project = BENCH_PROJECT
    pubsub.apply(project, push_base=None)
    gateway = Gateway()
    db = store.db()
    for i in range(count):
        db.collection("users").document(f"bench-ev-{i}").set(
            {"first_name": "Ev", "last_name": str(i), "role": "student", "timezone": "UTC"}
        )
    subscription = "progress-on-exam-answered--exam.answered"
    results = []
    base = datetime.now(UTC) - timedelta(days=1)
    senders: list[tuple[str, Callable[[int], str]]] = [
        ("distinct users", lambda i: f"bench-ev-{i}"),
        ("one user", lambda i: "bench-ev-0"),
    ]
    for label, user_of in senders:
        publisher = pubsub_v1.PublisherClient()
        futures = [
            publisher.publish(
                publisher.topic_path(project, "exam.answered"),
                _envelope(user_of(i), i, base),
                event_type="exam.answered",
            )
            for i in range(count)
        ]
        for future in futures:
            future.result()
        began = time.perf_counter()
        delivered = pubsub.drain(project, gateway.deliver, subscriptions=[subscription])
        results.append((label, delivered, time.perf_counter() - began))
    return results


def _envelope(user_id: str, i: int, base: datetime) -> bytes:
    """The envelope shared.events.publish sends."""
    import json

    from shared.auth import new_id

    return json.dumps(
        {
            "id": new_id(),
            "type": "exam.answered",
            "occurred_at": (base + timedelta(minutes=i)).isoformat(),
            "data": {
                "user_id": user_id,
                "session_id": "bench",
                "exam_type": "network-plus",
                "question_id": f"q{i}",
                "domain": "1.0",
                "correct": i % 3 != 0,
                "mode": "practice",
            },
        }
    ).encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--events", type=int, default=300)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    clear_firestore(BENCH_PROJECT, TEST_PORTS["firestore"])
    register_scopes()

    print("### Leaderboard rebuild (global + 4 exam boards + 3 class boards, top 100 each)\n")
    print("| users | write users (s) | rebuild reads | billed reads | rebuild writes | rebuild time (s) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    written = 0
    reads_at: dict[str, int] = {}
    for size in sizes:
        seconds = write_users(written, size)
        written = size
        reads, writes, elapsed, billed = measure_rebuild()
        print(f"| {size:,} | {seconds:.1f} | {reads} | {billed} | {writes} | {elapsed:.2f} |", flush=True)
        reads_at = measure_reads(size)

    print(f"\n### Reads per request (at {written:,} users; the session read included)\n")
    print("| request | reads |")
    print("| --- | ---: |")
    for name, reads in reads_at.items():
        print(f"| {name} | {reads} |")

    print(f"\n### One event handler (`progress-on-exam-answered`), {args.events} events, delivered one at a time\n")
    print("| events for | delivered | seconds | events/s |")
    print("| --- | ---: | ---: | ---: |")
    for label, delivered, seconds in measure_events(args.events):
        print(f"| {label} | {delivered} | {seconds:.1f} | {delivered / seconds:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
