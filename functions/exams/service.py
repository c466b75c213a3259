"""Practice exams: the question bank, CSV imports, exam sessions and weak areas.

Firestore layout (decisions and budgets in docs/exams.md):
  exam_types/{exam_type}          name, question_count, domains {"1.1": n}: kept by every change
  questions/{exam_type}:{qid}     one question; `rand` in [0, 1) for random selection
  question_imports/{id}           one import of one object generation: status, counts, errors
  exam_sessions/{id}              one attempt: the chosen questions (snapshot), answers, result
  exam_domain_stats/{user_id}     domains {"<exam_type>|<domain>": {exam_type, domain, answered, correct}}
"""

from __future__ import annotations

import contextvars
import csv
import hashlib
import io
import random
import re
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any, TextIO

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.base_query import FieldFilter

from functions.exams import csvrows
from functions.exams.models import (
    EXAM_TYPE_PATTERN,
    DomainCountOut,
    ExamAnswerOut,
    ExamTypeOut,
    ImportOut,
    PracticeAnswerOut,
    QuestionOut,
    ResultOut,
    SessionOut,
    SessionQuestionOut,
    SessionSummaryOut,
    WeakAreaOut,
    WeakAreasOut,
)
from shared import store, userdata
from shared.auth import Principal, new_id
from shared.collections import EXAM_SESSIONS, EXAM_TYPES, QUESTIONS
from shared.errors import Conflict, NotFound, ValidationFailed
from shared.events import publish
from shared.logging import get_logger, log_fields
from shared.registry import composite_index

log = get_logger("exams")

IMPORTS = userdata.personal("question_imports", userdata.field("requested_by"))
SESSIONS = EXAM_SESSIONS
DOMAIN_STATS = userdata.personal("exam_domain_stats", userdata.doc_id())

KNOWN_EXAMS = {
    "security-plus": "CompTIA Security+",
    "network-plus": "CompTIA Network+",
    "a-plus-core-1": "CompTIA A+ Core 1",
    "a-plus-core-2": "CompTIA A+ Core 2",
}
IMPORT_PREFIX = "questions/"
IMPORT_CHUNK = 400  # questions per commit (+ the exam type and the import report)
IMPORT_LEASE = timedelta(minutes=10)
MAX_REPORTED_ERRORS = 1000
SECONDS_PER_QUESTION = 90
MAX_EXAM_SECONDS = 3 * 3600
SAMPLE_FACTOR = 3  # a selection up to 3x the count is read whole; larger ones take at most 3x count probes
PROBE_WORKERS = 16

QUESTIONS_BY_EXAM_DOMAIN = composite_index(QUESTIONS, ("exam_type", "ASCENDING"), ("domain", "ASCENDING"))
QUESTIONS_BY_RAND = composite_index(QUESTIONS, ("exam_type", "ASCENDING"), ("rand", "ASCENDING"))
QUESTIONS_BY_DOMAIN_RAND = composite_index(
    QUESTIONS, ("exam_type", "ASCENDING"), ("domain", "ASCENDING"), ("rand", "ASCENDING")
)
SESSIONS_BY_USER = composite_index(SESSIONS, ("user_id", "ASCENDING"), ("created_at", "DESCENDING"))
SESSIONS_EXPIRING = composite_index(SESSIONS, ("status", "ASCENDING"), ("deadline", "ASCENDING"))


def exam_name(exam_type: str) -> str:
    return KNOWN_EXAMS.get(exam_type) or exam_type.replace("-", " ").title()


def question_doc_id(exam_type: str, question_id: str) -> str:
    return f"{exam_type}:{question_id}"


def _col(name: str) -> Any:
    return store.db().collection(name)


