"""CSV imports of the question bank: once per object generation, streamed, at the write floor.

  question_imports/{id}                one import of one object generation: status, counts, errors
  question_chunks/{exam_type}:{group}  `hashes {"<chunk>": digest}` of CHUNKS_PER_GROUP chunks

Three ways a chunk of IMPORT_CHUNK valid rows is committed (docs/exams.md):
- a bank with no questions of the type: blind `create`s in one batch (no reads at all); if any
  question exists after all (a retried or concurrent import) the batch fails whole and the
  chunk takes the careful way;
- a chunk whose content hash matches the stored one: nothing (one read per CHUNKS_PER_GROUP
  chunks, the hash document);
- otherwise one transaction reads the chunk's questions and writes only what changed.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any, TextIO

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.transforms import DELETE_FIELD

from functions.exams import bank, csvrows, index, rawwrite
from functions.exams.models import EXAM_TYPE_PATTERN, ImportOut
from shared import store, userdata
from shared.collections import EXAM_TYPES, QUESTIONS
from shared.errors import NotFound
from shared.logging import get_logger, log_fields
from shared.outbound import STORAGE_TIMEOUT, storage_retry

log = get_logger("exams")

IMPORTS = userdata.personal("question_imports", userdata.field("requested_by"))
IMPORT_PREFIX = "questions/"
IMPORT_CHUNK = 400  # questions per commit (+ the exam type, the index shards, the hashes, the report)
IMPORT_LEASE = timedelta(minutes=10)
MAX_REPORTED_ERRORS = 1000

_HEX_ID = re.compile(r"^[0-9a-f]{32}$")


def import_id_of(bucket: str, name: str, generation: str) -> str:
    """One import per object generation: the same finalized event, delivered twice, maps here."""
    return hashlib.sha256(f"{bucket}/{name}#{generation}".encode()).hexdigest()[:32]


def exam_type_of_object(name: str) -> str | None:
    """`questions/security-plus.csv` -> `security-plus`; None when the name is not an import."""
    if not name.startswith(IMPORT_PREFIX) or not name.endswith(".csv"):
        return None
    return name[len(IMPORT_PREFIX) : -len(".csv")]


def valid_exam_type(value: str) -> bool:
    return 0 < len(value) <= 40 and re.match(EXAM_TYPE_PATTERN, value) is not None


def _import_doc(import_id: str, exam_type: str | None, obj: str, now: datetime, by: str | None) -> dict[str, Any]:
    return {
        "id": import_id,
        "status": "pending",
        "exam_type": exam_type,
        "object": obj,
        "requested_by": by,
        "rows_total": 0,
        "rows_imported": 0,
        "rows_rejected": 0,
        "rows_created": 0,
        "rows_updated": 0,
        "rows_unchanged": 0,
        "errors": [],
        "errors_truncated": False,
        "message": None,
        "attempts": 0,
        "created_at": now,
        "started_at": None,
        "finished_at": None,
        "lease_until": None,
    }


def upload_import(exam_type: str, stream: IO[bytes], size: int | None, requested_by: str, now: datetime) -> ImportOut:
    """Store an uploaded CSV at `questions/<exam_type>.csv`; the storage trigger imports it."""
    from google.cloud import storage

    from shared.config import settings

    bucket_name = settings().imports_bucket
    name = f"{IMPORT_PREFIX}{exam_type}.csv"
    blob = storage.Client().bucket(bucket_name).blob(name)
    blob.upload_from_file(stream, size=size, content_type="text/csv", timeout=STORAGE_TIMEOUT)
    import_id = import_id_of(bucket_name, name, str(blob.generation))
    doc = _import_doc(import_id, exam_type, name, now, requested_by)
    ref = bank.col(IMPORTS).document(import_id)

    def work(txn: store.Transaction) -> dict[str, Any]:
        # The trigger may already have started on it: then its report stands.
        snapshot = ref.get(transaction=txn)
        if snapshot.exists:
            return dict(snapshot.to_dict())
        txn.create(ref, doc)
        return doc

    return import_out(store.run_transaction(work))


def import_out(data: dict[str, Any]) -> ImportOut:
    return ImportOut(**{k: data.get(k) for k in ImportOut.model_fields})


def get_import(import_id: str) -> ImportOut:
    if not _HEX_ID.match(import_id):
        raise NotFound("No such import.")
    snapshot = bank.col(IMPORTS).document(import_id).get()
    if not snapshot.exists:
        raise NotFound("No such import.")
    return import_out(snapshot.to_dict())


class ImportBusy(RuntimeError):
    """Another delivery of the same object is importing it now: retry later."""


def _claim(ref: Any, exam_type: str | None, obj: str, now: datetime) -> bool | None:
    """Mark the import running. None when this generation was imported (or failed) already;
    else whether the bank holds no question of `exam_type` (read in the same get_all)."""
    refs = [ref] + ([bank.col(EXAM_TYPES).document(exam_type)] if exam_type and valid_exam_type(exam_type) else [])

    def work(txn: store.Transaction) -> bool | None:
        found = {s.reference.path: s for s in store.db().get_all(refs, transaction=txn)}
        snapshot = found[ref.path]
        data = dict(snapshot.to_dict() or {}) if snapshot.exists else _import_doc(ref.id, exam_type, obj, now, None)
        if data["status"] in ("completed", "failed"):
            return None
        lease = data.get("lease_until")
        if data["status"] == "running" and lease is not None and lease > now:
            raise ImportBusy(ref.id)
        data.update(status="running", started_at=now, lease_until=now + IMPORT_LEASE, attempts=data["attempts"] + 1)
        txn.set(ref, data)
        exam = found.get(refs[-1].path) if len(refs) > 1 else None
        return exam is None or not exam.exists or not (exam.to_dict() or {}).get("question_count")

    return store.run_transaction(work)


@dataclass
class ImportProgress:
    rows_total: int = 0
    rows_imported: int = 0
    rows_rejected: int = 0
    rows_created: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    errors_truncated: bool = False

    def counts(self) -> dict[str, int]:
        return {
            "rows_total": self.rows_total,
            "rows_imported": self.rows_imported,
            "rows_rejected": self.rows_rejected,
            "rows_created": self.rows_created,
            "rows_updated": self.rows_updated,
            "rows_unchanged": self.rows_unchanged,
        }

    def reject(self, row: int, message: str) -> None:
        self.rows_total += 1
        self.rows_rejected += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"row": row, "message": message})
        else:
            self.errors_truncated = True

    def add(self, rows: int, outcome: Counter[str]) -> None:
        self.rows_total += rows
        self.rows_imported += rows
        self.rows_created += outcome["created"]
        self.rows_updated += outcome["updated"]
        self.rows_unchanged += outcome["unchanged"]


def _row_fields(exam_type: str, row: csvrows.Row) -> dict[str, Any]:
    return bank.question_fields(
        exam_type=exam_type,
        question_id=row.question_id,
        domain=row.domain,
        question_text=row.question_text,
        options=row.options,
        explanations=row.explanations,
        correct_answer=row.correct_answer,
    )


def chunk_digest(rows: list[csvrows.Row]) -> str:
    """The content of a chunk's rows, order included, as a short hash."""
    digest = hashlib.sha256()
    for r in rows:
        parts = [r.question_id, r.domain, r.question_text, *r.options.values(), *r.explanations.values()]
        digest.update("\x1f".join([*parts, r.correct_answer]).encode())
        digest.update(b"\x1e")
    return digest.hexdigest()[:24]


