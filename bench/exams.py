"""Practice exams at scale, each figure beside its baseline from the same run:

1. CSV import: the first import against a plain batched write of the same documents (same file,
   same parsing, `set` 400 at a time and nothing else), interleaved; then an unchanged re-import.
2. Session start: a 90-question start (exam and practice) against a signed-in read
   (`GET /api/v1/auth/me`), interleaved, on banks of each size (written straight to Firestore
   with batched writes, index included, so building them costs seconds).
3. The Firestore cost of a whole 90-question exam and practice session on the largest bank.

Starts nothing: it uses the emulators named by the usual variables (FIRESTORE_EMULATOR_HOST,
PUBSUB_EMULATOR_HOST, STORAGE_EMULATOR_HOST), by default those on the test ports. Alone:
`.venv/bin/python -m bench.exams [import_rows] [bank sizes, comma-separated]`
(defaults 50000 and 20000,50000). Prints markdown.
"""

from __future__ import annotations

import csv
import io
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("STUDYHALL_BENCH_PROJECT", "studyhall-bench-exams")
from bench.environment import BENCH_PROJECT, configure

configure()
os.environ["STUDYHALL_BCRYPT_ROUNDS"] = "4"  # one account is registered; its bcrypt is not measured here

EXAM_TYPE = "bench-exam"
SAMPLES = 15  # interleaved requests per latency figure


