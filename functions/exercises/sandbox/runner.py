"""Run a submission's tests in the sandbox: one fresh child process per submission (a new one
only after a test had to be killed), one wasmtime Store per test inside it.

What the child gets: the submission, each test's code and standard input. What it never gets:
expected outputs, other submissions, the environment. A test the child does not finish within
its wall-clock limit is killed with its whole process group (a guest `time.sleep` blocks in the
host, where no fuel is spent: only the kill ends it).

Time limits (calibration in docs/exercises.md): `time_limit_ms` is guest CPU time counted in
wasmtime fuel, `FUEL_PER_MS` units per millisecond on top of the interpreter's start, so a
verdict never depends on how busy the machine is. The wall-clock limit is a backstop only.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from functions.exercises.sandbox import modcache
from functions.exercises.sandbox.assets import DEFAULT_DIR, WASM_NAME

CHILD = Path(__file__).resolve().with_name("child.py")

# Guest CPU: about 6M fuel per millisecond on a reference core (docs/exercises.md); 5M keeps the
# fuel limit at or below the wall time it stands for. The interpreter's start (~250M) is free.
FUEL_PER_MS = 5_000_000
START_FUEL = 400_000_000
STDOUT_CAP = 64 * 1024
STDERR_CAP = 16 * 1024
FILE_SIZE_MB = 16
# Address space: the child's own baseline (interpreter, wasmtime, its runtime threads, the
# mapped module) plus room for guest memory to grow by moving (old and new copy at once).
ADDRESS_SPACE_BASE_MB = 512
ADDRESS_SPACE_PER_GUEST_MB = 3
START_TIMEOUT_SECONDS = 20.0
SUBMISSION_WALL_SECONDS = 300.0
MAX_CHILD_OUTPUT = 4 * 1024 * 1024

# A deployed grader serves one submission at a time; a local process serving many (the dev
# stack, the tests) runs at most this many sandboxes at once and queues the rest.
_parallel = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))

Status = Literal["exit", "trap", "killed", "crashed"]


@dataclass(frozen=True)
class Limits:
    time_limit_ms: int
    memory_limit_mb: int

    @property
    def fuel(self) -> int:
        return START_FUEL + self.time_limit_ms * FUEL_PER_MS

    @property
    def wall_seconds(self) -> float:
        """Per test: fuel ends a CPU-bound guest well before this even on a loaded machine."""
        return 2.0 + 3 * self.time_limit_ms / 1000


@dataclass(frozen=True)
class TestInput:
    code: str
    stdin: str


@dataclass
class TestRun:
    status: Status
    exit_code: int | None = None
    trap: str | None = None
    stdout: str = ""
    stdout_overflow: bool = False
    stderr: str = ""
    time_ms: int = 0
    fuel_used: int = 0


def wasm_path() -> Path:
    from shared.config import settings

    configured = settings().sandbox_wasm
    return Path(configured) if configured else DEFAULT_DIR / WASM_NAME


def cache_dir() -> Path | None:
    from shared.config import settings

    configured = settings().sandbox_cache_dir
    return Path(configured) if configured else None


def _prepare(root: Path, code: str, tests: list[TestInput]) -> list[dict[str, str]]:
    prepared = []
    for index, test in enumerate(tests):
        base = root / str(index)
        code_dir, work_dir = base / "code", base / "work"
        code_dir.mkdir(parents=True)
        work_dir.mkdir()
        (code_dir / "submission.py").write_text(code, encoding="utf-8")
        (code_dir / "test.py").write_text(test.code, encoding="utf-8")
        stdin_path = base / "stdin"
        stdin_path.write_text(test.stdin, encoding="utf-8")
        prepared.append({"code_dir": str(code_dir), "work_dir": str(work_dir), "stdin_path": str(stdin_path)})
    return prepared


def _job(module: Path, limits: Limits, tests: list[dict[str, str]], nonce: str) -> dict[str, Any]:
    return {
        "wasmtime_path": modcache.wasmtime_path(),
        "module": str(module),
        "nonce": nonce,
        "tests": tests,
        "fuel": limits.fuel,
        "memory_mb": limits.memory_limit_mb,
        "stdout_cap": STDOUT_CAP,
        "stderr_cap": STDERR_CAP,
        "address_space_mb": ADDRESS_SPACE_BASE_MB + ADDRESS_SPACE_PER_GUEST_MB * limits.memory_limit_mb,
        "cpu_seconds": int(len(tests) * limits.wall_seconds + START_TIMEOUT_SECONDS) + 1,
        "file_size_mb": FILE_SIZE_MB,
    }


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _run_child(job: dict[str, Any], limits: Limits, deadline: float) -> tuple[dict[int, TestRun], int | None]:
    """Run one child over `job["tests"]`. Returns the results it produced, and the index of the
    test that was killed or crashed (None when it finished them all)."""
    process = subprocess.Popen(
        [sys.executable, "-I", str(CHILD)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={},
        cwd=job["tests"][0]["work_dir"],
        start_new_session=True,
    )
    assert process.stdin is not None and process.stdout is not None
    results: dict[int, TestRun] = {}
    current: int | None = None
    prefix = job["nonce"].encode() + b" "
    try:
        process.stdin.write(json.dumps(job).encode())
        process.stdin.close()
        selector = selectors.DefaultSelector()
        selector.register(process.stdout, selectors.EVENT_READ)
        fd = process.stdout.fileno()
        buffer = b""
        waiting_until = min(deadline, time.monotonic() + START_TIMEOUT_SECONDS)
        while True:
            remaining = waiting_until - time.monotonic()
            if remaining <= 0 or len(buffer) > MAX_CHILD_OUTPUT:
                _kill(process)
                failed = current if current is not None else len(results)
                results[failed] = TestRun(status="killed", time_ms=int(limits.wall_seconds * 1000))
                return results, failed
            if not selector.select(remaining):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if not line.startswith(prefix):
                    continue  # not ours (a runtime message printed by wasmtime)
                record = json.loads(line[len(prefix) :])
                if record.get("event") == "start":
                    current = int(record["index"])
                    waiting_until = min(deadline, time.monotonic() + limits.wall_seconds)
                elif record.get("event") == "done":
                    index = int(record.pop("index"))
                    record.pop("event")
                    results[index] = TestRun(**record)
                    current = None
                    waiting_until = min(deadline, time.monotonic() + START_TIMEOUT_SECONDS)
                elif record.get("event") == "finished":
                    return results, None
        # The child ended without finishing: its current test crashed it.
        process.wait()
        failed = current if current is not None else len(results)
        # Before any test started, the child could not even load the module.
        results[failed] = TestRun(status="crashed", trap=None if current is not None else "not_started")
        return results, failed
    finally:
        if process.poll() is None:
            _kill(process)
        process.stdout.close()


def run_tests(code: str, tests: list[TestInput], limits: Limits) -> list[TestRun]:
    """Each test's run, in order. Never raises for anything the submission does."""
    with _parallel:
        return _run_tests(code, tests, limits)


