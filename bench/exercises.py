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
import contextlib
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
                  "status": response.status_code, "modules": len(sys.modules), "ready_at": done}))
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


LOOP = "s = 0\nfor i in range(3 * 10**6):\n    s += i\nprint(s)"


def _floor_cpu_ms(code: str) -> float:
    """CPU time of `code` on the same interpreter under wasmtime with no limits at all (its
    default engine: guard pages, no fuel, no epochs, native CPU features), in this process."""
    import wasmtime

    from functions.exercises.sandbox.runner import wasm_path

    global _floor
    if _floor is None:
        engine = wasmtime.Engine()
        _floor = engine, wasmtime.Module.from_file(engine, str(wasm_path()))
    engine, module = _floor
    store = wasmtime.Store(engine)
    wasi = wasmtime.WasiConfig()
    wasi.argv = ["python", "-I", "-S", "-c", code]
    store.set_wasi(wasi)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    started = time.thread_time()
    start = linker.instantiate(store, module).exports(store)["_start"]
    assert isinstance(start, wasmtime.Func)
    with contextlib.suppress(wasmtime.ExitTrap):
        start(store)
    return (time.thread_time() - started) * 1000


_floor: Any = None


def sandbox_speed(rounds: int = 5, tests: int = 10) -> list[str]:
    """Side by side, interleaved: the loop's CPU cost in the sandbox against the floor, a test's
    start over a submission of `tests` empty tests, and submissions graded per minute."""
    from functions.exercises import judge
    from functions.exercises.sandbox.runner import Limits, TestInput, run_tests

    limits = Limits(10_000, 128)
    floor_loop: list[float] = []
    sandbox_loop: list[float] = []
    per_test: list[float] = []
    alone: list[float] = []
    graded: list[float] = []
    empty = {
        "time_limit_ms": 1000,
        "memory_limit_mb": 128,
        "tests": [{"name": f"t{i}", "code": "pass", "expected_output": ""} for i in range(tests)],
    }
    for _ in range(rounds):
        floor_loop.append(_floor_cpu_ms(LOOP) - _floor_cpu_ms("pass"))
        loop, nothing = run_tests("", [TestInput(LOOP, ""), TestInput("pass", "")], limits)
        sandbox_loop.append(loop.time_ms - nothing.time_ms)
        started = time.perf_counter()
        assert all(j.passed for j in judge.run_exercise("", empty))
        per_test.append((time.perf_counter() - started) * 1000 / tests)
        started = time.perf_counter()
        run_tests("", [TestInput("pass", "")], limits)
        alone.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        assert all(j.passed for j in judge.run_exercise(SOLUTION, EXERCISE))
        graded.append(time.perf_counter() - started)
    ratios = sorted(s / f for s, f in zip(sandbox_loop, floor_loop, strict=True))
    floor_ms, sandbox_ms = statistics.median(floor_loop), statistics.median(sandbox_loop)
    return [
        "| measure | p50 | p95 | samples | target |",
        "| --- | ---: | ---: | ---: | --- |",
        f"| 3M-iteration loop, CPU ms: floor (wasmtime, no limits) | {floor_ms:.0f} | "
        f"{_percentile(floor_loop, 0.95):.0f} | {rounds} | |",
        f"| same loop, CPU ms: sandbox (`time_ms`) | {sandbox_ms:.0f} | {_percentile(sandbox_loop, 0.95):.0f} | "
        f"{rounds} | |",
        f"| loop cost, sandbox / floor (per round) | {statistics.median(ratios):.2f}x | {ratios[-1]:.2f}x (max) | "
        f"{rounds} | ≤ 1.3x |",
        f"| a test's start, over a submission of {tests} empty tests (wall ms / {tests}) | "
        f"{statistics.median(per_test):.1f} | {_percentile(per_test, 0.95):.1f} | {rounds} | ≤ 20 ms |",
        f"| a submission of 1 empty test, alone (wall ms) | {statistics.median(alone):.0f} | "
        f"{_percentile(alone, 0.95):.0f} | {rounds} | |",
        f"| submissions graded per minute per instance (3 tests, one after another) | "
        f"{60 / statistics.median(graded):.0f} | {60 / _percentile(graded, 0.95):.0f} (p95 time) | {rounds} | |",
    ]


# CPU-bound workloads for the time-limit calibration: native CPython against the guest.
WORKLOADS = {
    "3M-iteration sum loop": "s = 0\nfor i in range(3 * 10**6):\n    s += i\nprint(s)",
    "join of 1M numbers as text": "print(len(','.join(str(i) for i in range(10**6))))",
    "500k dict updates": "d = {}\nfor i in range(5 * 10**5):\n    d[i % 1000] = d.get(i % 1000, 0) + i\nprint(len(d))",
    "sort of 300k floats": "import random\nr = random.Random(1)\nx = [r.random() for _ in range(3 * 10**5)]\nx.sort()",
}


def calibration() -> list[str]:
    """Guest CPU time (what `time_limit_ms` limits) against native CPython's CPU time."""
    from functions.exercises.sandbox.runner import Limits, TestInput, run_tests

    def native(code: str) -> float:
        probe = f"import time\nstarted = time.process_time()\nexec({code!r})\nprint(time.process_time() - started)"
        out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
        return float(out.strip().splitlines()[-1]) * 1000

    rows = [
        "| workload | native CPU (ms) | guest CPU, `time_ms` | guest / native |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, code in WORKLOADS.items():
        native_ms = max(1.0, native(code))
        run = run_tests("", [TestInput(code=code, stdin="")], Limits(10_000, 128))[0]
        rows.append(f"| {name} | {native_ms:.0f} | {run.time_ms} | {run.time_ms / native_ms:.1f}x |")
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
        "| grader instance | import + load (ms) | first grading, 3 tests (ms) | launch → first verdict (ms) |",
        "| --- | ---: | ---: | ---: |",
        f"| compiled module shipped (median of {runs}; target ≤ 1,000) | "
        f"{statistics.median(r['import_ms'] for r in cached):.0f} | "
        f"{statistics.median(r['first_grading_ms'] for r in cached):.0f} | "
        f"{statistics.median(r['ready_ms'] for r in cached):.0f} |",
        f"| no module shipped: compiles it first | {compiling['import_ms']:.0f} | "
        f"{compiling['first_grading_ms']:.0f} | {compiling['ready_ms']:.0f} |",
    ]
    return rows


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    stack, api, _, exercise_id = _setup()
    print(f"Machine: {os.cpu_count()} cores (shared). Command: `.venv/bin/python -m bench.exercises {count}`.\n")
    print("### Submission to verdict (local stack: gateway in process, emulators, the drain delivers)\n")
    print("\n".join(submit_to_graded(stack, api, exercise_id, count)))
    print("\n### Sandbox speed (side by side, one run)\n")
    print("\n".join(sandbox_speed()))
    print("\n### Grader cold start (fresh process)\n")
    print("\n".join(cold_start(api, exercise_id)))
    print("\n### Time-limit calibration (guest against native CPython)\n")
    print("\n".join(calibration()))


if __name__ == "__main__":
    main()