_QUESTION_DOC_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*:[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_HEX_ID = re.compile(r"^[0-9a-f]{32}$")


def _question_ref(doc_id: str) -> Any:
    """A question's document, or NotFound for an id no question can have."""
    if not _QUESTION_DOC_ID.match(doc_id):
        raise NotFound("No such question.")
    return _col(QUESTIONS).document(doc_id)


def _session_ref(session_id: str) -> Any:
    if not _HEX_ID.match(session_id):
        raise NotFound("No such exam session.")
    return _col(SESSIONS).document(session_id)


# Exam types and their counts -------------------------------------------------------------------


def _count_changes(before: dict[str, Any] | None, after: dict[str, Any] | None, deltas: Counter[str]) -> None:
    """Add to `deltas` what replacing `before` by `after` does to the per-domain counts."""
    if before is not None:
        deltas[before["domain"]] -= 1
    if after is not None:
        deltas[after["domain"]] += 1


def _apply_counts(writer: Any, exam_type: str, deltas: Counter[str], now: datetime) -> None:
    """Write the count changes on the exam type (inside the same commit as the questions)."""
    changed = {d: n for d, n in deltas.items() if n}
    total = sum(changed.values())
    update: dict[str, Any] = {"name": exam_name(exam_type), "updated_at": now}
    if changed:
        update["domains"] = {d: store.Increment(n) for d, n in changed.items()}
    if total:
        update["question_count"] = store.Increment(total)
    writer.set(_col(EXAM_TYPES).document(exam_type), update, merge=True)


def exam_type_out(snapshot: Any) -> ExamTypeOut:
    data = snapshot.to_dict() or {}
    domains = sorted(
        ((d, int(n)) for d, n in (data.get("domains") or {}).items() if n),
        key=lambda item: tuple(int(p) for p in item[0].split(".")),
    )
    return ExamTypeOut(
        id=snapshot.id,
        name=data.get("name") or exam_name(snapshot.id),
        question_count=int(data.get("question_count") or 0),
        domains=[DomainCountOut(domain=d, count=n) for d, n in domains],
    )


def list_exam_types(limit: int, cursor: str | None) -> store.Page:
    collection = _col(EXAM_TYPES)
    return store.paginate(collection, collection, [], limit, cursor, exam_type_out)


# Questions ------------------------------------------------------------------------------------


def question_out(doc_id: str, data: dict[str, Any]) -> QuestionOut:
    return QuestionOut(id=doc_id, **{k: data.get(k) for k in QuestionOut.model_fields if k != "id"})


def _question_fields(
    *,
    exam_type: str,
    question_id: str,
    domain: str,
    question_text: str,
    options: dict[str, str],
    explanations: dict[str, str],
    correct_answer: str,
) -> dict[str, Any]:
    return {
        "exam_type": exam_type,
        "question_id": question_id,
        "domain": domain,
        "question_text": question_text,
        "options": dict(options),
        "explanations": dict(explanations),
        "correct_answer": correct_answer,
    }


def _content_equal(before: dict[str, Any], fields: dict[str, Any]) -> bool:
    return all(before.get(k) == v for k, v in fields.items())


def create_question(fields: dict[str, Any], now: datetime) -> QuestionOut:
    """`fields`: exam_type, question_id (None: generated), domain, text, options, explanations, answer."""
    question_id = fields.get("question_id") or f"Q-{new_id()[:12].upper()}"
    doc = {
        **_question_fields(**{**fields, "question_id": question_id}),
        "rand": random.random(),
        "created_at": now,
        "updated_at": now,
        "source": "api",
    }
    ref = _col(QUESTIONS).document(question_doc_id(doc["exam_type"], question_id))

    def work(txn: store.Transaction) -> None:
        if ref.get(transaction=txn).exists:
            raise Conflict(f"Question {question_id} already exists in {doc['exam_type']}.")
        deltas: Counter[str] = Counter()
        _count_changes(None, doc, deltas)
        txn.create(ref, doc)
        _apply_counts(txn, doc["exam_type"], deltas, now)

    store.run_transaction(work)
    return question_out(ref.id, doc)


def get_question(doc_id: str) -> QuestionOut:
    snapshot = _question_ref(doc_id).get()
    if not snapshot.exists:
        raise NotFound("No such question.")
    return question_out(snapshot.id, snapshot.to_dict())


def update_question(doc_id: str, changes: dict[str, Any], now: datetime) -> QuestionOut:
    ref = _question_ref(doc_id)

    def work(txn: store.Transaction) -> dict[str, Any]:
        snapshot = ref.get(transaction=txn)
        if not snapshot.exists:
            raise NotFound("No such question.")
        before = snapshot.to_dict()
        after = {**before, **changes, "updated_at": now}
        txn.set(ref, after)
        if after["domain"] != before["domain"]:
            deltas: Counter[str] = Counter()
            _count_changes(before, after, deltas)
            _apply_counts(txn, before["exam_type"], deltas, now)
        return after

    return question_out(doc_id, store.run_transaction(work))


def delete_question(doc_id: str, now: datetime) -> None:
    ref = _question_ref(doc_id)

    def work(txn: store.Transaction) -> None:
        snapshot = ref.get(transaction=txn)
        if not snapshot.exists:
            raise NotFound("No such question.")
        before = snapshot.to_dict()
        deltas: Counter[str] = Counter()
        _count_changes(before, None, deltas)
        txn.delete(ref)
        _apply_counts(txn, before["exam_type"], deltas, now)

    store.run_transaction(work)


def list_questions(exam_type: str | None, domain: str | None, limit: int, cursor: str | None) -> store.Page:
    collection = _col(QUESTIONS)
    query = collection
    if exam_type:
        query = query.where(filter=FieldFilter("exam_type", "==", exam_type))
    if domain:
        query = query.where(filter=FieldFilter("domain", "==", domain))
    return store.paginate(query, collection, [], limit, cursor, lambda s: question_out(s.id, s.to_dict()))


# Imports ---------------------------------------------------------------------------------------


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
    from google.cloud import storage  # type: ignore[attr-defined]

    from shared.config import settings

    bucket_name = settings().imports_bucket
    name = f"{IMPORT_PREFIX}{exam_type}.csv"
    blob = storage.Client().bucket(bucket_name).blob(name)
    blob.upload_from_file(stream, size=size, content_type="text/csv")
    import_id = import_id_of(bucket_name, name, str(blob.generation))
    doc = _import_doc(import_id, exam_type, name, now, requested_by)
    ref = _col(IMPORTS).document(import_id)

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
    snapshot = _col(IMPORTS).document(import_id).get()
    if not snapshot.exists:
        raise NotFound("No such import.")
    return import_out(snapshot.to_dict())


class ImportBusy(RuntimeError):
    """Another delivery of the same object is importing it now: retry later."""


def _claim(ref: Any, exam_type: str | None, obj: str, now: datetime) -> bool:
    """Mark the import running; False when this generation was imported (or failed) already."""

    def work(txn: store.Transaction) -> bool:
        snapshot = ref.get(transaction=txn)
        data = snapshot.to_dict() if snapshot.exists else _import_doc(ref.id, exam_type, obj, now, None)
        if data["status"] in ("completed", "failed"):
            return False
        lease = data.get("lease_until")
        if data["status"] == "running" and lease is not None and lease > now:
            raise ImportBusy(ref.id)
        data.update(status="running", started_at=now, lease_until=now + IMPORT_LEASE, attempts=data["attempts"] + 1)
        txn.set(ref, data)
        return True

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


def _commit_rows(
    exam_type: str, rows: list[csvrows.Row], report_ref: Any, progress: ImportProgress, now: datetime
) -> None:
    """One chunk in one transaction: the questions, the exam type's counts and the progress.

    Existing questions are read first (in the transaction), so a re-import updates in place,
    keeps `rand` and `created_at`, skips unchanged rows and moves counts only when a domain
    changes; a retried chunk changes nothing twice.
    """
    refs = [_col(QUESTIONS).document(question_doc_id(exam_type, r.question_id)) for r in rows]

    def work(txn: store.Transaction) -> Counter[str]:
        existing = {s.id: s.to_dict() for s in store.db().get_all(refs, transaction=txn) if s.exists}
        deltas: Counter[str] = Counter()
        outcome: Counter[str] = Counter()
        for row, ref in zip(rows, refs, strict=True):
            fields = _question_fields(
                exam_type=exam_type,
                question_id=row.question_id,
                domain=row.domain,
                question_text=row.question_text,
                options=row.options,
                explanations=row.explanations,
                correct_answer=row.correct_answer,
            )
            before = existing.get(ref.id)
            if before is not None and _content_equal(before, fields):
                outcome["unchanged"] += 1
                continue
            doc = {
                **fields,
                "rand": before["rand"] if before else random.random(),
                "created_at": before["created_at"] if before else now,
                "updated_at": now,
                "source": f"import:{report_ref.id}",
            }
            txn.set(ref, doc)
            _count_changes(before, doc, deltas)
            outcome["updated" if before else "created"] += 1
        if any(deltas.values()):
            _apply_counts(txn, exam_type, deltas, now)
        counts = progress.counts()
        counts["rows_total"] += len(rows)
        counts["rows_imported"] += len(rows)
        for kind in ("created", "updated", "unchanged"):
            counts[f"rows_{kind}"] += outcome[kind]
        txn.update(report_ref, counts)
        return outcome

    outcome = store.run_transaction(work)
    progress.rows_total += len(rows)
    progress.rows_imported += len(rows)
    progress.rows_created += outcome["created"]
    progress.rows_updated += outcome["updated"]
    progress.rows_unchanged += outcome["unchanged"]


def import_stream(exam_type: str, text: TextIO, report_ref: Any, now: datetime, progress: ImportProgress) -> None:
    """Import a CSV text stream into `exam_type`, chunk by chunk, counting into `progress`; the
    report is updated as each chunk commits.

    Raises csvrows.HeaderError (nothing imported) or csv.Error / UnicodeDecodeError (the chunks
    committed before the bad spot stay imported)."""
    pending: list[csvrows.Row] = []
    for judged in csvrows.read_rows(text):
        if isinstance(judged, csvrows.Rejected):
            progress.reject(judged.row, judged.message)
            continue
        pending.append(judged)
        if len(pending) >= IMPORT_CHUNK:
            _commit_rows(exam_type, pending, report_ref, progress, now)
            pending = []
    if pending:
        _commit_rows(exam_type, pending, report_ref, progress, now)


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
    ref = _col(IMPORTS).document(import_id)
    if not _claim(ref, exam_type, obj, now):
        log.info("import already handled", extra=log_fields(import_id=import_id))
        return "skipped"
    progress = ImportProgress()
    if exam_type is None or not valid_exam_type(exam_type):
        _finish(ref, progress, "failed", "The file name must be questions/<exam_type>.csv, lowercase kebab-case.", now)
        return "failed"
    try:
        with open_text() as text:
            import_stream(exam_type, text, ref, now, progress)
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
    except Exception:
        # Release the lease so the platform's retry can start over (every step is idempotent).
        ref.update({"lease_until": None})
        raise
    _finish(ref, progress, "completed", None, now)
    log.info(
        "import completed",
        extra=log_fields(import_id=import_id, exam_type=exam_type, **progress.counts()),
    )
    return "completed"


def import_object(bucket: str, name: str, generation: str, now: datetime) -> str:
    """The storage trigger's work: objects outside `questions/` are not imports."""
    if not name.startswith(IMPORT_PREFIX):
        return "ignored"
    import_id = import_id_of(bucket, name, generation)

    def open_text() -> Any:
        from google.cloud import storage  # type: ignore[attr-defined]

        blob = storage.Client().bucket(bucket).blob(name, generation=int(generation) if generation else None)
        raw = blob.open("rb", chunk_size=1024 * 1024)
        return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")

    return run_import(exam_type_of_object(name), name, import_id, open_text, now)


# Exam sessions ----------------------------------------------------------------------------------


def _questions_query(exam_type: str, domains: list[str] | None) -> Any:
    query = _col(QUESTIONS).where(filter=FieldFilter("exam_type", "==", exam_type))
    if domains:
        if len(domains) == 1:
            query = query.where(filter=FieldFilter("domain", "==", domains[0]))
        else:
            query = query.where(filter=FieldFilter("domain", "in", domains))
    return query


def _probe(query: Any, r: float) -> tuple[list[Any], int]:
    """The first question at or after `r` (wrapping to the start), and the reads it cost.

    Runs in a worker thread with a meter of its own; the caller adds the reads to the request's."""
    meter = store.start_metering()
    found = list(query.where(filter=FieldFilter("rand", ">=", r)).order_by("rand").limit(1).stream())
    if not found:
        found = list(query.order_by("rand").limit(1).stream())
    return found, meter.reads


def choose_questions(exam_type: str, domains: list[str] | None, count: int, available: int) -> list[Any]:
    """`count` distinct random questions without reading the whole bank.

    A selection of at most SAMPLE_FACTOR times `count` questions is read whole and sampled. A
    larger one is probed: each probe reads the first question with `rand >= r` for a fresh
    random r (wrapping to the start), one read per probe, PROBE_WORKERS at a time; collisions
    are probed again, SAMPLE_FACTOR times `count` probes at most. Either way a start reads at
    most SAMPLE_FACTOR * count questions, but for the (improbable, small-bank) case where the
    probes run out: then the selection is read whole."""
    query = _questions_query(exam_type, domains)
    if available <= SAMPLE_FACTOR * count:
        everything = list(query.stream())
        return random.sample(everything, min(count, len(everything)))
    chosen: dict[str, Any] = {}
    budget = SAMPLE_FACTOR * count
    meter = store.current_meter()
    with ThreadPoolExecutor(max_workers=min(PROBE_WORKERS, count)) as pool:
        while len(chosen) < count and budget > 0:
            batch = min(count - len(chosen), budget)
            budget -= batch
            # A fresh context per probe: the worker's meter never touches the request's.
            futures = [pool.submit(contextvars.Context().run, _probe, query, random.random()) for _ in range(batch)]
            for future in futures:
                found, reads = future.result()
                if meter is not None:
                    meter.reads += reads
                for snapshot in found:
                    if len(chosen) < count:
                        chosen.setdefault(snapshot.id, snapshot)
    if len(chosen) < count:
        log.warning("probes ran out; reading the selection whole", extra=log_fields(exam_type=exam_type))
        everything = list(query.stream())
        return random.sample(everything, min(count, len(everything)))
    return list(chosen.values())


def start_session(
    user_id: str, exam_type: str, count: int, domains: list[str] | None, mode: str, now: datetime
) -> SessionOut:
    exam = _col(EXAM_TYPES).document(exam_type).get()
    if not exam.exists or not (exam.to_dict() or {}).get("question_count"):
        raise ValidationFailed(
            "There is no question bank for this exam type.",
            details=[{"field": "exam_type", "message": "Unknown exam type."}],
        )
    counts: dict[str, int] = {d: int(n) for d, n in (exam.to_dict().get("domains") or {}).items() if n}
    if domains:
        unknown = [d for d in domains if d not in counts]
        if unknown:
            raise ValidationFailed(
                "Some domains have no questions.",
                details=[{"field": "domains", "message": "No questions in " + ", ".join(unknown) + "."}],
            )
    available = sum(n for d, n in counts.items() if not domains or d in domains)
    if available < count:
        raise ValidationFailed(
            f"Only {available} questions are available.",
            details=[{"field": "question_count", "message": f"At most {available}."}],
        )
    picked = choose_questions(exam_type, domains, count, available)
    if len(picked) < count:
        raise Conflict("Not enough questions could be drawn; try again.")
    questions = []
    for snapshot in picked:
        data = snapshot.to_dict()
        questions.append(
            {
                "id": snapshot.id,
                "domain": data["domain"],
                "question_text": data["question_text"],
                "options": data["options"],
                "correct_answer": data["correct_answer"],
            }
        )
    deadline = now + timedelta(seconds=min(MAX_EXAM_SECONDS, SECONDS_PER_QUESTION * count)) if mode == "exam" else None
    session_id = new_id()
    doc: dict[str, Any] = {
        "user_id": user_id,
        "exam_type": exam_type,
        "mode": mode,
        "status": "in_progress",
        "domains_filter": domains,
        "question_count": count,
        "questions": questions,
        "answers": {},
        "answered": 0,
        "correct": 0,
        "score": None,
        "result": None,
        "created_at": now,
        "deadline": deadline,
        "submitted_at": None,
    }
    _col(SESSIONS).document(session_id).create(doc)
    return session_out(session_id, doc)


def session_out(session_id: str, data: dict[str, Any]) -> SessionOut:
    submitted = data["status"] == "submitted"
    practice = data["mode"] == "practice"
    answers: dict[str, Any] = data.get("answers") or {}
    questions = []
    for q in data["questions"]:
        given: dict[str, Any] | None = answers.get(q["id"])
        reveal = given is not None and (practice or submitted)
        questions.append(
            SessionQuestionOut(
                id=q["id"],
                domain=q["domain"],
                question_text=q["question_text"],
                options=q["options"],
                answer=given["answer"] if given else None,
                correct=given["correct"] if (reveal and given) else None,
                correct_answer=q["correct_answer"] if (reveal or submitted) else None,
            )
        )
    return SessionOut(
        id=session_id,
        user_id=data["user_id"],
        exam_type=data["exam_type"],
        mode=data["mode"],
        status=data["status"],
        question_count=data["question_count"],
        answered=data.get("answered", 0),
        created_at=data["created_at"],
        deadline=data.get("deadline"),
        submitted_at=data.get("submitted_at"),
        result=ResultOut(**data["result"]) if data.get("result") else None,
        questions=questions,
    )


def _owned_session(snapshot: Any, principal: Principal, *, admin_may: bool) -> dict[str, Any]:
    """The session if the caller owns it (or, to read, is an admin); otherwise it does not exist."""
    data = snapshot.to_dict() if snapshot.exists else None
    if data is None or not (data["user_id"] == principal.user_id or (admin_may and principal.is_admin)):
        raise NotFound("No such exam session.")
    return dict(data)


def get_session(session_id: str, principal: Principal) -> SessionOut:
    snapshot = _session_ref(session_id).get()
    return session_out(session_id, _owned_session(snapshot, principal, admin_may=True))


def _stats_update(user_id: str, exam_type: str, results: Iterable[tuple[str, bool]]) -> dict[str, Any] | None:
    per_domain: dict[str, list[int]] = {}
    for domain, correct in results:
        entry = per_domain.setdefault(domain, [0, 0])
        entry[0] += 1
        entry[1] += int(correct)
    if not per_domain:
        return None
    return {
        "user_id": user_id,
        "domains": {
            f"{exam_type}|{domain}": {
                "exam_type": exam_type,
                "domain": domain,
                "answered": store.Increment(answered),
                "correct": store.Increment(correct),
            }
            for domain, (answered, correct) in per_domain.items()
        },
    }


def _answered_event(
    session_id: str, data: dict[str, Any], question_id: str, domain: str, correct: bool
) -> dict[str, Any]:
    return {
        "user_id": data["user_id"],
        "session_id": session_id,
        "exam_type": data["exam_type"],
        "question_id": question_id,
        "domain": domain,
        "correct": correct,
        "mode": data["mode"],
    }


def answer(session_id: str, principal: Principal, question_id: str, letter: str, now: datetime) -> Any:
    """Record one answer. Practice: the verdict and every explanation; exam: only `recorded`."""
    ref = _session_ref(session_id)

    def work(txn: store.Transaction) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
        data = _owned_session(ref.get(transaction=txn), principal, admin_may=False)
        question = next((q for q in data["questions"] if q["id"] == question_id), None)
        if question is None:
            raise NotFound("This question is not part of the session.")
        if data["status"] != "in_progress":
            raise Conflict("The session is submitted; answers cannot change.")
        if data.get("deadline") is not None and now > data["deadline"]:
            raise Conflict("Time is up for this exam; submit it to see the score.")
        if question_id in (data.get("answers") or {}):
            raise Conflict("This question is answered already.")
        full = None
        if data["mode"] == "practice":
            snapshot = _col(QUESTIONS).document(question["id"]).get(transaction=txn)
            full = snapshot.to_dict() if snapshot.exists else None
        correct = letter == question["correct_answer"]
        txn.update(
            ref,
            {
                f"answers.`{question_id}`": {"answer": letter, "correct": correct, "answered_at": now},
                "answered": store.Increment(1),
                "correct": store.Increment(int(correct)),
            },
        )
        if data["mode"] == "practice":
            stats = _stats_update(data["user_id"], data["exam_type"], [(question["domain"], correct)]) or {}
            txn.set(_col(DOMAIN_STATS).document(data["user_id"]), stats, merge=True)
        return data, question, full

    data, question, full = store.run_transaction(work)
    correct = letter == question["correct_answer"]
    if data["mode"] != "practice":
        return ExamAnswerOut()
    publish(
        "exam.answered",
        _answered_event(session_id, data, question_id, question["domain"], correct),
        occurred_at=now,
    )
    return PracticeAnswerOut(
        correct=correct,
        correct_answer=question["correct_answer"],
        explanations=dict((full or {}).get("explanations") or {}),
    )


def score(questions: list[dict[str, Any]], answers: dict[str, Any]) -> dict[str, Any]:
    """Total and per-domain score; an unanswered question counts as wrong."""
    per_domain: dict[str, list[int]] = {}
    for q in questions:
        entry = per_domain.setdefault(q["domain"], [0, 0])
        entry[1] += 1
        entry[0] += int(bool((answers.get(q["id"]) or {}).get("correct")))
    correct = sum(c for c, _ in per_domain.values())
    total = len(questions)
    domains = sorted(per_domain.items(), key=lambda item: tuple(int(p) for p in item[0].split(".")))
    return {
        "score": round(100 * correct / total) if total else 0,
        "correct": correct,
        "total": total,
        "domains": [{"domain": d, "correct": c, "total": t} for d, (c, t) in domains],
    }


def submit(session_id: str, principal: Principal | None, now: datetime) -> ResultOut:
    """Score the session once; `principal` None is the deadline sweep acting for the owner."""
    ref = _session_ref(session_id)

    def work(txn: store.Transaction) -> dict[str, Any]:
        snapshot = ref.get(transaction=txn)
        if principal is None:
            if not snapshot.exists:
                raise NotFound("No such exam session.")
            data = dict(snapshot.to_dict())
        else:
            data = _owned_session(snapshot, principal, admin_may=False)
        if data["status"] != "in_progress":
            raise Conflict("The session is submitted already.")
        result = score(data["questions"], data.get("answers") or {})
        txn.update(ref, {"status": "submitted", "submitted_at": now, "score": result["score"], "result": result})
        if data["mode"] == "exam":
            # Exam mode kept its verdicts hidden until now, weak areas included.
            by_id = {q["id"]: q for q in data["questions"]}
            stats = _stats_update(
                data["user_id"],
                data["exam_type"],
                [(by_id[qid]["domain"], a["correct"]) for qid, a in (data.get("answers") or {}).items()],
            )
            if stats:
                txn.set(_col(DOMAIN_STATS).document(data["user_id"]), stats, merge=True)
        data["result"] = result
        return data

    data = store.run_transaction(work)
    result = data["result"]
    _publish_completion(session_id, data, now)
    return ResultOut(**result)


def _publish_completion(session_id: str, data: dict[str, Any], now: datetime) -> None:
    messages: list[tuple[str, dict[str, Any], datetime]] = []
    if data["mode"] == "exam":
        by_id = {q["id"]: q for q in data["questions"]}
        for qid, given in (data.get("answers") or {}).items():
            event = _answered_event(session_id, data, qid, by_id[qid]["domain"], bool(given["correct"]))
            messages.append(("exam.answered", event, given["answered_at"]))
    result = data["result"]
    completed = {
        "user_id": data["user_id"],
        "session_id": session_id,
        "exam_type": data["exam_type"],
        "mode": data["mode"],
        **result,
    }
    messages.append(("exam.completed", completed, now))
    if len(messages) == 1:
        publish(messages[0][0], messages[0][1], occurred_at=now)
        return
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [
            pool.submit(contextvars.copy_context().run, publish, kind, body, occurred_at=at)
            for kind, body, at in messages
        ]
        for future in futures:
            future.result()


def expire_sessions(now: datetime, limit: int = 200) -> int:
    """Submit exam sessions whose deadline has passed (the scheduled sweep)."""
    query = (
        _col(SESSIONS)
        .where(filter=FieldFilter("status", "==", "in_progress"))
        .where(filter=FieldFilter("deadline", "<", now))
        .order_by("deadline")
        .limit(limit)
        .select(["status"])
    )
    done = 0
    for snapshot in query.stream():
        try:
            submit(snapshot.id, None, now)
            done += 1
        except Conflict:
            continue  # submitted meanwhile
    return done


SUMMARY_FIELDS = [
    "exam_type",
    "mode",
    "status",
    "question_count",
    "answered",
    "score",
    "created_at",
    "deadline",
    "submitted_at",
]


def summary_out(snapshot: Any) -> SessionSummaryOut:
    data = snapshot.to_dict() or {}
    return SessionSummaryOut(id=snapshot.id, **{k: data.get(k) for k in SUMMARY_FIELDS})


def list_user_sessions(user_id: str, limit: int, cursor: str | None) -> store.Page:
    collection = _col(SESSIONS)
    query = collection.where(filter=FieldFilter("user_id", "==", user_id)).select(SUMMARY_FIELDS)
    return store.paginate(query, collection, [("created_at", store.DESCENDING)], limit, cursor, summary_out)


def weak_areas(user_id: str, exam_type: str | None) -> WeakAreasOut:
    snapshot = _col(DOMAIN_STATS).document(user_id).get()
    domains = ((snapshot.to_dict() or {}).get("domains") or {}) if snapshot.exists else {}
    items = []
    for entry in domains.values():
        answered = int(entry.get("answered") or 0)
        if not answered or (exam_type and entry.get("exam_type") != exam_type):
            continue
        correct = int(entry.get("correct") or 0)
        items.append(
            WeakAreaOut(
                exam_type=entry["exam_type"],
                domain=entry["domain"],
                answered=answered,
                correct=correct,
                accuracy=round(correct / answered, 4),
            )
        )
    items.sort(key=lambda w: (w.accuracy, -w.answered, w.exam_type, w.domain))
    return WeakAreasOut(items=items)
