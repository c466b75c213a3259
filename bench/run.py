"""`make bench`: start the emulators on the test ports, run every benchmark, and write the
figures with the command that produced them to docs/performance.md."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.environment import BENCH_PROJECT, bench_env
from infra.local.emulators import Emulators
from infra.manifest import TEST_PORTS

ROOT = Path(__file__).resolve().parent.parent
SUITES = [
    "bench.foundation",
    "bench.operations",
    "bench.exams",
    "bench.leaderboards",
    "bench.exercises",
    "bench.paths",
    "bench.extras",
    "bench.chat",
]


def main() -> int:
    only = sys.argv[1:] or SUITES
    emulators = Emulators(BENCH_PROJECT, TEST_PORTS, ROOT / ".dev" / "bench-logs").start(reuse=True)
    sections = []
    try:
        for suite in only:
            if not (ROOT / (suite.replace(".", "/") + ".py")).exists():
                continue
            print(f"running {suite}...", flush=True)
            result = subprocess.run(
                [sys.executable, "-m", suite],
                cwd=ROOT,
                env={**os.environ, **bench_env()},
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                print(result.stdout + result.stderr, file=sys.stderr)
                return result.returncode
            sections.append(f"## {suite}\n\n{result.stdout.strip()}\n")
    finally:
        emulators.stop()
    header = (
        "# Performance\n\n"
        "Measured by `make bench` (`.venv/bin/python -m bench.run`), which starts the Firestore, Pub/Sub and "
        "Storage emulators and runs each suite in `bench/`.\n"
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} "
        f"{platform.machine()}; run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.\n"
        "Latency on the emulators is not latency in production (no network hop, an emulated database); "
        "the Firestore operation counts are what production bills.\n\n"
    )
    (ROOT / "docs" / "performance.md").write_text(header + "\n".join(sections))
    print("wrote docs/performance.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