def question_row(i: int) -> list[str]:
    """A realistic row: ~600 bytes, 5 domains of 5 objectives, a quoted comma in each text."""
    return [
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


def write_csv(path: Path, rows: int) -> None:
    from functions.exams.csvrows import COLUMNS

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for i in range(rows):
            writer.writerow(question_row(i))


def rss_mib() -> float:
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


# 1. Imports ----------------------------------------------------------------------------------------


def timed_import(bucket: str, blob: Any) -> dict[str, Any]:
    from functions.exams import imports
    from shared import store

    meter = store.start_metering()
    with RssSampler() as rss:
        started = time.perf_counter()
        imports.import_object(bucket, blob.name, str(blob.generation), store.now())
        seconds = time.perf_counter() - started
    spent = (meter.reads, meter.writes)
    report = imports.get_import(imports.import_id_of(bucket, blob.name, str(blob.generation)))
    return {"seconds": seconds, "report": report, "reads": spent[0], "writes": spent[1], "rss": rss}


def plain_write(bucket: str, blob: Any, exam_type: str, *, raw: bool = False) -> dict[str, Any]:
    """The floor: stream and parse the same object, `set` the same documents 400 per batch
    (`raw`: as creates encoded the import's own way, functions/exams/rawwrite.py)."""
    from functions.exams import bank, csvrows, rawwrite
    from shared import store
    from shared.collections import QUESTIONS

    meter = store.start_metering()
    started = time.perf_counter()
    now = store.now()
    from google.cloud import storage

    source = storage.Client().bucket(bucket).blob(blob.name)
    with io.TextIOWrapper(source.open("rb", chunk_size=1024 * 1024), encoding="utf-8-sig", newline="") as text:
        batch, pending = store.db().batch(), 0
        for row in csvrows.read_rows(text):
            assert isinstance(row, csvrows.Row)
            fields = bank.question_fields(
                exam_type=exam_type,
                question_id=row.question_id,
                domain=row.domain,
                question_text=row.question_text,
                options=row.options,
                explanations=row.explanations,
                correct_answer=row.correct_answer,
            )
            doc = {**fields, "rand": random.random(), "created_at": now, "updated_at": now, "source": "plain"}
            ref = bank.col(QUESTIONS).document(bank.question_doc_id(exam_type, row.question_id))
            if raw:
                batch._write_pbs.append(rawwrite.create(ref._document_path, doc))
            else:
                batch.set(ref, doc)
            pending += 1
            if pending == 400:
                batch.commit()
                batch, pending = store.db().batch(), 0
        if pending:
            batch.commit()
    return {"seconds": time.perf_counter() - started, "reads": meter.reads, "writes": meter.writes}


def import_section(rows: int) -> list[str]:
    from google.cloud import storage

    from infra.local.emulators import clear_firestore
    from infra.manifest import TEST_PORTS
    from shared.config import settings

    port = int(os.environ["FIRESTORE_EMULATOR_HOST"].rsplit(":", 1)[1]) or TEST_PORTS["firestore"]

    client = storage.Client(project=BENCH_PROJECT)
    bucket_name = settings().imports_bucket
    bucket = client.lookup_bucket(bucket_name) or client.create_bucket(bucket_name)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.csv"
        write_csv(path, rows)
        size_mib = path.stat().st_size / 2**20
        blobs = []
        for name in ("bench-import-a", "bench-import-b", "bench-plain"):
            blob = bucket.blob(f"questions/{name}.csv")
            blob.upload_from_filename(str(path), content_type="text/csv")
            blobs.append(blob)
        # Alternated, each on an emptied database (the emulator slows as it fills, so whatever
        # ran second would pay for the first); the last import stays for the re-import.
        plain: list[dict[str, Any]] = []
        raw: list[dict[str, Any]] = []
        first: list[dict[str, Any]] = []
        order = ("plain", "raw", "import", "plain", "raw", "import")
        for kind, blob in zip(order, [blobs[2], blobs[2], blobs[0], blobs[2], blobs[2], blobs[1]], strict=True):
            clear_firestore(BENCH_PROJECT, port)
            if kind == "import":
                first.append(timed_import(bucket_name, blob))
            else:
                runs = plain if kind == "plain" else raw
                runs.append(plain_write(bucket_name, blob, f"bench-{kind}", raw=kind == "raw"))
        blobs[1].upload_from_filename(str(path), content_type="text/csv")  # a new generation, same rows
        again = timed_import(bucket_name, blobs[1])
    best_plain = min(r["seconds"] for r in plain)
    best_raw = min(r["seconds"] for r in raw)
    best_first = min(r["seconds"] for r in first)
    lines = [
        f"CSV import of {rows:,} rows ({size_mib:.1f} MiB), the storage trigger's whole work in-process, beside a "
        "plain batched write of the same documents (same object streamed and parsed, `set` 400 per batch, "
        "nothing else). Two runs each, alternated, each on an emptied database; "
        "best of each:",
        "",
        "| run | rows/s | seconds | Firestore reads | writes | RSS start -> peak |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    floors = (
        ("plain batched write (the client's `set`)", min(plain, key=lambda r: r["seconds"])),
        ("plain batched write, creates encoded like the import's", min(raw, key=lambda r: r["seconds"])),
    )
    for label, run in floors:
        lines.append(
            f"| {label} | {rows / run['seconds']:,.0f} | {run['seconds']:.1f} | {run['reads']:,} | "
            f"{run['writes']:,} | - |"
        )
    for label, run in (("first import", min(first, key=lambda r: r["seconds"])), ("re-import, unchanged", again)):
        rss = run["rss"]
        lines.append(
            f"| {label} ({run['report'].status}, {run['report'].rows_imported:,} rows) | "
            f"{rows / run['seconds']:,.0f} | "
            f"{run['seconds']:.1f} | {run['reads']:,} | {run['writes']:,} | {rss.start:.0f} -> {rss.peak:.0f} MiB |"
        )
    plain_runs = ", ".join(f"{r['seconds']:.1f}" for r in plain)
    raw_runs = ", ".join(f"{r['seconds']:.1f}" for r in raw)
    import_runs = ", ".join(f"{r['seconds']:.1f}" for r in first)
    lines += [
        "",
        f"First import / plain write (throughput): **{best_plain / best_first:.2f}x** against the client's `set`, "
        f"**{best_raw / best_first:.2f}x** against creates encoded the same way (all runs, seconds: plain "
        f"{plain_runs}; raw-encoded {raw_runs}; import {import_runs}). "
        f"Unchanged re-import: {again['reads']} reads for {rows:,} rows = "
        f"{again['reads'] * 400 / rows:.2f} per 400 rows.",
    ]
    return lines


# 2. Session starts -----------------------------------------------------------------------------------


def build_bank(size: int) -> None:
    """`size` questions of EXAM_TYPE and their id-index, written straight with batched writes."""
    from functions.exams import bank, index
    from shared import store
    from shared.collections import EXAM_TYPES, QUESTIONS

    now = datetime.now(UTC)
    shards: dict[int, dict[str, list[str]]] = {k: {} for k in range(index.SHARDS)}
    domains: dict[str, int] = {}

    def write(start: int) -> None:
        batch = store.db().batch()
        for i in range(start, min(start + 500, size)):
            r = question_row(i)
            doc = bank.question_fields(
                exam_type=EXAM_TYPE,
                question_id=r[0],
                domain=r[1],
                question_text=r[2],
                options=dict(zip("ABCD", r[3:7], strict=True)),
                explanations=dict(zip("ABCD", r[7:11], strict=True)),
                correct_answer=r[11],
            )
            doc.update(rand=random.random(), created_at=now, updated_at=now, source="bench")
            batch.set(bank.col(QUESTIONS).document(bank.question_doc_id(EXAM_TYPE, r[0])), doc)
        batch.commit()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(0, size, 500)))
    for i in range(size):
        r = question_row(i)
        shards[index.shard_of(r[0])].setdefault(r[1], []).append(r[0])
        domains[r[1]] = domains.get(r[1], 0) + 1
    batch = store.db().batch()
    for k, by_domain in shards.items():
        groups = {d: [" ".join(ids)] for d, ids in by_domain.items()}
        batch.set(index.shard_ref(EXAM_TYPE, k), {"exam_type": EXAM_TYPE, "domains": groups})
    doc = {"name": "Bench", "question_count": size, "domains": domains, "updated_at": now}
    batch.set(bank.col(EXAM_TYPES).document(EXAM_TYPE), doc)
    batch.commit()


