"""`make bench`: start the emulators on the test ports, run every benchmark, and write the
figures with the command that produced them to docs/performance.md."""

from __future__ import annotations

import os
import platform
import re
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
    "bench.live",
]


def earlier_sections(text: str) -> dict[str, str]:
    """The `## bench.<suite>` sections of an earlier docs/performance.md, by suite."""
    sections: dict[str, str] = {}
    for block in re.split(r"^(?=## bench\.)", text, flags=re.M)[1:]:
        sections[block.split("\n", 1)[0].removeprefix("## ").strip()] = block.rstrip() + "\n"
    return sections


def main() -> int:
    """`python -m bench.run [suite ...]`: run the named suites (all by default); the sections of
    suites not run this time stay as they were, each with the date of its own run."""
    only = sys.argv[1:] or SUITES
    target = ROOT / "docs" / "performance.md"
    sections = earlier_sections(target.read_text()) if target.exists() else {}
    emulators = Emulators(BENCH_PROJECT, TEST_PORTS, ROOT / ".dev" / "bench-logs").start(reuse=True)
    try:
        for suite in only:
            if not (ROOT / (suite.replace(".", "/") + ".py")).exists():
                continue
            print(f"running {suite}...", flush=True)
            started = datetime.now(UTC)
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
            sections[suite] = (
                f"## {suite}\n\nRun {started:%Y-%m-%d %H:%M} UTC: `.venv/bin/python -m bench.run {suite}`.\n\n"
                f"{result.stdout.strip()}\n"
            )
    finally:
        emulators.stop()
    header = (
        "# Performance\n\n"
        "Measured by `make bench` (`.venv/bin/python -m bench.run [suite ...]`), which starts the Firestore, "
        "Pub/Sub, Storage and Firebase Auth emulators and runs each suite in `bench/` (a suite not named keeps "
        "its last section). Figures to compare were measured side by side in one run of their suite.\n"
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} "
        f"{platform.machine()}, shared with other work (latency is noisy; operation counts are exact).\n"
        "Latency on the emulators is not latency in production (no network hop, an emulated database); "
        "the Firestore operation counts are what production bills.\n\n"
    )
    ordered = [sections[s] for s in SUITES if s in sections] + [v for k, v in sections.items() if k not in SUITES]
    target.write_text(header + "\n".join(ordered))
    print("wrote docs/performance.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
