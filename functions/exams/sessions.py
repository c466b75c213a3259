"""Exam sessions: start in three round trips whatever the bank's size, answer, submit, expire.

  exam_sessions/{id}         one attempt: user_id, exam_type, mode, status, question_count,
                             questions [{id, domain, correct_answer}], answers, answered, correct,
                             score, result, created_at, deadline, submitted_at
  exam_session_texts/{id}    user_id, questions_json (JSON of [{id, question_text, options}]): written
                             once at the start, read only to show the session, so answers never read them

A start: (1) one get_all of the id-index shards (plus, in practice mode, the student's progress
and domain stats); (2) one get_all of the chosen questions; (3) one commit of the session, its
texts and the served marks.
"""

from __future__ import annotations

import contextvars
import json
import random
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from functions.exams import bank, history, index, selection
from functions.exams.models import (
    ExamAnswerOut,
    PracticeAnswerOut,
    ResultOut,
    SessionOut,
    SessionQuestionOut,
)
from shared import answers, store, userdata
from shared.auth import Principal, new_id
from shared.collections import EXAM_SESSIONS, QUESTIONS
from shared.errors import Conflict, NotFound
from shared.event_types import EXAM_ANSWERED, EXAM_COMPLETED, EventData, ExamAnswered, ExamCompleted
from shared.events import StagedEvent, publish_in
from shared.logging import get_logger, log_fields
from shared.registry import composite_index, unindexed

log = get_logger("exams")

SESSIONS = EXAM_SESSIONS
TEXTS = userdata.personal("exam_session_texts", userdata.field("user_id"))
SECONDS_PER_QUESTION = 90
MAX_EXAM_SECONDS = 3 * 3600

SESSIONS_EXPIRING = composite_index(SESSIONS, ("status", "ASCENDING"), ("deadline", "ASCENDING"))
unindexed(TEXTS, "questions_json")

_HEX_ID = re.compile(r"^[0-9a-f]{32}$")
_rng = random.SystemRandom()


def _session_ref(session_id: str) -> Any:
    if not _HEX_ID.match(session_id):
        raise NotFound("No such exam session.")
    return bank.col(SESSIONS).document(session_id)


# Start -----------------------------------------------------------------------------------------


def _no_bank() -> NotFound:
    return NotFound(
        "There is no question bank for this exam type.",
        details=[{"field": "exam_type", "message": "Unknown exam type."}],
    )


def _candidates(bank_domains: dict[str, list[str]], domains: list[str] | None, count: int) -> dict[str, list[str]]:
    """The ids a session may draw from, or the 422 that explains why it cannot start."""
    if not bank_domains:
        raise _no_bank()
    if domains:
        unknown = [d for d in domains if d not in bank_domains]
        if unknown:
            raise NotFound(
                "Some domains have no questions.",
                details=[{"field": "domains", "message": "No questions in " + ", ".join(unknown) + "."}],
            )
    candidates = {d: ids for d, ids in bank_domains.items() if not domains or d in domains}
    available = sum(len(ids) for ids in candidates.values())
    if available < count:
        raise Conflict(  # the bank holds fewer questions than asked for: its state, not the input
            f"Only {available} questions are available.",
            details=[{"field": "question_count", "message": f"At most {available}."}],
        )
    return candidates


def _choose(
    user_id: str, exam_type: str, candidates: dict[str, list[str]], raw: dict[str, Any], count: int, mode: str, now: int
) -> list[str]:
    if mode == "exam":
        return selection.uniform(candidates, count, _rng)
    answered: dict[str, int] = {}
    served: dict[str, int] = {}
    for ref in history.progress_refs(user_id, exam_type):
        document = raw.get(ref._document_path)
        answered.update(history.raw_int_map(document, "answered"))
        served.update(history.raw_int_map(document, "served"))
    stats = history.raw_domain_weights(raw.get(history.stats_ref(user_id)._document_path), exam_type)
    weights = {d: selection.domain_weight(*stats.get(d, (0, 0))) for d in candidates}
    return selection.adaptive(candidates, answered, served, weights, count, now, _rng)