def _run_tests(code: str, tests: list[TestInput], limits: Limits) -> list[TestRun]:
    wasm = wasm_path()
    module = modcache.compiled_module(wasm, cache_dir())
    root = Path(tempfile.mkdtemp(prefix="studyhall-sandbox-"))
    deadline = time.monotonic() + SUBMISSION_WALL_SECONDS
    runs: dict[int, TestRun] = {}
    retried_module = False
    try:
        prepared = _prepare(root, code, tests)
        start = 0
        while start < len(tests):
            if time.monotonic() >= deadline:
                runs.update({i: TestRun(status="killed") for i in range(start, len(tests))})
                break
            nonce = secrets.token_hex(16)
            produced, failed = _run_child(_job(module, limits, prepared[start:], nonce), limits, deadline)
            if failed == 0 and produced[0].trap == "not_started" and not retried_module:
                # Nothing ran: most likely a cached module this wasmtime cannot load. Rebuild once.
                retried_module = True
                modcache.forget(wasm, cache_dir())
                module = modcache.compiled_module(wasm, cache_dir())
                continue
            runs.update({start + i: run for i, run in produced.items()})
            start = len(tests) if failed is None else start + failed + 1
        return [runs[i] for i in range(len(tests))]
    finally:
        shutil.rmtree(root, ignore_errors=True)