def start_section(sizes: list[int]) -> tuple[list[str], Any, str]:
    from infra.local.emulators import clear_firestore
    from infra.local.gateway import Gateway
    from infra.manifest import TEST_PORTS
    from tests.support import Api, ops

    port = int(os.environ["FIRESTORE_EMULATOR_HOST"].rsplit(":", 1)[1]) or TEST_PORTS["firestore"]
    lines = [
        f"A 90-question start beside a signed-in read (`GET /api/v1/auth/me`), through the gateway in-process, "
        f"{SAMPLES} of each interleaved, medians:",
        "",
        "| bank | signed-in read (ms) | exam start (ms) | x read | practice start (ms) | x read | start reads | "
        "writes | bank built in (s) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    api: Any = None
    token = ""
    for size in sizes:
        clear_firestore(BENCH_PROJECT, port)
        started = time.perf_counter()
        build_bank(size)
        built = time.perf_counter() - started
        api = Api(Gateway())
        token = api.register("bench-student@example.com")["access_token"]
        timings: dict[str, list[float]] = {"read": [], "exam": [], "practice": []}
        spent: dict[str, dict[str, int]] = {}
        for _ in range(SAMPLES):
            for kind in ("read", "exam", "practice"):
                began = time.perf_counter()
                if kind == "read":
                    response = api.get("/api/v1/auth/me", token=token)
                else:
                    body = {"exam_type": EXAM_TYPE, "question_count": 90, "mode": kind}
                    response = api.post("/api/v1/exam-sessions", body, token=token)
                timings[kind].append((time.perf_counter() - began) * 1000)
                assert response.status_code in (200, 201), response.json
                spent[kind] = ops(response)
        read, exam, practice = (statistics.median(timings[k]) for k in ("read", "exam", "practice"))
        lines.append(
            f"| {size:,} | {read:.1f} | {exam:.1f} | **{exam / read:.1f}** | {practice:.1f} | "
            f"**{practice / read:.1f}** | "
            f"{spent['exam']['reads']} / {spent['practice']['reads']} | {spent['exam']['writes']} / "
            f"{spent['practice']['writes']} | {built:.0f} |"
        )
    lines += [
        "",
        "Start reads: exam / practice, the request's one authenticating read included (exam: + 4 index shards + 90 "
        "questions; practice also reads 2 progress shards and the domain stats). Writes: the session, its texts and "
        "the served marks (2 progress shards).",
    ]
    return lines, api, token


# 3. A whole session -----------------------------------------------------------------------------------


def session_section(api: Any, token: str, size: int) -> list[str]:
    from tests.support import ops

    costs: list[tuple[str, dict[str, int], float]] = []

    def call(label: str, method: str, url: str, body: Any = None) -> Any:
        started = time.perf_counter()
        response = api.call(method, url, token=token, json_body=body)
        assert response.status_code in (200, 201), (label, response.status_code, response.json)
        costs.append((label, ops(response), time.perf_counter() - started))
        return response

    for mode in ("exam", "practice"):
        body = {"exam_type": EXAM_TYPE, "question_count": 90, "mode": mode}
        session = call(f"{mode}: start (90 questions)", "POST", "/api/v1/exam-sessions", body).json
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
    lines = [
        f"A whole 90-question session on the {size:,}-question bank, through the gateway (each request includes "
        "the one read that authenticates it):",
        "",
        "| step | Firestore reads | writes | ms on the emulator |",
        "| --- | ---: | ---: | ---: |",
    ]
    totals: dict[str, list[int]] = {}
    for label, spent, seconds in costs:
        lines.append(f"| {label} | {spent['reads']} | {spent['writes']} | {seconds * 1000:.0f} |")
        if "read the session" not in label:
            total = totals.setdefault(label.split(":")[0], [0, 0])
            total[0] += spent["reads"]
            total[1] += spent["writes"]
    for mode, (reads, writes) in totals.items():
        lines.append(f"| **{mode}: start + 90 answers + submit** | **{reads}** | **{writes}** | |")
    return lines


def main() -> int:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    sizes = [int(s) for s in sys.argv[2].split(",")] if len(sys.argv) > 2 else [20_000, 50_000]
    from infra.local import pubsub
    from infra.local.emulators import clear_firestore
    from infra.manifest import TEST_PORTS

    port = int(os.environ["FIRESTORE_EMULATOR_HOST"].rsplit(":", 1)[1]) or TEST_PORTS["firestore"]
    clear_firestore(BENCH_PROJECT, port)
    pubsub.apply(BENCH_PROJECT, push_base=None)
    lines = import_section(rows)
    started, api, token = start_section(sizes)
    lines += ["", *started, "", *session_section(api, token, sizes[-1])]
    print("\n".join(lines))
    clear_firestore(BENCH_PROJECT, port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