def _fetch(exam_type: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The chosen questions in one get_all (missing ones: deleted since the index was read)."""
    refs = [bank.col(QUESTIONS).document(bank.question_doc_id(exam_type, q)) for q in ids]
    # A mask: explanations are a third of a question and a start never shows them.
    snapshots = store.db().get_all(refs, field_paths=["domain", "question_text", "options", "correct_answer"])
    return {s.id: dict(s.to_dict() or {}) for s in snapshots if s.exists}


def start_session(
    viewer: answers.Viewer, exam_type: str, count: int, domains: list[str] | None, mode: str, now: datetime
) -> SessionOut:
    user_id = viewer.user_id
    shard_paths = [ref._document_path for ref in index.shard_refs(exam_type)]
    extra = [] if mode == "exam" else [r._document_path for r in history.progress_refs(user_id, exam_type)]
    if extra:
        extra.append(history.stats_ref(user_id)._document_path)
    raw = index.read_raw(shard_paths + extra)  # round trip 1
    bank_domains = index.merge(index.raw_domains(raw[p]) for p in shard_paths if p in raw)
    candidates = _candidates(bank_domains, domains, count)
    chosen = _choose(user_id, exam_type, candidates, raw, count, mode, history.epoch(now))
    found = _fetch(exam_type, chosen)  # round trip 2
    if len(found) < count:
        # Deleted after the index was read: draw the shortfall from what is left, once.
        log.warning("questions vanished during a start", extra=log_fields(exam_type=exam_type))
        gone = {q for q in chosen if bank.question_doc_id(exam_type, q) not in found}
        rest = {d: [q for q in ids if q not in gone and q not in chosen] for d, ids in candidates.items()}
        more = selection.uniform(rest, count - len(found), _rng)
        found.update(_fetch(exam_type, more))
        chosen = [q for q in chosen if q not in gone] + more
    if len(found) < count:
        raise Conflict("Not enough questions could be drawn; try again.")
    picked = [found[bank.question_doc_id(exam_type, q)] | {"id": bank.question_doc_id(exam_type, q)} for q in chosen]
    keys = [{"id": q["id"], "domain": q["domain"], "correct_answer": q["correct_answer"]} for q in picked]
    texts = [{"id": q["id"], "question_text": q["question_text"], "options": q["options"]} for q in picked]
    deadline = now + timedelta(seconds=min(MAX_EXAM_SECONDS, SECONDS_PER_QUESTION * count)) if mode == "exam" else None
    session_id = new_id()
    doc: dict[str, Any] = {
        "user_id": user_id,
        "exam_type": exam_type,
        "mode": mode,
        "status": "in_progress",
        "domains_filter": domains,
        "question_count": count,
        "questions": keys,
        "answers": {},
        "answered": 0,
        "correct": 0,
        "score": None,
        "result": None,
        "created_at": now,
        "deadline": deadline,
        "submitted_at": None,
    }
    batch = store.db().batch()
    batch.create(bank.col(SESSIONS).document(session_id), doc)
    # The texts as one JSON string: written once, read whole, and encoding ninety maps field by
    # field costs more client time than the rest of the start.
    batch.create(bank.col(TEXTS).document(session_id), {"user_id": user_id, "questions_json": json.dumps(texts)})
    history.mark_served(batch, user_id, exam_type, chosen, now)
    batch.commit()  # round trip 3
    return session_out(session_id, doc, texts, viewer)


# Reading -----------------------------------------------------------------------------------------


def session_out(
    session_id: str, data: dict[str, Any], texts: list[dict[str, Any]], viewer: answers.Viewer
) -> SessionOut:
    # The keys `viewer` has earned in this session (shared.answers), and nothing else.
    keys = answers.session_keys_shown(viewer, data)
    given_answers: dict[str, Any] = data.get("answers") or {}
    text_of = {t["id"]: t for t in texts}
    questions = []
    for q in data["questions"]:
        given: dict[str, Any] | None = given_answers.get(q["id"])
        reveal = q["id"] in keys
        text = text_of.get(q["id"]) or q  # sessions started before the split kept texts inline
        questions.append(
            SessionQuestionOut(
                id=q["id"],
                domain=q["domain"],
                question_text=text["question_text"],
                options=text["options"],
                answer=given["answer"] if given else None,
                correct=given["correct"] if (reveal and given) else None,
                correct_answer=q["correct_answer"] if reveal else None,
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
    """The caller's session (an admin may read any), with the keys shared.answers lets them see."""
    ref = _session_ref(session_id)
    snapshots = {s.reference.path: s for s in store.db().get_all([ref, bank.col(TEXTS).document(session_id)])}
    data = _owned_session(snapshots[ref.path], principal, admin_may=True)
    texts_snapshot = snapshots.get(f"{TEXTS}/{session_id}")
    stored = (texts_snapshot.to_dict() or {}) if texts_snapshot is not None and texts_snapshot.exists else {}
    texts = json.loads(stored["questions_json"]) if "questions_json" in stored else []
    return session_out(session_id, data, texts, answers.Viewer.of(principal))


# Answers and submit ----------------------------------------------------------------------------


def _answered_event(
    session_id: str, data: dict[str, Any], question_id: str, domain: str, correct: bool
) -> ExamAnswered:
    return ExamAnswered(
        user_id=data["user_id"],
        session_id=session_id,
        exam_type=data["exam_type"],
        question_id=question_id,
        domain=domain,
        correct=correct,
        mode=data["mode"],
    )


def answer(session_id: str, principal: Principal, question_id: str, letter: str, now: datetime) -> Any:
    """Record one answer. Practice: the verdict and every explanation; exam: only `recorded`."""
    ref = _session_ref(session_id)

    event_id = new_id()  # one event whichever attempt commits

    def work(
        txn: store.Transaction,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None, StagedEvent | None]:
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
            ref_q = bank.col(QUESTIONS).document(question["id"])
            snapshot = ref_q.get(field_paths=["explanations"], transaction=txn)  # all it needs of it
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
        staged = None
        if data["mode"] == "practice":
            # From this answer on the key is the student's (shared.answers), wherever it shows.
            answers.grant_keys_in(txn, data["user_id"], [question_id], now)
            # exam.answered commits with the answer (shared.events.publish_in).
            answered = _answered_event(session_id, data, question_id, question["domain"], correct)
            staged = publish_in(txn, EXAM_ANSWERED, answered, occurred_at=now, event_id=event_id)
        return data, question, full, staged

    _, question, full, staged = store.run_transaction(work)
    correct = letter == question["correct_answer"]
    if staged is None:
        return ExamAnswerOut()
    staged.send()
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
    event_id = new_id()  # the same events whichever attempt commits

    def work(txn: store.Transaction) -> tuple[dict[str, Any], list[StagedEvent]]:
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
        # The keys are the student's now; a practice answer granted its question's already.
        granted = set(data.get("answers") or {}) if data["mode"] == "practice" else set()
        ungranted = [str(q["id"]) for q in data["questions"] if str(q["id"]) not in granted]
        answers.grant_keys_in(txn, data["user_id"], ungranted, now)
        data["result"] = result
        # The events commit with the result: a crash before the publish loses none of them.
        return data, _stage_completion(txn, session_id, data, now, event_id)

    data, staged = store.run_transaction(work)
    _send_all(staged)
    return ResultOut(**data["result"])


def _stage_completion(
    txn: store.Transaction, session_id: str, data: dict[str, Any], now: datetime, event_id: str
) -> list[StagedEvent]:
    """exam.completed, and in exam mode the exam.answered of every answer held back until now,
    written through `txn` (ids derived from `event_id`, so a retried transaction writes the same)."""
    messages: list[tuple[str, EventData, datetime]] = []
    if data["mode"] == "exam":
        by_id = {q["id"]: q for q in data["questions"]}
        for qid, given in (data.get("answers") or {}).items():
            event = _answered_event(session_id, data, qid, by_id[qid]["domain"], bool(given["correct"]))
            messages.append((EXAM_ANSWERED, event, given["answered_at"]))
    result = data["result"]
    completed = ExamCompleted.model_validate(
        {
            "user_id": data["user_id"],
            "session_id": session_id,
            "exam_type": data["exam_type"],
            "mode": data["mode"],
            **result,
        }
    )
    messages.append((EXAM_COMPLETED, completed, now))
    ids = [f"{event_id}-{n}" for n in range(len(messages) - 1)] + [event_id]  # exam.completed last
    return [
        publish_in(txn, kind, body, occurred_at=at, event_id=id_)
        for id_, (kind, body, at) in zip(ids, messages, strict=True)
    ]


def _send_all(staged: list[StagedEvent]) -> None:
    if len(staged) == 1:
        staged[0].send()
        return
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(contextvars.copy_context().run, event.send) for event in staged]
        for future in futures:
            future.result()


def expire_sessions(now: datetime, limit: int = 200) -> int:
    """Submit exam sessions whose deadline has passed (the scheduled sweep)."""
    query = (
        bank.col(SESSIONS)
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
