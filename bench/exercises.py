"""Coding exercises: from `POST /submissions` to `graded` for a 3-test submission on the local
stack, sandbox start per test with the compiled module cached, and the grader's cold start
(fresh process: functions-framework load, then one graded submission), with and without the
compiled module on disk.

Starts nothing: it uses the emulators named by the usual variables, by default those on the
test ports (`make bench` starts them). Alone: `.venv/bin/python -m bench.exercises [submissions]`.
Prints markdown tables.
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("STUDYHALL_BENCH_PROJECT", "studyhall-bench-exercises")
from bench.environment import BENCH_PROJECT, configure, fresh_process

configure()
os.environ["STUDYHALL_BCRYPT_ROUNDS"] = "4"  # accounts are set up, not measured

ROOT = Path(__file__).resolve().parent.parent
GRADE = ["exercises-grade--submission.created"]
SOLUTION = "def add(a, b):\n    return a + b\n"
# Three tests, as the target names: two visible, one hidden.
EXERCISE = {
    "title": "Sum of two numbers",
    "description": "Write `add(a, b)`.",
    "topic": "python-basics",
    "difficulty": "beginner",
    "tests": [
        {"name": "small", "code": "print(add(2, 3))", "expected_output": "5"},
        {
            "name": "stdin",
            "stdin": "40\n2\n",
            "code": "print(add(int(input()), int(input())))",
            "expected_output": "42",
        },
        {"name": "hidden", "code": "print(add(-7, 7))", "expected_output": "0", "hidden": True},
    ],
    "solution": SOLUTION,
}

# A fresh interpreter, as a new grader instance: load main.py the way functions-framework does,
# then take one push delivery of `submission.created`.
COLD_PROBE = r"""
import json, sys, time
started = time.perf_counter()
import functions_framework
app = functions_framework.create_app(target="exercises_grade", source="main.py")
loaded = time.perf_counter()
response = app.test_client().post("/", json=json.loads(sys.argv[1]))
done = time.perf_counter()
print(json.dumps({"import_ms": (loaded - started) * 1000, "first_grading_ms": (done - loaded) * 1000,
                  "status": response.status_code, "modules": len(sys.modules)}))
"""


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _setup() -> tuple[Any, Any, str, str]:
    from infra.local.emulators import clear_firestore
    from infra.manifest import TEST_PORTS
    from tests.support import Api, Stack

    clear_firestore(BENCH_PROJECT, TEST_PORTS["firestore"])
    stack = Stack.start(BENCH_PROJECT)
    stack.purge()
    api = Api(stack.gateway)
    teacher = api.register("bench-teacher@example.com", role="teacher")["access_token"]
    exercise = api.post("/api/v1/exercises", EXERCISE, token=teacher)
    created: dict[str, Any] = exercise.json or {}
    assert exercise.status_code == 201, created
    return stack, api, teacher, str(created["id"])


def submit_to_graded(stack: Any, api: Any, exercise_id: str, count: int) -> list[str]:
    """Sequential submissions: POST, then the grader's delivery, until the document is graded."""
    from shared.config import settings

    settings().submissions_per_minute = count + 10
    token = api.register("bench-student@example.com")["access_token"]
    stack.drain(GRADE)  # the module is compiled and the gateway's grader app loaded before timing
    latencies, posts = [], []
    for _ in range(count):
        started = time.perf_counter()
        response = api.post(
            "/api/v1/submissions",
            {"exercise_id": exercise_id, "code": SOLUTION, "language": "python"},
            token=token,
        )
        posts.append((time.perf_counter() - started) * 1000)
        stack.drain(GRADE)
        body = api.get(f"/api/v1/submissions/{response.json['id']}", token=token).json
        latencies.append((time.perf_counter() - started) * 1000)
        assert body["verdict"] == "accepted", body
    return [
        "| measure | p50 (ms) | p95 (ms) | runs |",
        "| --- | ---: | ---: | ---: |",
        f"| `POST /submissions` (202) | {statistics.median(posts):.0f} | {_percentile(posts, 0.95):.0f} | {count} |",
        f"| POST → graded (3 tests, drain delivery) | {statistics.median(latencies):.0f} | "
        f"{_percentile(latencies, 0.95):.0f} | {count} |",
    ]


def sandbox_start(runs: int = 5, tests: int = 10) -> list[str]:
    from functions.exercises.sandbox.runner import Limits, TestInput, run_tests

    per_test: list[float] = []
    process: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        results = run_tests("", [TestInput(code="pass", stdin="")] * tests, Limits(1000, 128))
        process.append((time.perf_counter() - started) * 1000)
        per_test.extend(r.time_ms for r in results)
        assert all(r.status == "exit" and r.exit_code == 0 for r in results)
    return [
        "| measure | p50 (ms) | p95 (ms) | samples |",
        "| --- | ---: | ---: | ---: |",
        f"| one test: new Store, instantiate, interpreter start, empty program | {statistics.median(per_test):.0f} | "
        f"{_percentile(per_test, 0.95):.0f} | {len(per_test)} |",
        f"| one submission of {tests} empty tests: child process + module load + tests | "
        f"{statistics.median(process):.0f} | {_percentile(process, 0.95):.0f} | {runs} |",
    ]


