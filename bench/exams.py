"""Practice exams: CSV import throughput and peak memory for a 50,000-row file, and the
Firestore cost of starting, answering and submitting a 90-question exam.

Starts nothing: it uses the emulators named by the usual variables (FIRESTORE_EMULATOR_HOST,
PUBSUB_EMULATOR_HOST, STORAGE_EMULATOR_HOST), by default those on the test ports (`make bench`
starts them). Alone: `.venv/bin/python -m bench.exams [rows]`. Prints a markdown table.
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

os.environ.setdefault("STUDYHALL_BENCH_PROJECT", "studyhall-bench-exams")
from bench.environment import BENCH_PROJECT, configure

configure()
os.environ["STUDYHALL_BCRYPT_ROUNDS"] = "4"  # one account is registered; its bcrypt is not measured here

EXAM_TYPE = "bench-exam"


def write_csv(path: Path, rows: int) -> None:
    """A realistic file: ~600 bytes a row, 5 domains of 5 objectives, a quoted comma in each text."""
    from functions.exams.csvrows import COLUMNS

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for i in range(rows):
            writer.writerow(
                [
                    f"B-{i:06}",
                    f"{1 + i % 5}.{1 + (i // 5) % 5}",
                    f"Question {i}: which control, of the four below, best fits scenario {i % 97}?",
                    "Detective control",
                    "Deterrent control",
                    "Corrective control",
                    "Compensating control",
                    "Incorrect. Detective controls record activity while or after it happens.",
                    "Correct. A deterrent control discourages a potential attacker.",
                    "Incorrect. Corrective controls limit damage after an incident.",
                    "Incorrect. A compensating control stands in for a primary control.",
                    "ABCD"[i % 4],
                ]
            )


def rss_mib() -> float:
    """Resident memory of this process now (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class RssSampler:
    """The peak resident memory while a block runs, sampled every 20 ms."""

    def __init__(self) -> None:
        self.start = rss_mib()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mib())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib())


def timed_import(bucket: str, blob: Any, *, trace: bool) -> dict[str, Any]:
    from functions.exams import service
    from shared import store

    meter = store.start_metering()
    if trace:
        tracemalloc.start()
    with RssSampler() as rss:
        started = time.perf_counter()
        status = service.import_object(bucket, blob.name, str(blob.generation), store.now())
        seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    if trace:
        tracemalloc.stop()
    report = service.get_import(service.import_id_of(bucket, blob.name, str(blob.generation)))
    return {
        "status": status,
        "seconds": seconds,
        "report": report,
        "reads": meter.reads,
        "writes": meter.writes,
        "rss_start": rss.start,
        "rss_peak": rss.peak,
        "heap_peak": peak,
    }


def main() -> int:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    from google.cloud import storage  # type: ignore[attr-defined]

    from infra.local import pubsub
    from infra.local.emulators import clear_firestore
    from infra.local.gateway import Gateway
    from infra.manifest import TEST_PORTS
    from shared.config import settings
    from tests.support import Api, ops

    firestore_port = int(os.environ["FIRESTORE_EMULATOR_HOST"].rsplit(":", 1)[1])
    clear_firestore(BENCH_PROJECT, firestore_port or TEST_PORTS["firestore"])
    pubsub.apply(BENCH_PROJECT, push_base=None)
    client = storage.Client(project=BENCH_PROJECT)
    bucket_name = settings().imports_bucket
    bucket = client.lookup_bucket(bucket_name) or client.create_bucket(bucket_name)

    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.csv"
        write_csv(path, rows)
        size_mib = path.stat().st_size / 2**20
        blob = bucket.blob(f"questions/{EXAM_TYPE}.csv")
        blob.upload_from_filename(str(path), content_type="text/csv")
        first = timed_import(bucket_name, blob, trace=False)
        blob.upload_from_filename(str(path), content_type="text/csv")  # a new generation, same rows
        again = timed_import(bucket_name, blob, trace=False)
        blob.upload_from_filename(str(path), content_type="text/csv")
        traced = timed_import(bucket_name, blob, trace=True)

    lines += [
        f"CSV import of {rows:,} rows ({size_mib:.1f} MiB), storage trigger's work in-process against the emulators:",
        "",
        "| run | status | rows/s | seconds | Firestore reads | writes | RSS at start | RSS peak | Python heap peak |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    runs = (
        ("first import", first),
        ("re-import, unchanged", again),
        ("re-import under tracemalloc (slower)", traced),
    )
    for label, run in runs:
        report = run["report"]
        heap = f"{run['heap_peak']:.1f} MiB" if run["heap_peak"] is not None else "-"
        lines.append(
            f"| {label} | {report.status}, {report.rows_imported:,} imported | {rows / run['seconds']:,.0f} | "
            f"{run['seconds']:.1f} | {run['reads']:,} | {run['writes']:,} | {run['rss_start']:.0f} MiB | "
            f"{run['rss_peak']:.0f} MiB | {heap} |"
        )

    # A 90-question exam through the gateway, on the 50,000-question bank.
    api = Api(Gateway())
    token = api.register("bench-student@example.com")["access_token"]
    costs: list[tuple[str, dict[str, int], float]] = []

    def call(label: str, method: str, url: str, body: Any = None) -> Any:
        started = time.perf_counter()
        response = api.call(method, url, token=token, json_body=body)
        assert response.status_code in (200, 201), (label, response.status_code, response.json)
        costs.append((label, ops(response), time.perf_counter() - started))
        return response

    for mode in ("exam", "practice"):
        session = call(
            f"{mode}: start (90 questions)",
            "POST",
            "/api/v1/exam-sessions",
            {"exam_type": EXAM_TYPE, "question_count": 90, "mode": mode},
        ).json
        before = len(costs)
        for q in session["questions"]:
            call(
                f"{mode}: answer",
                "POST",
                f"/api/v1/exam-sessions/{session['id']}/answers",
                {"question_id": q["id"], "answer": "A"},
            )
        answers = costs[before:]
        del costs[before:]
        reads = sum(c[1]["reads"] for c in answers)
        writes = sum(c[1]["writes"] for c in answers)
        seconds = sum(c[2] for c in answers)
        costs.append((f"{mode}: 90 answers (total)", {"reads": reads, "writes": writes, "deletes": 0}, seconds))
        call(f"{mode}: submit", "POST", f"/api/v1/exam-sessions/{session['id']}/submit")
        call(f"{mode}: read the session", "GET", f"/api/v1/exam-sessions/{session['id']}")

    lines += [
        "",
        f"A 90-question session on the {rows:,}-question bank, through the gateway (each request includes the one read "
        "that authenticates it):",
        "",
        "| step | Firestore reads | writes | ms on the emulator |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, spent, seconds in costs:
        lines.append(f"| {label} | {spent['reads']} | {spent['writes']} | {seconds * 1000:.0f} |")
    totals: dict[str, list[int]] = {}
    for label, spent, _ in costs:
        if "read the session" in label:
            continue
        mode = label.split(":")[0]
        total = totals.setdefault(mode, [0, 0])
        total[0] += spent["reads"]
        total[1] += spent["writes"]
    for mode, (reads, writes) in totals.items():
        lines.append(f"| **{mode}: start + 90 answers + submit** | **{reads}** | **{writes}** | |")
    print("\n".join(lines))
    clear_firestore(BENCH_PROJECT, firestore_port or TEST_PORTS["firestore"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
