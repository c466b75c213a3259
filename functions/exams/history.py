"""What a student has done: session history, weak areas, and the per-question progress that
adaptive selection reads.

  user_stats/{user_id}.domains                 {"<exam_type>|<domain>": {answered, correct}}: the one
                                               store of per-domain results (the progress consumers
                                               keep it from exam.answered / exam.completed)
  exam_progress/{user_id}_{exam_type}_{p}      answered {qid: 2 x epoch s + right}, served {qid: epoch s}

Progress is hash-sharded over PROGRESS_SHARDS documents per user and exam type (a few, not one
per question). Every change is a `Maximum` transform: the newest answer wins whatever order
events arrive in, and a redelivered event writes the same value again, so the `exam.answered`
consumer needs no read and no processed-event marker.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.transforms import Maximum

from functions.exams import bank
from functions.exams.models import SessionSummaryOut, WeakAreaOut, WeakAreasOut
from shared import store, userdata
from shared.collections import EXAM_SESSIONS, USER_STATS
from shared.registry import composite_index, unindexed

PROGRESS = userdata.personal("exam_progress", userdata.doc_id_prefix())
PROGRESS_SHARDS = 2
unindexed(PROGRESS, "answered")
unindexed(PROGRESS, "served")

SESSIONS_BY_USER = composite_index(EXAM_SESSIONS, ("user_id", "ASCENDING"), ("created_at", "DESCENDING"))


# Progress --------------------------------------------------------------------------------------


def progress_refs(user_id: str, exam_type: str) -> list[Any]:
    return [bank.col(PROGRESS).document(f"{user_id}_{exam_type}_{p}") for p in range(PROGRESS_SHARDS)]


def progress_shard(question_id: str) -> int:
    return zlib.crc32(question_id.encode()) % PROGRESS_SHARDS


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def mark_served(writer: Any, user_id: str, exam_type: str, question_ids: Iterable[str], now: datetime) -> None:
    """Note in the commit that starts a session which questions it serves."""
    refs = progress_refs(user_id, exam_type)
    by_shard: dict[int, dict[str, Any]] = {}
    for qid in question_ids:
        by_shard.setdefault(progress_shard(qid), {})[qid] = Maximum(epoch(now))
    for p, served in sorted(by_shard.items()):
        writer.set(refs[p], {"user_id": user_id, "exam_type": exam_type, "served": served}, merge=True)


def record_answer(user_id: str, exam_type: str, question_doc_id: str, correct: bool, at: datetime) -> None:
    """The `exam.answered` consumer's work: one blind write, idempotent and order-free."""
    qid = question_doc_id.split(":", 1)[1]
    ref = progress_refs(user_id, exam_type)[progress_shard(qid)]
    code = 2 * epoch(at) + int(correct)
    ref.set({"user_id": user_id, "exam_type": exam_type, "answered": {qid: Maximum(code)}}, merge=True)


def raw_int_map(document: Any, name: str) -> dict[str, int]:
    """A map of integers from a raw protobuf document (see index.read_raw)."""
    if document is None or name not in document.fields:
        return {}
    return {k: v.integer_value for k, v in document.fields[name].map_value.fields.items()}


def raw_domain_weights(document: Any, exam_type: str) -> dict[str, tuple[int, int]]:
    """domain -> (answered, correct) of `exam_type` from a raw user_stats document."""
    if document is None or "domains" not in document.fields:
        return {}
    out = {}
    for key, entry in document.fields["domains"].map_value.fields.items():
        kind, _, domain = key.partition("|")
        if kind == exam_type:
            fields = entry.map_value.fields
            answered = fields["answered"].integer_value if "answered" in fields else 0
            correct = fields["correct"].integer_value if "correct" in fields else 0
            out[domain] = (answered, correct)
    return out


# Domain stats -----------------------------------------------------------------------------------


def stats_ref(user_id: str) -> Any:
    """The user's learning stats, whose `domains` map weak areas and adaptive selection read."""
    return store.db().collection(USER_STATS).document(user_id)


# History ---------------------------------------------------------------------------------------

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
    collection = bank.col(EXAM_SESSIONS)
    query = collection.where(filter=FieldFilter("user_id", "==", user_id)).select(SUMMARY_FIELDS)
    return store.paginate(query, collection, [("created_at", store.DESCENDING)], limit, cursor, summary_out)


def weak_areas(user_id: str, exam_type: str | None) -> WeakAreasOut:
    snapshot = stats_ref(user_id).get()
    domains = ((snapshot.to_dict() or {}).get("domains") or {}) if snapshot.exists else {}
    items = []
    for key, entry in domains.items():
        kind, _, domain = key.partition("|")
        answered = int(entry.get("answered") or 0)
        if not answered or (exam_type and kind != exam_type):
            continue
        correct = int(entry.get("correct") or 0)
        items.append(
            WeakAreaOut(
                exam_type=kind,
                domain=domain,
                answered=answered,
                correct=correct,
                accuracy=round(correct / answered, 4),
            )
        )
    items.sort(key=lambda w: (w.accuracy, -w.answered, w.exam_type, w.domain))
    return WeakAreasOut(items=items)