# CPU-bound workloads for the time-limit calibration: native CPython against the guest.
WORKLOADS = {
    "3M-iteration sum loop": "s = 0\nfor i in range(3 * 10**6):\n    s += i\nprint(s)",
    "join of 1M numbers as text": "print(len(','.join(str(i) for i in range(10**6))))",
    "500k dict updates": "d = {}\nfor i in range(5 * 10**5):\n    d[i % 1000] = d.get(i % 1000, 0) + i\nprint(len(d))",
    "sort of 300k floats": "import random\nr = random.Random(1)\nx = [r.random() for _ in range(3 * 10**5)]\nx.sort()",
}


def calibration() -> list[str]:
    """Guest against native time and fuel per guest millisecond (what FUEL_PER_MS rests on)."""
    from functions.exercises.sandbox.runner import Limits, TestInput, run_tests

    def native(code: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        return (time.perf_counter() - started) * 1000

    empty_native = native("pass")
    empty = run_tests("", [TestInput(code="pass", stdin="")], Limits(10_000, 128))[0]
    rows = [
        "| workload | native (ms) | guest (ms) | guest / native | fuel per guest ms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, code in WORKLOADS.items():
        native_ms = max(1.0, native(code) - empty_native)
        run = run_tests("", [TestInput(code=code, stdin="")], Limits(10_000, 128))[0]
        guest_ms = max(1, run.time_ms - empty.time_ms)
        fuel = run.fuel_used - empty.fuel_used
        rows.append(
            f"| {name} | {native_ms:.0f} | {guest_ms} | {guest_ms / native_ms:.1f}x | {fuel / guest_ms / 1e6:.1f}M |"
        )
    return rows


def _push_body(submission_id: str, user_id: str, exercise_id: str) -> dict[str, Any]:
    envelope = {
        "id": f"bench-{submission_id}",
        "type": "submission.created",
        "occurred_at": "2026-01-01T00:00:00+00:00",
        "data": {"submission_id": submission_id, "user_id": user_id, "exercise_id": exercise_id},
    }
    return {
        "message": {
            "data": base64.b64encode(json.dumps(envelope).encode()).decode(),
            "attributes": {"event_type": "submission.created"},
            "messageId": f"bench-{submission_id}",
            "publishTime": "2026-01-01T00:00:00Z",
        },
        "subscription": f"projects/{BENCH_PROJECT}/subscriptions/bench",
    }


def cold_start(api: Any, exercise_id: str, runs: int = 3) -> list[str]:
    from functions.exercises import submissions
    from shared import store
    from shared.collections import SUBMISSIONS

    def one(extra_env: dict[str, str]) -> dict[str, Any]:
        queued = submissions.create_submission("bench-cold", exercise_id, SOLUTION, store.now())
        result = fresh_process(COLD_PROBE, json.dumps(_push_body(queued.id, "bench-cold", exercise_id)), env=extra_env)
        data = store.db().collection(SUBMISSIONS).document(queued.id).get().to_dict() or {}
        assert result["status"] < 300 and data.get("verdict") == "accepted", (result, data.get("verdict"))
        return result

    from shared.config import settings

    settings().submissions_per_minute = 1000
    cached = [one({}) for _ in range(runs)]
    with tempfile.TemporaryDirectory() as empty_cache:
        compiling = one({"STUDYHALL_SANDBOX_CACHE_DIR": empty_cache})
    rows = [
        "| grader instance | import + load (ms) | first grading, 3 tests (ms) | modules |",
        "| --- | ---: | ---: | ---: |",
        f"| compiled module on disk (median of {runs}) | {statistics.median(r['import_ms'] for r in cached):.0f} | "
        f"{statistics.median(r['first_grading_ms'] for r in cached):.0f} | {cached[0]['modules']} |",
        f"| first ever: compiles and caches the module | {compiling['import_ms']:.0f} | "
        f"{compiling['first_grading_ms']:.0f} | {compiling['modules']} |",
    ]
    return rows


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    stack, api, _, exercise_id = _setup()
    print(f"Machine: {os.cpu_count()} cores (shared). Command: `.venv/bin/python -m bench.exercises {count}`.\n")
    print("### Submission to verdict (local stack: gateway in process, emulators, the drain delivers)\n")
    print("\n".join(submit_to_graded(stack, api, exercise_id, count)))
    print("\n### Sandbox start per test (compiled module cached)\n")
    print("\n".join(sandbox_start()))
    print("\n### Grader cold start (fresh process)\n")
    print("\n".join(cold_start(api, exercise_id)))
    print("\n### Time-limit calibration (guest against native CPython)\n")
    print("\n".join(calibration()))


if __name__ == "__main__":
    main()
