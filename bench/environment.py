"""The environment a benchmark runs in: the emulators on the test ports, a project of its own."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from infra.local.emulators import emulator_env
from infra.manifest import TEST_PORTS

ROOT = Path(__file__).resolve().parent.parent
BENCH_PROJECT = os.environ.get("STUDYHALL_BENCH_PROJECT", "studyhall-bench")
# One signing key for the whole bench run (inherited by its suites and their fresh processes),
# so a token minted in one process is valid in another, as across the instances of a deployment.
BENCH_JWT_KEYS = os.environ.get("STUDYHALL_JWT_KEYS") or json.dumps({"bench": secrets.token_urlsafe(48)})


def bench_env() -> dict[str, str]:
    return {
        **emulator_env(BENCH_PROJECT, TEST_PORTS),
        "STUDYHALL_ENV": "test",
        "STUDYHALL_JWT_KEYS": BENCH_JWT_KEYS,
        "STUDYHALL_EXPOSE_OPS": "true",
        "STUDYHALL_LOG_LEVEL": "WARNING",
        # The production work factor: cold start and login figures include real bcrypt cost.
        "STUDYHALL_BCRYPT_ROUNDS": os.environ.get("STUDYHALL_BCRYPT_ROUNDS", "12"),
        "STUDYHALL_IMPORTS_BUCKET": f"{BENCH_PROJECT}-imports",
        "STUDYHALL_AVATARS_BUCKET": f"{BENCH_PROJECT}-avatars",
    }


def configure() -> None:
    """Point this process at the bench project (call before importing shared.config users)."""
    os.environ.update(bench_env())


def fresh_process(probe: str, *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> dict[str, Any]:
    """Run `probe` (Python source printing one JSON line last) in a new interpreter, as a new
    Cloud Functions instance would start, in the bench environment; its JSON plus `process_ms`,
    the whole process's wall time, and, when the probe reports `ready_at` (its
    `time.perf_counter()` once served: CLOCK_MONOTONIC, one clock for every process on Linux),
    `ready_ms`, from launch to that moment: a cold start without the interpreter's teardown."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", probe, *args],
        cwd=cwd,
        env={**bench_env(), "PATH": "/usr/bin:/bin", **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = dict(json.loads(out.strip().splitlines()[-1]))
    result["process_ms"] = (time.perf_counter() - started) * 1000
    if "ready_at" in result:
        result["ready_ms"] = (result["ready_at"] - started) * 1000
    return result
