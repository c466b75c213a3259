"""The question bank: exam types with their counts, questions, and the id-index kept in step.

Firestore layout (decisions and budgets in docs/exams.md):
  exam_types/{exam_type}               name, question_count, domains {"1.1": n}: kept by every change
  questions/{exam_type}:{qid}          one question (`import_chunk`: the import chunk that last wrote it)
  question_index/{exam_type}:{k}       the ids by domain, hash-sharded (functions/exams/index.py)
  question_chunks/{exam_type}:{group}  content hashes of import chunks (functions/exams/imports.py)
"""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import datetime
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.transforms import DELETE_FIELD

from functions.exams import index
from functions.exams.models import DomainCountOut, ExamTypeOut, QuestionOut
from shared import answers, store, userdata
from shared.auth import new_id
from shared.collections import EXAM_TYPES, QUESTIONS
from shared.errors import Conflict, NotFound
from shared.registry import composite_index

KNOWN_EXAMS = {
    "security-plus": "CompTIA Security+",
    "network-plus": "CompTIA Network+",
    "a-plus-core-1": "CompTIA A+ Core 1",
    "a-plus-core-2": "CompTIA A+ Core 2",
}
CHUNKS = userdata.not_personal("question_chunks", "content hashes of import chunks")
CHUNKS_PER_GROUP = 16  # chunk hashes per document: an unchanged re-import reads one per 16 chunks

QUESTIONS_BY_EXAM_DOMAIN = composite_index(QUESTIONS, ("exam_type", "ASCENDING"), ("domain", "ASCENDING"))

