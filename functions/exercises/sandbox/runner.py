"""Run a submission's tests in the sandbox: one fresh child process per submission (a new one
only after a run had to be ended), one wasmtime Store per run inside it.

What the child gets: the submission, each test's code and standard input. What it never gets:
expected outputs, other submissions, the environment. A run the child does not finish within
its wall-clock limit is killed with its whole process group (a guest `time.sleep` blocks in the
host, where no CPU is spent: only the kill ends it).

Runs, like CodeRunner's combinator: the visible tests in one run and the hidden tests in another
(no hidden test's code is ever in a run whose output the student sees), each run kept only when
every test in it passed (`accept`, decided by the caller on the host) within its own CPU limit;
otherwise each test of that group runs again alone, and that run is the one judged.

Time limits: `time_limit_ms` is guest CPU time (this process's view of the child's main thread),
counted from the moment the harness hands over to the submission; the interpreter's start is not
counted, and a guest that sleeps shows no time. The wall-clock limit is a backstop only.

Disk: each run may write `DISK_BYTES` to files and create `DISK_ENTRIES` entries (past that the
write fails in the guest); the child removes a run's directory as soon as it ends, this process
removes the submission's at the end and checks it is gone. A grader that cannot clean up stops
grading (`SandboxOutOfService`) instead of grading on a full disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from functions.exercises.sandbox import modcache
from functions.exercises.sandbox.assets import DEFAULT_DIR, WASM_NAME
from functions.exercises.sandbox.child import remove_tree

CHILD = Path(__file__).resolve().with_name("child.py")

# The interpreter's own start costs ~30 ms of CPU; past this it is the submission's compile
# (64 KiB at most) gone wrong, and the run ends as over its time.
START_CPU_MS = 1000
STDOUT_CAP = 64 * 1024
STDERR_CAP = 16 * 1024
# One file may take a run's whole disk budget (a sparse write past it fails with EFBIG).
FILE_SIZE_MB = 32
DISK_BYTES = 32 * 1024 * 1024
DISK_ENTRIES = 1000
# RLIMIT_DATA: the child's own baseline (interpreter, wasmtime, its runtime threads, the mapped
# module) plus the guest's memory (also capped, exactly, by the store's limits).
DATA_BASE_MB = 512
START_TIMEOUT_SECONDS = 20.0
SUBMISSION_WALL_SECONDS = 300.0
MAX_CHILD_OUTPUT = 4 * 1024 * 1024

# A deployed grader serves one submission at a time; a local process serving many (the dev
# stack, the tests) runs at most this many sandboxes at once and queues the rest.
_parallel = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))
# One child started ahead, waiting for the next job (a child serves one job only).
_spare: subprocess.Popen[bytes] | None = None
_spare_lock = threading.Lock()
# Set once clean-up failed: this process grades nothing more.
_out_of_service: str | None = None

Status = Literal["exit", "trap", "killed", "crashed"]


class SandboxOutOfService(RuntimeError):
    """The grader could not remove what a run left on disk: it stops grading (a platform
    failure: the submission's claim is given back and Pub/Sub delivers it to another try)."""


@dataclass(frozen=True)
class Limits:
    time_limit_ms: int
    memory_limit_mb: int

    def wall_seconds(self, tests: int = 1) -> float:
        """Per run: the CPU limit ends a busy guest well before this even on a loaded machine."""
        return 2.0 + (tests + 2) * self.time_limit_ms / 1000


@dataclass(frozen=True)
class TestInput:
    code: str
    stdin: str
    hidden: bool = False


@dataclass
class TestRun:
    status: Status
    exit_code: int | None = None
    trap: str | None = None
    stdout: str = ""
    stdout_overflow: bool = False
    stderr: str = ""
    time_ms: int = 0


# Decides on the host whether a test's run passed (its output against the expected one).
Accept = Callable[[int, TestRun], bool]


@dataclass(frozen=True)
class _Run:
    tests: tuple[int, ...]
    spec: dict[str, str | int]


def wasm_path() -> Path:
    from shared.config import settings

    configured = settings().sandbox_wasm
    return Path(configured) if configured else DEFAULT_DIR / WASM_NAME


def cache_dir() -> Path | None:
    from shared.config import settings

    configured = settings().sandbox_cache_dir
    return Path(configured) if configured else None


def _prepare(root: Path, number: int, code: str, tests: list[TestInput], indices: tuple[int, ...]) -> _Run:
    base = root / str(number)
    code_dir, work_dir = base / "code", base / "work"
    code_dir.mkdir(parents=True)
    work_dir.mkdir()
    (code_dir / "submission.py").write_text(code, encoding="utf-8")
    for k, index in enumerate(indices):
        (code_dir / f"test-{k}.py").write_text(tests[index].code, encoding="utf-8")
        if len(indices) > 1:
            (code_dir / f"stdin-{k}").write_text(tests[index].stdin, encoding="utf-8")
    stdin_path = base / "stdin"
    stdin_path.write_text(tests[indices[0]].stdin if len(indices) == 1 else "", encoding="utf-8")
    spec: dict[str, str | int] = {
        "count": len(indices),
        "code_dir": str(code_dir),
        "work_dir": str(work_dir),
        "stdin_path": str(stdin_path),
    }
    return _Run(indices, spec)


def _job(module: Path, limits: Limits, runs: list[_Run], nonce: str) -> dict[str, Any]:
    tests = sum(len(r.tests) for r in runs)
    return {
        "module": str(module),
        "nonce": nonce,
        "mark": secrets.token_hex(8),
        "runs": [r.spec for r in runs],
        "cpu_ms": limits.time_limit_ms,
        "start_cpu_ms": START_CPU_MS,
        "memory_mb": limits.memory_limit_mb,
        "stdout_cap": STDOUT_CAP,
        "stderr_cap": STDERR_CAP,
        "disk_bytes": DISK_BYTES,
        "disk_entries": DISK_ENTRIES,
        "data_mb": DATA_BASE_MB + limits.memory_limit_mb,
        "cpu_seconds": int(limits.wall_seconds(tests) * len(runs) + START_TIMEOUT_SECONDS) + 1,
        "file_size_mb": FILE_SIZE_MB,
    }


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _spawn(module: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-I", str(CHILD), modcache.wasmtime_path(), module],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={},
        cwd="/",
        start_new_session=True,
    )


def _child(module: str) -> subprocess.Popen[bytes]:
    """A child for a job: the spare one started after the previous job (its ~250 ms of importing
    wasmtime and loading the module already spent), and a new spare for the next."""
    global _spare
    with _spare_lock:
        ready, _spare = _spare, None
    if ready is None or ready.poll() is not None:
        ready = _spawn(module)
    with _spare_lock:
        if _spare is None:
            _spare = _spawn(module)
    return ready


def prestart() -> None:
    """Start the spare child now, in the background, if the compiled module is already there
    (it never compiles): a new grader instance's first submission then finds a child with
    wasmtime imported and the module loaded while the rest of the function was loading."""

    def start() -> None:
        global _spare
        with contextlib.suppress(Exception):  # only an early start is lost: the job spawns one
            module = modcache.existing_module(wasm_path(), cache_dir())
            if module is None:
                return
            with _spare_lock:
                if _spare is None:
                    _spare = _spawn(str(module))

    threading.Thread(target=start, name="sandbox-prestart", daemon=True).start()


def _run_child(
    job: dict[str, Any], runs: list[_Run], limits: Limits, deadline: float
) -> tuple[dict[int, dict[str, Any]], int | None]:
    """Run one child over `runs`. Returns the records it produced, and the index of the run
    that ended it (None when it finished them all)."""
    process = _child(job["module"])
    assert process.stdin is not None and process.stdout is not None
    records: dict[int, dict[str, Any]] = {}
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
                # Killed at the wall clock: the guest was blocked, not computing (a CPU-bound
                # one ends by its CPU limit), so it shows no time.
                failed = current if current is not None else len(records)
                records[failed] = {"status": "killed"}
                return records, failed
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
                    wall = limits.wall_seconds(len(runs[current].tests))
                    waiting_until = min(deadline, time.monotonic() + wall)
                elif record.get("event") == "done":
                    index = int(record["index"])
                    records[index] = record
                    if record.get("trap") == "cpu_limit":
                        return records, index  # the child left after reporting it
                    current = None
                    waiting_until = min(deadline, time.monotonic() + START_TIMEOUT_SECONDS)
                elif record.get("event") == "finished":
                    return records, None
        # The child ended without finishing: its current run crashed it.
        process.wait()
        failed = current if current is not None else len(records)
        # Before any run started, the child could not even load the module.
        records[failed] = {"status": "crashed", "trap": None if current is not None else "not_started"}
        return records, failed
    finally:
        if process.poll() is None:
            _kill(process)
        process.stdout.close()


def _test_run(record: dict[str, Any]) -> TestRun:
    """A single test's run from the child's record (only the fields a TestRun has)."""
    return TestRun(
        status=record.get("status", "crashed"),
        exit_code=record.get("exit_code"),
        trap=record.get("trap"),
        stdout=record.get("stdout", ""),
        stdout_overflow=bool(record.get("stdout_overflow")),
        stderr=record.get("stderr", ""),
        time_ms=int(record.get("time_ms", 0)),
    )


def _combined(run: _Run, record: dict[str, Any], limits: Limits, accept: Accept) -> dict[int, TestRun] | None:
    """The tests of a combined run, if it ended cleanly and every one passed within its limit."""
    segments = record.get("segments") or []
    clean = (
        record.get("status") == "exit"
        and record.get("exit_code") == 0
        and not record.get("stdout_overflow")
        and len(segments) == len(run.tests)
    )
    if not clean:
        return None
    runs = {
        i: TestRun(status="exit", exit_code=0, stdout=out, time_ms=ms)
        for i, (out, ms) in zip(run.tests, segments, strict=True)
    }
    if all(r.time_ms <= limits.time_limit_ms and accept(i, r) for i, r in runs.items()):
        return runs
    return None


class _Session:
    """One submission's runs: a directory under the temp dir, the compiled module, children."""

    def __init__(self, code: str, tests: list[TestInput], limits: Limits, root: Path) -> None:
        self.code, self.tests, self.limits, self.root = code, tests, limits, root
        self.wasm = wasm_path()
        self.module = modcache.compiled_module(self.wasm, cache_dir())
        self.deadline = time.monotonic() + SUBMISSION_WALL_SECONDS
        self.numbered = 0
        self.retried_module = False

    def prepare(self, indices: tuple[int, ...]) -> _Run:
        self.numbered += 1
        return _prepare(self.root, self.numbered, self.code, self.tests, indices)

    def execute(self, runs: list[_Run]) -> list[dict[str, Any]]:
        """Each run's record, in order; a new child after one that had to end."""
        records: dict[int, dict[str, Any]] = {}
        start = 0
        while start < len(runs):
            if time.monotonic() >= self.deadline:
                records.update({i: {"status": "killed"} for i in range(start, len(runs))})
                break
            job = _job(self.module, self.limits, runs[start:], secrets.token_hex(16))
            produced, failed = _run_child(job, runs[start:], self.limits, self.deadline)
            if failed == 0 and produced[0].get("trap") == "not_started" and not self.retried_module:
                # Nothing ran: most likely a cached module this wasmtime cannot load. Rebuild once.
                self.retried_module = True
                modcache.forget(self.wasm, cache_dir())
                self.module = modcache.compiled_module(self.wasm, cache_dir())
                continue
            records.update({start + i: record for i, record in produced.items()})
            start = len(runs) if failed is None else start + failed + 1
        return [records[i] for i in range(len(runs))]

    def run(self, accept: Accept | None) -> list[TestRun]:
        indices = range(len(self.tests))
        groups = [tuple(i for i in indices if self.tests[i].hidden is hidden) for hidden in (False, True)]
        plan = [g for g in groups if len(g) > 1] if accept is not None else []
        combined = {i for g in plan for i in g}
        runs = [self.prepare(g) for g in plan] + [self.prepare((i,)) for i in indices if i not in combined]
        results: dict[int, TestRun] = {}
        retry: list[int] = []
        for run, record in zip(runs, self.execute(runs), strict=True):
            if len(run.tests) == 1:
                results[run.tests[0]] = _test_run(record)
            elif accept is not None and (passed := _combined(run, record, self.limits, accept)) is not None:
                results.update(passed)
            else:
                retry.extend(run.tests)
        alone = [self.prepare((i,)) for i in sorted(retry)]
        for run, record in zip(alone, self.execute(alone), strict=True):
            results[run.tests[0]] = _test_run(record)
        return [results[i] for i in indices]


def run_tests(code: str, tests: list[TestInput], limits: Limits, accept: Accept | None = None) -> list[TestRun]:
    """Each test's run, in order. Never raises for anything the submission does. With `accept`,
    tests may run combined (see the module's doc); without it each runs alone."""
    if _out_of_service is not None:
        raise SandboxOutOfService(_out_of_service)
    with _parallel:
        root = Path(tempfile.mkdtemp(prefix="studyhall-sandbox-"))
        try:
            return _Session(code, tests, limits, root).run(accept)
        finally:
            _clean_up(root)


def _clean_up(root: Path) -> None:
    global _out_of_service
    problem = None
    try:
        remove_tree(str(root))
    except OSError as exc:
        problem = f"{type(exc).__name__}: {exc.strerror or exc}"
    if problem is None and os.path.lexists(root):
        problem = "the directory is still there"
    if problem is not None:
        from shared.logging import get_logger

        _out_of_service = f"sandbox clean-up failed ({problem}); this grader takes itself out of service"
        get_logger("exercises.sandbox").critical(_out_of_service)
        raise SandboxOutOfService(_out_of_service)
