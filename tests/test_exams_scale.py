"""Exams at scale: adaptive practice selection, progress kept by the answer events, imports at
the write floor (per-chunk hashes), answers that never read question texts."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.api_core import exceptions as gexc

from functions.exams import history, imports, index, selection
from shared import store
from shared.events import publish
from tests.support import Api, Stack, ops
from tests.test_exams import SEC, docs, index_of
from tests.test_imports import csv_bytes, fire, row, upload

ANSWERED = "exams-on-answered--exam.answered"


@pytest.fixture
def admin(api: Any) -> str:
    return str(api.admin()["access_token"])


def start(api: Any, token: str, count: int, mode: str = "practice") -> dict[str, Any]:
    started = api.post("/api/v1/exam-sessions", {"exam_type": SEC, "question_count": count, "mode": mode}, token=token)
    assert started.status_code == 201, started.json
    return dict(started.json)


# Adaptive selection -------------------------------------------------------------------------------


def test_a_student_who_has_seen_most_of_the_bank_gets_the_unseen_rest_first(
    api: Api, stack: Stack, admin: str, drain: Callable[..., int]
) -> None:
    upload(api, admin, SEC, csv_bytes([row(f"S{i:02}", f"{1 + i % 3}.1", "A") for i in range(20)]))
    fire(stack)
    token = api.register("alice@example.com")["access_token"]

    first = start(api, token, 16)
    served = [q["id"] for q in first["questions"]]
    url = f"/api/v1/exam-sessions/{first['id']}/answers"
    wrong, right, skipped = served[:4], served[4:15], served[15:]
    for qid in wrong:
        assert api.post(url, {"question_id": qid, "answer": "B"}, token=token).status_code == 200
    for qid in right:
        assert api.post(url, {"question_id": qid, "answer": "A"}, token=token).status_code == 200
    drain([ANSWERED])

    # 4 never served; then the one served but never answered; then the wrong ones.
    second = [q["id"] for q in start(api, token, 7)["questions"]]
    unseen = {f"{SEC}:S{i:02}" for i in range(20)} - set(served)
    assert set(second[:4]) == unseen
    assert second[4:5] == skipped
    assert set(second[5:]) <= set(wrong)

    # Exam mode ignores all that: every question can come up, served or not.
    drawn: set[str] = set()
    for _ in range(6):
        drawn |= {q["id"] for q in start(api, token, 10, mode="exam")["questions"]}
    assert drawn & set(right)


def test_answer_events_keep_progress_idempotently_and_newest_wins(api: Api) -> None:
    user, qid = "u-progress", f"{SEC}:Q1"
    t0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
    history.record_answer(user, SEC, qid, False, t0 + timedelta(minutes=5))
    history.record_answer(user, SEC, qid, False, t0 + timedelta(minutes=5))  # redelivered
    history.record_answer(user, SEC, qid, True, t0)  # an older answer arriving late
    [doc] = [d for d in docs(history.PROGRESS) if d["user_id"] == user]
    assert doc["answered"] == {"Q1": 2 * int((t0 + timedelta(minutes=5)).timestamp())}  # wrong, the newer one


def test_an_answer_event_for_no_question_of_the_bank_is_acknowledged_and_records_nothing(
    api: Api, drain: Callable[..., int]
) -> None:
    """A question id that is not `<exam_type>:<id>` no retry can mend: acknowledged at the first
    delivery (not retried into the dead letters), nothing recorded."""
    data = {"user_id": "u-odd", "session_id": "s", "exam_type": SEC, "question_id": "q1", "domain": "1.0"}
    publish("exam.answered", {**data, "correct": True})
    assert drain(subscriptions=["exams-on-answered--exam.answered"]) == 1
    assert docs(history.PROGRESS) == []


def test_selection_tiers_and_weights_on_plain_values() -> None:
    rng = random.Random(7)
    now = 1_000_000
    candidates = {"1.1": ["a", "b", "c"], "2.1": ["d", "e", "f"]}
    answered = {"a": 2 * 900_000 + 1, "b": 2 * 999_000, "c": 2 * 500_000, "d": 2 * 999_999 + 1}
    served = {"a": 900_000, "e": 999_000}
    order = selection.adaptive(candidates, answered, served, {}, 6, now, rng)
    # unseen f; skipped e; wrong c (oldest) before b; right a (older) before d
    assert order == ["f", "e", "c", "b", "a", "d"]
    # A weak domain's wrong answers come back sooner than an equally old one elsewhere.
    tie = {"x": 2 * 500_000, "y": 2 * 500_000}
    weak_first = selection.adaptive({"1.1": ["x"], "2.1": ["y"]}, tie, {}, {"2.1": 3.0, "1.1": 1.0}, 1, now, rng)
    assert weak_first == ["y"]
    # Weights tilt an unseen draw toward the weak domain (3:1 here), never repeating an id.
    pools = {"1.1": [f"s{i}" for i in range(500)], "2.1": [f"w{i}" for i in range(500)]}
    drawn = selection.weighted_by_domain(pools, {"1.1": 1.0, "2.1": 3.0}, 100, rng)
    assert len(set(drawn)) == 100
    assert 60 <= sum(q.startswith("w") for q in drawn) <= 90
    assert selection.domain_weight(10, 10) < selection.domain_weight(0, 0) < selection.domain_weight(10, 0)
    assert sorted(selection.uniform(candidates, 6, rng)) == ["a", "b", "c", "d", "e", "f"]
    # A big bank mostly unseen is drawn by rejection: still nothing seen, nothing twice.
    big = {"1.1": [f"q{i}" for i in range(1000)], "2.1": [f"r{i}" for i in range(1000)]}
    seen = {f"q{i}": 2 * 999_000 for i in range(0, 1000, 3)}
    skipped = {f"r{i}": 999_000 for i in range(0, 1000, 3)}
    drawn = selection.adaptive(big, seen, skipped, {}, 90, now, rng)
    assert len(set(drawn)) == 90 and not set(drawn) & (set(seen) | set(skipped))


# Answers -------------------------------------------------------------------------------------------


def test_answers_read_a_session_document_without_question_texts(api: Api, stack: Stack, admin: str) -> None:
    upload(api, admin, SEC, csv_bytes([row(f"S{i:02}", "1.1", "A", text=f"Long text {i} " * 50) for i in range(5)]))
    fire(stack)
    token = api.register("alice@example.com")["access_token"]
    session = start(api, token, 5, mode="exam")
    [stored] = docs("exam_sessions")
    assert "Long text" not in repr(stored)  # what an answer's transaction reads
    assert {"user_id", "exam_type", "mode", "status", "score"} <= set(stored)
    [texts] = docs("exam_session_texts")
    assert all(q["question_text"].startswith("Long text") for q in json.loads(texts["questions_json"]))
    answered = api.post(
        f"/api/v1/exam-sessions/{session['id']}/answers",
        {"question_id": session["questions"][0]["id"], "answer": "A"},
        token=token,
    )
    assert answered.status_code == 200 and ops(answered) == {"reads": 2, "writes": 1, "deletes": 0}


# Imports at the write floor -------------------------------------------------------------------------


def run(data: bytes, import_id: str) -> tuple[store.OpMeter, dict[str, Any]]:
    meter = store.start_metering()
    status = imports.run_import(SEC, f"questions/{SEC}.csv", import_id, lambda: io.StringIO(data.decode()), store.now())
    assert status == "completed"
    spent = store.OpMeter(meter.reads, meter.writes, meter.deletes)
    return spent, imports.get_import(import_id).model_dump()


def test_imports_read_nothing_into_an_empty_bank_and_one_hash_per_group_after(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "IMPORT_CHUNK", 4)  # 80 rows: 20 chunks, 2 hash documents
    rows = [row(f"Q{i:03}", f"{1 + i % 5}.1") for i in range(80)]
    data = csv_bytes(rows)

    first, report = run(data, "a" * 32)
    assert first.reads == 2  # the claim: the report and the exam type, nothing per row
    assert report["rows_created"] == 80
    shards = 20  # a chunk's questions go to one index shard
    assert first.writes == 80 + shards + 20 * 3 + 2  # rows, index shards, per chunk counts/hash/report, claim, finish
    assert index_of(SEC) == {f"{d}.1": 16 for d in range(1, 6)}

    again, report = run(data, "b" * 32)
    assert again.reads == 2 + 2  # the claim, then one hash document per 16 chunks
    assert report["rows_unchanged"] == 80 and again.writes == 2

    # One edited row (its domain too): only its chunk is read and written, and the index shard it leaves.
    rows[41] = row("Q041", "4.1", "D", text="Edited")
    edited, report = run(csv_bytes(rows), "c" * 32)
    assert edited.reads == 2 + 2 + 4 + 1
    assert (report["rows_updated"], report["rows_unchanged"]) == (1, 79)
    assert index_of(SEC)["4.1"] == 17 and index_of(SEC)["2.1"] == 15

    # An admin edit outside the import voids its chunk's hash: the next import puts the file back.
    [q] = [d for d in docs("questions") if d["question_id"] == "Q007"]
    token = str(api.admin()["access_token"])
    patched = api.patch(f"/api/v1/questions/{SEC}:Q007", {"question_text": "Changed by hand"}, token=token)
    assert patched.status_code == 200 and ops(patched)["writes"] == 2  # the question, the voided hash
    reverted, report = run(csv_bytes(rows), "d" * 32)
    assert report["rows_updated"] == 1 and reverted.reads == 2 + 2 + 4
    [q] = [d for d in docs("questions") if d["question_id"] == "Q007"]
    assert q["question_text"] == "Question Q007?"


def test_an_import_racing_into_a_bank_thought_empty_still_counts_once(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "IMPORT_CHUNK", 3)
    rows = [row(f"Q{i}", "1.1") for i in range(7)]
    run(csv_bytes(rows[:4]), "e" * 32)
    # A second import that believed the bank empty: its blind creates fail whole, then it reads.
    progress = imports.ImportProgress()
    ref = store.db().collection(imports.IMPORTS).document("f" * 32)
    ref.set({"status": "running"})
    imports.import_stream(SEC, io.StringIO(csv_bytes(rows).decode()), ref, store.now(), progress, fresh=True)
    assert (progress.rows_created, progress.rows_unchanged) == (3, 4)
    assert index_of(SEC) == {"1.1": 7}
    [exam] = docs("exam_types")
    assert exam["question_count"] == 7 and exam["domains"] == {"1.1": 7}


def test_domains_swapped_inside_one_index_shard_stay_in_step(api: Api) -> None:
    same = ["Q0", "Q1"]  # one chunk: one shard
    run(csv_bytes([row(same[0], "1.1"), row(same[1], "1.2")]), "1" * 32)
    # One chunk moves one id 1.1 -> 1.2 and the other 1.2 -> 1.1: one field would need two transforms.
    _, report = run(csv_bytes([row(same[0], "1.2"), row(same[1], "1.1")]), "2" * 32)
    assert report["rows_updated"] == 2
    assert index_of(SEC) == {"1.1": 1, "1.2": 1}
    [exam] = docs("exam_types")
    assert exam["domains"] == {"1.1": 1, "1.2": 1}


def test_the_index_of_a_bank_that_predates_it_can_be_rebuilt(api: Api) -> None:
    from functions.exams import bank

    run(csv_bytes([row(f"Q{i}", f"{1 + i % 3}.1") for i in range(9)]), "3" * 32)
    for ref in index.shard_refs(SEC):
        ref.delete()
    token = api.register("alice@example.com")["access_token"]
    assert start_status(api, token) == 404  # no index: as if there were no bank
    assert bank.rebuild_index(SEC) == 9
    assert index_of(SEC) == {"1.1": 3, "2.1": 3, "3.1": 3}
    assert start_status(api, token) == 201


def start_status(api: Any, token: str) -> int:
    body = {"exam_type": SEC, "question_count": 9, "mode": "exam"}
    return int(api.post("/api/v1/exam-sessions", body, token=token).status_code)


def test_raw_encoded_creates_store_what_the_client_would(api: Api) -> None:
    from functions.exams import rawwrite

    now = datetime(2026, 3, 1, 12, 30, 15, 123000, tzinfo=UTC)
    data = {"s": 'é, "quoted"\nline', "i": 7, "f": 0.25, "b": True, "t": now, "n": None, "m": {"A": "x", "B.1": "y"}}
    ref = store.db().collection("raw_probe").document("one")
    batch = store.db().batch()
    batch._write_pbs.append(rawwrite.create(ref._document_path, data))
    batch.commit()
    assert ref.get().to_dict() == data
    again = store.db().batch()
    again._write_pbs.append(rawwrite.create(ref._document_path, data))
    with pytest.raises(gexc.AlreadyExists):
        again.commit()  # a create, not a set