@dataclass
class Chunk:
    number: int  # in the file, from 0: which hash vouches for these rows
    rows: list[csvrows.Row]
    digest: str


def _commit_fresh(exam_type: str, chunk: Chunk, report_ref: Any, progress: ImportProgress, now: datetime) -> None:
    """Blind creates, no reads: the bank held no question of this type when the import began.
    Raises AlreadyExists (nothing written) when one exists after all."""
    batch = store.db().batch()
    creates: list[Any] = []
    deltas: Counter[str] = Counter()
    delta = index.IndexDelta(exam_type)
    shard = chunk.number % index.SHARDS  # the whole chunk in one shard: one index write
    for row in chunk.rows:
        doc = {
            **_row_fields(exam_type, row),
            "rand": random.random(),
            "created_at": now,
            "updated_at": now,
            "source": f"import:{report_ref.id}",
            "import_chunk": chunk.number,
            "index_shard": shard,
        }
        ref = bank.col(QUESTIONS).document(bank.question_doc_id(exam_type, row.question_id))
        creates.append(rawwrite.create(ref._document_path, doc))
        deltas[row.domain] += 1
        delta.add(row.question_id, row.domain, shard)
    bank.apply_counts(batch, exam_type, deltas, now)
    delta.write(batch)
    hashes = {"exam_type": exam_type, "hashes": {str(chunk.number): chunk.digest}}
    batch.set(bank.chunk_ref(exam_type, chunk.number), hashes, merge=True)
    outcome: Counter[str] = Counter(created=len(chunk.rows))
    counts = progress.counts()
    counts.update(
        rows_total=counts["rows_total"] + len(chunk.rows),
        rows_imported=counts["rows_imported"] + len(chunk.rows),
        rows_created=counts["rows_created"] + len(chunk.rows),
    )
    batch.update(report_ref, counts)
    batch._write_pbs[:0] = creates  # one atomic commit: the questions with their bookkeeping
    batch.commit()
    progress.add(len(chunk.rows), outcome)