_QUESTION_DOC_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*:[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def exam_name(exam_type: str) -> str:
    return KNOWN_EXAMS.get(exam_type) or exam_type.replace("-", " ").title()


def question_doc_id(exam_type: str, question_id: str) -> str:
    return f"{exam_type}:{question_id}"


def col(name: str) -> Any:
    return store.db().collection(name)


def valid_question_doc_id(doc_id: str) -> bool:
    return _QUESTION_DOC_ID.match(doc_id) is not None


def question_ref(doc_id: str) -> Any:
    """A question's document, or NotFound for an id no question can have."""
    if not valid_question_doc_id(doc_id):
        raise NotFound("No such question.")
    return col(QUESTIONS).document(doc_id)


# Exam types and their counts -------------------------------------------------------------------


def count_changes(before: dict[str, Any] | None, after: dict[str, Any] | None, deltas: Counter[str]) -> None:
    """Add to `deltas` what replacing `before` by `after` does to the per-domain counts."""
    if before is not None:
        deltas[before["domain"]] -= 1
    if after is not None:
        deltas[after["domain"]] += 1


def apply_counts(writer: Any, exam_type: str, deltas: Counter[str], now: datetime) -> None:
    """Write the count changes on the exam type (inside the same commit as the questions)."""
    changed = {d: n for d, n in deltas.items() if n}
    total = sum(changed.values())
    update: dict[str, Any] = {"name": exam_name(exam_type), "updated_at": now}
    if changed:
        update["domains"] = {d: store.Increment(n) for d, n in changed.items()}
    if total:
        update["question_count"] = store.Increment(total)
    writer.set(col(EXAM_TYPES).document(exam_type), update, merge=True)


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
    collection = col(EXAM_TYPES)
    return store.paginate(collection, collection, [], limit, cursor, exam_type_out)


# Import chunk hashes ----------------------------------------------------------------------------


def chunk_ref(exam_type: str, chunk: int) -> Any:
    return col(CHUNKS).document(f"{exam_type}:{chunk // CHUNKS_PER_GROUP}")


def forget_chunk(writer: Any, exam_type: str, before: dict[str, Any] | None) -> None:
    """A question written outside its import chunk: that chunk's hash no longer vouches for it."""
    chunk = (before or {}).get("import_chunk")
    if chunk is not None:
        writer.set(chunk_ref(exam_type, int(chunk)), {"hashes": {str(chunk): DELETE_FIELD}}, merge=True)


# Questions ------------------------------------------------------------------------------------


def question_out(doc_id: str, data: dict[str, Any], viewer: answers.Viewer) -> QuestionOut:
    """A bank question with its key: for admins and verified teachers only (shared.answers)."""
    answers.require_every_question_key(viewer)
    return QuestionOut(id=doc_id, **{k: data.get(k) for k in QuestionOut.model_fields if k != "id"})


def question_fields(
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


def create_question(fields: dict[str, Any], now: datetime, viewer: answers.Viewer) -> QuestionOut:
    """`fields`: exam_type, question_id (None: generated), domain, text, options, explanations, answer."""
    question_id = fields.get("question_id") or f"Q-{new_id()[:12].upper()}"
    doc = {
        **question_fields(**{**fields, "question_id": question_id}),
        "rand": random.random(),
        "created_at": now,
        "updated_at": now,
        "source": "api",
    }
    exam_type = doc["exam_type"]
    ref = col(QUESTIONS).document(question_doc_id(exam_type, question_id))

    def work(txn: store.Transaction) -> None:
        if ref.get(transaction=txn).exists:
            raise Conflict(f"Question {question_id} already exists in {exam_type}.")
        deltas: Counter[str] = Counter()
        count_changes(None, doc, deltas)
        txn.create(ref, doc)
        apply_counts(txn, exam_type, deltas, now)
        delta = index.IndexDelta(exam_type)
        delta.add(question_id, doc["domain"], index.shard_of(question_id))
        delta.write(txn)

    store.run_transaction(work)
    return question_out(ref.id, doc, viewer)


def get_question(doc_id: str, viewer: answers.Viewer) -> QuestionOut:
    answers.require_every_question_key(viewer)  # before the read: a refusal tells nothing of the bank
    snapshot = question_ref(doc_id).get()
    if not snapshot.exists:
        raise NotFound("No such question.")
    return question_out(snapshot.id, snapshot.to_dict(), viewer)


def update_question(doc_id: str, changes: dict[str, Any], now: datetime, viewer: answers.Viewer) -> QuestionOut:
    ref = question_ref(doc_id)

    def work(txn: store.Transaction) -> dict[str, Any]:
        snapshot = ref.get(transaction=txn)
        if not snapshot.exists:
            raise NotFound("No such question.")
        before = snapshot.to_dict()
        after = {**before, **changes, "updated_at": now}
        after.pop("import_chunk", None)
        delta = index.IndexDelta(before["exam_type"])
        delta.change(before["question_id"], before["domain"], after["domain"], index.shard_of_doc(before))
        current = delta.read(txn)  # the shard, when the domain changes
        txn.set(ref, after)
        forget_chunk(txn, before["exam_type"], before)
        if after["domain"] != before["domain"]:
            deltas: Counter[str] = Counter()
            count_changes(before, after, deltas)
            apply_counts(txn, before["exam_type"], deltas, now)
            delta.write(txn, current)
        return after

    return question_out(doc_id, store.run_transaction(work), viewer)


def delete_question(doc_id: str, now: datetime) -> None:
    ref = question_ref(doc_id)

    def work(txn: store.Transaction) -> None:
        snapshot = ref.get(transaction=txn)
        if not snapshot.exists:
            raise NotFound("No such question.")
        before = snapshot.to_dict()
        delta = index.IndexDelta(before["exam_type"])
        delta.remove(before["question_id"], before["domain"], index.shard_of_doc(before))
        current = delta.read(txn)
        deltas: Counter[str] = Counter()
        count_changes(before, None, deltas)
        txn.delete(ref)
        apply_counts(txn, before["exam_type"], deltas, now)
        forget_chunk(txn, before["exam_type"], before)
        delta.write(txn, current)

    store.run_transaction(work)


def list_questions(
    exam_type: str | None, domain: str | None, limit: int, cursor: str | None, viewer: answers.Viewer
) -> store.Page:
    answers.require_every_question_key(viewer)  # an empty page too
    collection = col(QUESTIONS)
    query = collection
    if exam_type:
        query = query.where(filter=FieldFilter("exam_type", "==", exam_type))
    if domain:
        query = query.where(filter=FieldFilter("domain", "==", domain))
    return store.paginate(query, collection, [], limit, cursor, lambda s: question_out(s.id, s.to_dict(), viewer))


def rebuild_index(exam_type: str) -> int:
    """Write the id-index of `exam_type` from its questions (a bank that predates the index).

    Not transactional: run it while nothing changes the bank. Returns the questions indexed."""
    by_shard: dict[int, dict[str, list[str]]] = {k: {} for k in range(index.SHARDS)}
    fields = ["question_id", "domain", "index_shard"]
    query = col(QUESTIONS).where(filter=FieldFilter("exam_type", "==", exam_type)).select(fields)
    total = 0
    for snapshot in query.stream():
        data = snapshot.to_dict()
        by_shard[index.shard_of_doc(data)].setdefault(data["domain"], []).append(data["question_id"])
        total += 1
    batch = store.db().batch()
    for k, domains in by_shard.items():
        groups = {d: [" ".join(ids)] for d, ids in domains.items()}
        batch.set(index.shard_ref(exam_type, k), {"exam_type": exam_type, "domains": groups})
    batch.commit()
    return total


def main(argv: list[str]) -> int:
    """`python -m functions.exams.bank rebuild-index <exam_type>...`: index banks that predate it."""
    if len(argv) < 2 or argv[0] != "rebuild-index":
        print("usage: python -m functions.exams.bank rebuild-index <exam_type>...")
        return 2
    for exam_type in argv[1:]:
        print(f"{exam_type}: {rebuild_index(exam_type)} questions indexed")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
