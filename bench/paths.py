"""Learning paths: latency and Firestore cost of `GET /api/v1/paths/{id}` (the path with the
caller's progress) for a large path, and of the lesson progress report a video player sends.

Starts nothing: it uses the emulators named by the usual variables, by default those on the
test ports (`make bench` starts them). Alone: `.venv/bin/python -m bench.paths [requests]`.
Prints a markdown table.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any

os.environ.setdefault("STUDYHALL_BENCH_PROJECT", "studyhall-bench-paths")
from bench.environment import BENCH_PROJECT, configure

configure()
os.environ["STUDYHALL_BCRYPT_ROUNDS"] = "4"  # accounts are registered; their bcrypt is not measured here

MODULES, LESSONS_PER_MODULE, BODY_CHARS = 10, 10, 2000


def big_path() -> dict[str, Any]:
    """100 lessons: readings with 2,000-character bodies and videos (about 110 KB stored)."""
    modules = []
    for m in range(MODULES):
        lessons = []
        for n in range(LESSONS_PER_MODULE):
            if n % 2:
                lessons.append(
                    {
                        "title": f"Video {m}.{n}",
                        "kind": "video",
                        "topic": "bench",
                        "duration_seconds": 600,
                        "video_url": f"https://example.com/bench/{m}-{n}.mp4",
                    }
                )
            else:
                body = ("Lorem ipsum dolor sit amet. " * 80)[:BODY_CHARS]
                lessons.append(
                    {
                        "title": f"Read {m}.{n}",
                        "kind": "reading",
                        "topic": "bench",
                        "duration_seconds": 300,
                        "body": body,
                    }
                )
        modules.append({"title": f"Module {m}", "lessons": lessons})
    return {"title": "Bench path", "subject": "Bench", "interests": ["programming"], "modules": modules}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    from infra.local import pubsub
    from infra.local.emulators import clear_firestore
    from infra.local.gateway import Gateway
    from infra.manifest import TEST_PORTS
    from tests.support import Api, ops

    firestore_port = int(os.environ["FIRESTORE_EMULATOR_HOST"].rsplit(":", 1)[1])
    clear_firestore(BENCH_PROJECT, firestore_port or TEST_PORTS["firestore"])
    pubsub.apply(BENCH_PROJECT, push_base=None)
    api = Api(Gateway())
    teacher = api.register("bench-teacher@example.com", role="teacher")["access_token"]
    registered = api.register("bench-student@example.com")
    student, student_id = registered["access_token"], registered["user"]["id"]
    created = api.post("/api/v1/paths", big_path(), token=teacher)
    assert created.status_code == 201, created.json
    path: dict[str, Any] = dict(created.json or {})
    lessons = [lesson for module in path["modules"] for lesson in module["lessons"]]
    assert api.post(f"/api/v1/paths/{path['id']}/enrollment", token=student).status_code == 201
    for lesson in lessons[:40:2]:  # 20 readings done
        assert (
            api.post(f"/api/v1/lessons/{lesson['id']}/progress", {"completed": True}, token=student).status_code == 200
        )

    rows: list[tuple[str, dict[str, int], list[float]]] = []

    def measure(label: str, method: str, url: str, body: Any = None) -> None:
        times: list[float] = []
        spent: dict[str, int] = {}
        for _ in range(requests):
            started = time.perf_counter()
            response = api.call(method, url, token=student, json_body=body)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (label, response.status_code, response.json)
            spent = ops(response)
        rows.append((label, spent, times))

    measure("GET /paths/{id} (100 lessons, 20 done)", "GET", f"/api/v1/paths/{path['id']}")
    video = next(lesson for lesson in lessons if lesson["kind"] == "video")
    measure(
        "POST /lessons/{id}/progress (video position)",
        "POST",
        f"/api/v1/lessons/{video['id']}/progress",
        {"watched_seconds": 30, "position_seconds": 30},
    )
    measure("GET /paths?limit=20", "GET", "/api/v1/paths?limit=20")
    measure("GET /users/{id}/paths (1 enrolment)", "GET", f"/api/v1/users/{student_id}/paths")

    size = len(api.get(f"/api/v1/paths/{path['id']}", token=student).data)
    print(
        f"Sequential requests through the gateway in-process, {requests} each, on the emulators "
        f"(the answer of GET /paths/{{id}} is {size:,} bytes):\n"
    )
    print("| request | Firestore reads | writes | p50 ms | p95 ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, spent, times in rows:
        print(
            f"| {label} | {spent.get('reads', 0)} | {spent.get('writes', 0)} | "
            f"{statistics.median(times):.1f} | {percentile(times, 0.95):.1f} |"
        )
    clear_firestore(BENCH_PROJECT, firestore_port or TEST_PORTS["firestore"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