def _commit_rows(exam_type: str, chunk: Chunk, report_ref: Any, progress: ImportProgress, now: datetime) -> None:
    """One chunk in one transaction: the questions, counts, index, hashes and the progress.

    Existing questions are read first (in the transaction), so a re-import updates in place,
    keeps `rand` and `created_at`, skips unchanged rows and moves counts and index entries
    only when a domain changes; a retried chunk changes nothing twice."""
    rows = chunk.rows
    refs = [bank.col(QUESTIONS).document(bank.question_doc_id(exam_type, r.question_id)) for r in rows]

    def work(txn: store.Transaction) -> Counter[str]:
        existing = {s.id: s.to_dict() for s in store.db().get_all(refs, transaction=txn) if s.exists}
        deltas: Counter[str] = Counter()
        outcome: Counter[str] = Counter()
        delta = index.IndexDelta(exam_type)
        hashes: dict[int, dict[str, Any]] = {}  # hash document (group) -> its changes
        writes: list[tuple[Any, dict[str, Any]]] = []
        for row, ref in zip(rows, refs, strict=True):
            fields = _row_fields(exam_type, row)
            before = existing.get(ref.id)
            same = before is not None and all(before.get(k) == v for k, v in fields.items())
            if same and before is not None and before.get("import_chunk") == chunk.number:
                outcome["unchanged"] += 1
                continue
            old_chunk = (before or {}).get("import_chunk")
            if old_chunk is not None and old_chunk != chunk.number:
                group = int(old_chunk) // bank.CHUNKS_PER_GROUP
                hashes.setdefault(group, {})[str(old_chunk)] = DELETE_FIELD
            doc = {
                **(before or {}),
                **fields,
                "rand": before["rand"] if before else random.random(),
                "created_at": before["created_at"] if before else now,
                "import_chunk": chunk.number,
            }
            if not same:
                doc.update(updated_at=now, source=f"import:{report_ref.id}")
            writes.append((ref, doc))
            if before is None or before["domain"] != doc["domain"]:
                bank.count_changes(before, doc, deltas)
                shard = index.shard_of_doc(before) if before else index.shard_of(row.question_id)
                doc["index_shard"] = shard
                delta.change(row.question_id, before["domain"] if before else None, row.domain, shard)
            outcome["unchanged" if same else ("updated" if before else "created")] += 1
        current = delta.read(txn)  # shards that lose ids (domain changes), before any write
        for ref, doc in writes:
            txn.set(ref, doc)
        if any(deltas.values()):
            bank.apply_counts(txn, exam_type, deltas, now)
        delta.write(txn, current)
        hashes.setdefault(chunk.number // bank.CHUNKS_PER_GROUP, {})[str(chunk.number)] = chunk.digest
        for group, changes in hashes.items():
            ref = bank.chunk_ref(exam_type, group * bank.CHUNKS_PER_GROUP)
            txn.set(ref, {"exam_type": exam_type, "hashes": changes}, merge=True)
        counts = progress.counts()
        counts["rows_total"] += len(rows)
        counts["rows_imported"] += len(rows)
        for kind in ("created", "updated", "unchanged"):
            counts[f"rows_{kind}"] += outcome[kind]
        txn.update(report_ref, counts)
        return outcome

    progress.add(len(rows), store.run_transaction(work))


class ChunkWriter:
    """Commits an import's chunks the cheapest safe way (module docstring)."""

    def __init__(self, exam_type: str, report_ref: Any, progress: ImportProgress, now: datetime, fresh: bool) -> None:
        self.exam_type = exam_type
        self.report_ref = report_ref
        self.progress = progress
        self.now = now
        self.fresh = fresh
        self.number = 0
        self._hashes: dict[int, dict[str, str]] = {}  # group -> chunk -> digest, as read

    def _stored_digest(self, number: int) -> str | None:
        group = number // bank.CHUNKS_PER_GROUP
        if group not in self._hashes:
            snapshot = bank.chunk_ref(self.exam_type, number).get()
            self._hashes[group] = dict(((snapshot.to_dict() or {}).get("hashes") or {}) if snapshot.exists else {})
        return self._hashes[group].get(str(number))

    def commit(self, rows: list[csvrows.Row]) -> None:
        chunk = Chunk(self.number, rows, chunk_digest(rows))
        self.number += 1
        if self.fresh:
            try:
                _commit_fresh(self.exam_type, chunk, self.report_ref, self.progress, self.now)
                return
            except (gexc.AlreadyExists, gexc.FailedPrecondition, gexc.Conflict):
                self.fresh = False  # a retried or concurrent import wrote some: read from here on
        if self._stored_digest(chunk.number) == chunk.digest:
            self.progress.add(len(rows), Counter(unchanged=len(rows)))
            return
        _commit_rows(self.exam_type, chunk, self.report_ref, self.progress, self.now)
        self._hashes.setdefault(chunk.number // bank.CHUNKS_PER_GROUP, {})[str(chunk.number)] = chunk.digest


def import_stream(
    exam_type: str, text: TextIO, report_ref: Any, now: datetime, progress: ImportProgress, *, fresh: bool = False
) -> None:
    """Import a CSV text stream into `exam_type`, chunk by chunk, counting into `progress`; the
    report is updated as each written chunk commits. `fresh`: the bank had no question of
    this type when the import was claimed.

    Raises csvrows.HeaderError (nothing imported) or csv.Error / UnicodeDecodeError (the chunks
    committed before the bad spot stay imported)."""
    writer = ChunkWriter(exam_type, report_ref, progress, now, fresh)
    pending: list[csvrows.Row] = []
    for judged in csvrows.read_rows(text):
        if isinstance(judged, csvrows.Rejected):
            progress.reject(judged.row, judged.message)
            continue
        pending.append(judged)
        if len(pending) >= IMPORT_CHUNK:
            writer.commit(pending)
            pending = []
    if pending:
        writer.commit(pending)


def _finish(ref: Any, progress: ImportProgress, status: str, message: str | None, now: datetime) -> None:
    ref.update(
        {
            **progress.counts(),
            "status": status,
            "message": message,
            "errors": progress.errors,
            "errors_truncated": progress.errors_truncated,
            "finished_at": store.now(),
            "lease_until": None,
        }
    )


def run_import(exam_type: str | None, obj: str, import_id: str, open_text: Any, now: datetime) -> str:
    """Import one object generation once. `open_text()` opens its content as a text stream.

    Returns the final status ("skipped" when this generation was handled already)."""
    ref = bank.col(IMPORTS).document(import_id)
    fresh = _claim(ref, exam_type, obj, now)
    if fresh is None:
        log.info("import already handled", extra=log_fields(import_id=import_id))
        return "skipped"
    try:
        status = _import_claimed(ref, exam_type, open_text, now, fresh)
    except Exception:
        # Release the lease so the platform's retry can start over (every step is idempotent);
        # if even that fails, the lease runs out and a later delivery takes the import over.
        with contextlib.suppress(Exception):
            ref.update({"lease_until": None})
        raise
    return status


def _import_claimed(ref: Any, exam_type: str | None, open_text: Any, now: datetime, fresh: bool) -> str:
    """The claimed import, to its finish: "completed" or "failed" (the file's fault)."""
    progress = ImportProgress()
    if exam_type is None or not valid_exam_type(exam_type):
        _finish(ref, progress, "failed", "The file name must be questions/<exam_type>.csv, lowercase kebab-case.", now)
        return "failed"
    try:
        with open_text() as text:
            import_stream(exam_type, text, ref, now, progress, fresh=fresh)
    except csvrows.HeaderError as exc:
        _finish(ref, progress, "failed", str(exc), now)
        return "failed"
    except (csv.Error, UnicodeDecodeError) as exc:
        reason = "The file is not UTF-8 text." if isinstance(exc, UnicodeDecodeError) else f"Unreadable CSV: {exc}"
        _finish(ref, progress, "failed", reason[:500], now)
        return "failed"
    except gexc.NotFound:
        # This generation was replaced or deleted before we ran: its successor has its own event.
        _finish(ref, progress, "failed", "The file was replaced or deleted before it could be imported.", now)
        return "failed"
    _finish(ref, progress, "completed", None, now)
    log.info(
        "import completed",
        extra=log_fields(import_id=ref.id, exam_type=exam_type, **progress.counts()),
    )
    return "completed"


def import_object(bucket: str, name: str, generation: str, now: datetime) -> str:
    """The storage trigger's work: objects outside `questions/` are not imports."""
    if not name.startswith(IMPORT_PREFIX):
        return "ignored"
    import_id = import_id_of(bucket, name, generation)

    def open_text() -> Any:
        from google.cloud import storage

        blob = storage.Client().bucket(bucket).blob(name, generation=int(generation) if generation else None)
        raw = blob.open("rb", chunk_size=1024 * 1024, timeout=STORAGE_TIMEOUT, retry=storage_retry())
        return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")

    return run_import(exam_type_of_object(name), name, import_id, open_text, now)
