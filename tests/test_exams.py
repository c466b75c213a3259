"""Practice exams: the question bank, exam types, sessions (practice and exam), history,
weak areas, events and Firestore budgets."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1

from functions.exams import history
from shared import store
from tests.support import Api, Stack, fields, ops, put_in_school
from tests.test_imports import csv_bytes, fire, row, upload

SEC = "security-plus"


def new_question(qid: str | None = "Q1", domain: str = "1.1", **extra: Any) -> dict[str, Any]:
    body = {
        "exam_type": SEC,
        "domain": domain,
        "question_text": "Which control is a login banner?",
        "options": {"A": "Detective", "B": "Deterrent", "C": "Corrective", "D": "Compensating"},
        "explanations": {"A": "No.", "B": "Yes.", "C": "No.", "D": "No."},
        "correct_answer": "B",
        **extra,
    }
    if qid is not None:
        body["question_id"] = qid
    return body


def docs(collection: str) -> list[dict[str, Any]]:
    return [fields(d) for d in store.db().collection(collection).stream()]


def index_of(exam_type: str) -> dict[str, int]:
    """The id-index of an exam type, checked against the questions it should list."""
    from functions.exams import index

    shards = store.db().get_all(index.shard_refs(exam_type))
    merged = index.merge(index.ids_of(index.shard_domains(s)) for s in shards)
    stored = {d["question_id"]: d["domain"] for d in docs("questions") if d["exam_type"] == exam_type}
    assert {q: d for d, ids in merged.items() for q in ids} == stored
    assert all(len(ids) == len(set(ids)) for ids in merged.values())
    return {d: len(ids) for d, ids in merged.items()}


@pytest.fixture
def admin(api: Any) -> str:
    return str(api.admin()["access_token"])


@pytest.fixture
def bank(api: Any, stack: Any, admin: str) -> dict[str, str]:
    """A bank of 12 questions in security-plus: domains 1.1 (6), 2.1 (4), 3.1 (2); answer = A."""
    domains = ["1.1"] * 6 + ["2.1"] * 4 + ["3.1"] * 2
    accepted = upload(api, admin, SEC, csv_bytes([row(f"S{i:02}", d, "A") for i, d in enumerate(domains)]))
    assert accepted.status_code == 202
    fire(stack)
    return {f"{SEC}:S{i:02}": d for i, d in enumerate(domains)}


class Events:
    """A pull subscription of our own on a topic, to see what the routes publish."""

    def __init__(self, project: str, topic: str) -> None:
        self.subscriber = pubsub_v1.SubscriberClient()
        publisher = pubsub_v1.PublisherClient()
        topic_path = publisher.topic_path(project, topic)
        with contextlib.suppress(gexc.AlreadyExists):
            publisher.create_topic(name=topic_path)
        self.path = self.subscriber.subscription_path(project, f"test-exams--{topic}")
        with contextlib.suppress(gexc.NotFound):
            self.subscriber.delete_subscription(subscription=self.path)
        self.subscriber.create_subscription(name=self.path, topic=topic_path)

    def pull(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            response = self.subscriber.pull(
                request={"subscription": self.path, "max_messages": 100, "return_immediately": True}, timeout=10
            )
            if not response.received_messages:
                return out
            for m in response.received_messages:
                out.append(json.loads(m.message.data))
            self.subscriber.acknowledge(
                request={"subscription": self.path, "ack_ids": [m.ack_id for m in response.received_messages]}
            )


@pytest.fixture
def events(stack: Any) -> dict[str, Events]:
    return {t: Events(stack.project, t) for t in ("exam.answered", "exam.completed")}


# The question bank ------------------------------------------------------------------------------


def test_question_crud_keeps_exam_counts(api: Api, admin: str) -> None:
    registered = api.register("teacher@example.com", role="teacher")
    put_in_school(registered["user"]["id"], "school-1")  # a verified teacher reads the bank's keys
    teacher = registered["access_token"]
    student = api.register("student@example.com")["access_token"]

    created = api.post("/api/v1/questions", new_question("Q1"), token=admin)
    assert created.status_code == 201, created.json
    assert created.json["id"] == f"{SEC}:Q1"
    assert created.json["correct_answer"] == "B"
    assert ops(created) == {"reads": 2, "writes": 3, "deletes": 0}  # question, exam type, index shard
    api.post("/api/v1/questions", new_question(None, "2.1", correct_answer="c"), token=admin)
    assert api.post("/api/v1/questions", new_question("Q1"), token=admin).status_code == 409

    exam = api.get("/api/v1/exams", token=student).json["items"][0]
    assert exam["question_count"] == 2
    assert exam["domains"] == [{"domain": "1.1", "count": 1}, {"domain": "2.1", "count": 1}]

    # Verified teachers read; students never see the bank.
    read = api.get(f"/api/v1/questions/{SEC}:Q1", token=teacher)
    assert read.status_code == 200 and read.json["explanations"]["B"] == "Yes."
    assert ops(read) == {"reads": 2, "writes": 0, "deletes": 0}
    assert api.get(f"/api/v1/questions/{SEC}:Q1", token=student).status_code == 403
    assert api.get("/api/v1/questions", token=student).status_code == 403
    listed = api.get(f"/api/v1/questions?exam_type={SEC}&domain=2.1", token=teacher)
    assert listed.status_code == 200
    assert [q["domain"] for q in listed.json["items"]] == ["2.1"]
    assert listed.json["items"][0]["correct_answer"] == "C"
    assert ops(listed) == {"reads": 2, "writes": 0, "deletes": 0}
    assert api.patch(f"/api/v1/questions/{SEC}:Q1", {"domain": "3.1"}, token=teacher).status_code == 403
    assert api.delete(f"/api/v1/questions/{SEC}:Q1", token=teacher).status_code == 403

    patched = api.patch(f"/api/v1/questions/{SEC}:Q1", {"domain": "3.1", "correct_answer": "A"}, token=admin)
    assert patched.status_code == 200, patched.json
    assert (patched.json["domain"], patched.json["correct_answer"]) == ("3.1", "A")
    assert ops(patched) == {"reads": 3, "writes": 3, "deletes": 0}  # + the index shard it leaves
    assert index_of(SEC) == {"2.1": 1, "3.1": 1}
    text_only = api.patch(f"/api/v1/questions/{SEC}:Q1", {"question_text": "Reworded?"}, token=admin)
    assert text_only.json["question_text"] == "Reworded?" and text_only.json["domain"] == "3.1"
    assert ops(text_only) == {"reads": 2, "writes": 1, "deletes": 0}
    exam = api.get("/api/v1/exams", token=student).json["items"][0]
    assert exam["domains"] == [{"domain": "2.1", "count": 1}, {"domain": "3.1", "count": 1}]

    deleted = api.delete(f"/api/v1/questions/{SEC}:Q1", token=admin)
    assert deleted.status_code == 204
    assert ops(deleted) == {"reads": 3, "writes": 2, "deletes": 1}  # + the index shard
    assert index_of(SEC) == {"2.1": 1}
    assert api.get(f"/api/v1/questions/{SEC}:Q1", token=admin).status_code == 404
    assert api.delete(f"/api/v1/questions/{SEC}:Q1", token=admin).status_code == 404
    exam = api.get("/api/v1/exams", token=student).json["items"][0]
    assert exam["question_count"] == 1 and exam["domains"] == [{"domain": "2.1", "count": 1}]


def test_bad_question_input_writes_nothing(api: Api, admin: str) -> None:
    bad = [
        new_question(correct_answer="E"),
        new_question(domain="one"),
        new_question(exam_type="Security Plus"),
        new_question(options={"A": "a", "B": "b", "C": "c"}),
        new_question(question_text="x" * 2001),
        {**new_question(), "secret": 1},
        new_question(qid="bad/id"),
    ]
    for body in bad:
        response = api.post("/api/v1/questions", body, token=admin)
        assert response.status_code == 422, body
        assert response.json["error"]["code"] == "validation_error"
    assert api.patch(f"/api/v1/questions/{SEC}:Q1", {}, token=admin).status_code == 422
    assert api.patch(f"/api/v1/questions/{SEC}:Q1", {"domain": None}, token=admin).status_code == 422
    assert api.patch(f"/api/v1/questions/{SEC}:nope", {"domain": "1.1"}, token=admin).status_code == 404
    assert api.get("/api/v1/questions/..", token=admin).status_code == 404
    assert api.get("/api/v1/questions?limit=0", token=admin).status_code == 422
    assert docs("questions") == [] and docs("exam_types") == []


# Sessions -------------------------------------------------------------------------------------------


def test_practice_session_end_to_end(api: Api, bank: dict[str, str], admin: str, events: dict[str, Events]) -> None:
    alice = api.register("alice@example.com")
    bob = api.register("bob@example.com")
    token = alice["access_token"]

    started = api.post(
        "/api/v1/exam-sessions", {"exam_type": SEC, "question_count": 5, "mode": "practice"}, token=token
    )
    assert started.status_code == 201, started.json
    session = started.json
    assert session["status"] == "in_progress" and session["mode"] == "practice" and session["deadline"] is None
    ids = [q["id"] for q in session["questions"]]
    assert len(ids) == 5 and len(set(ids)) == 5 and set(ids) <= set(bank)
    for q in session["questions"]:
        assert q["correct_answer"] is None and q["correct"] is None
        assert set(q["options"]) == {"A", "B", "C", "D"}
    assert "explanation" not in started.get_data(as_text=True)
    assert "Why A" not in started.get_data(as_text=True)
    # Round trip 1: auth; the 4 index shards, 2 progress shards and the domain stats. Round trip 2:
    # the 5 chosen questions. Round trip 3: the session, its texts, the served marks.
    served_shards = len({history.progress_shard(i.split(":")[1]) for i in ids})
    assert ops(started) == {"reads": 1 + 4 + 2 + 1 + 5, "writes": 2 + served_shards, "deletes": 0}

    first, second = ids[0], ids[1]
    url = f"/api/v1/exam-sessions/{session['id']}"
    right = api.post(f"{url}/answers", {"question_id": first, "answer": "a"}, token=token)
    assert right.status_code == 200, right.json
    assert right.json == {
        "correct": True,
        "correct_answer": "A",
        "explanations": {"A": "Why A", "B": "Why B", "C": "Why C", "D": "Why D"},
    }
    # session, the key's grant (shared.answers), outbox entry of exam.answered; its delete once
    # published (the domain stats follow from that event: user_stats is their one store)
    assert ops(right) == {"reads": 3, "writes": 3, "deletes": 1}
    wrong = api.post(f"{url}/answers", {"question_id": second, "answer": "C"}, token=token)
    assert wrong.json["correct"] is False and wrong.json["correct_answer"] == "A"

    # Answering twice, a question not in the session, bad input, someone else's session.
    again = api.post(f"{url}/answers", {"question_id": first, "answer": "B"}, token=token)
    assert again.status_code == 409 and again.json["error"]["code"] == "conflict"
    outside = next(q for q in bank if q not in ids)
    assert api.post(f"{url}/answers", {"question_id": outside, "answer": "A"}, token=token).status_code == 404
    assert api.post(f"{url}/answers", {"question_id": "x/../y", "answer": "A"}, token=token).status_code == 404
    assert api.post(f"{url}/answers", {"question_id": ids[2], "answer": "E"}, token=token).status_code == 422
    assert api.post(f"{url}/answers", {"question_id": ids[2]}, token=token).status_code == 422
    bob_token = bob["access_token"]
    assert api.post(f"{url}/answers", {"question_id": ids[2], "answer": "A"}, token=bob_token).status_code == 404
    assert api.get(url, token=bob_token).status_code == 404
    assert api.post(f"{url}/submit", token=bob_token).status_code == 404

    view = api.get(url, token=token)
    assert view.status_code == 200
    assert ops(view) == {"reads": 3, "writes": 0, "deletes": 0}  # auth, the session, its texts
    assert view.json["answered"] == 2
    by_id = {q["id"]: q for q in view.json["questions"]}
    assert (by_id[first]["answer"], by_id[first]["correct"], by_id[first]["correct_answer"]) == ("A", True, "A")
    assert by_id[ids[3]]["correct_answer"] is None
    assert api.get(url, token=admin).status_code == 200  # admins may read

    submitted = api.post(f"{url}/submit", token=token)
    assert submitted.status_code == 200, submitted.json
    assert submitted.json["correct"] == 1 and submitted.json["total"] == 5 and submitted.json["score"] == 20
    assert sum(d["total"] for d in submitted.json["domains"]) == 5
    # session, the grants of the 3 questions not answered (shared.answers), exam.completed in the outbox
    assert ops(submitted) == {"reads": 2, "writes": 2 + 3, "deletes": 1}
    assert api.post(f"{url}/submit", token=token).status_code == 409
    after = api.post(f"{url}/answers", {"question_id": ids[4], "answer": "A"}, token=token)
    assert after.status_code == 409
    view = api.get(url, token=token).json
    assert view["status"] == "submitted" and view["result"]["score"] == 20
    assert all(q["correct_answer"] == "A" for q in view["questions"])

    answered = events["exam.answered"].pull()
    assert sorted((e["data"]["question_id"], e["data"]["correct"]) for e in answered) == sorted(
        [(first, True), (second, False)]
    )
    assert all(e["data"]["user_id"] == alice["user"]["id"] and e["data"]["mode"] == "practice" for e in answered)
    [completed] = events["exam.completed"].pull()
    assert completed["data"]["score"] == 20 and completed["data"]["session_id"] == session["id"]
    assert completed["data"]["total"] == 5


def test_exam_mode_reveals_nothing_until_submit(
    api: Api, bank: dict[str, str], events: dict[str, Events], drain: Callable[..., int]
) -> None:
    user = api.register("alice@example.com")
    token, user_id = user["access_token"], user["user"]["id"]
    started = api.post("/api/v1/exam-sessions", {"exam_type": SEC, "question_count": 4, "mode": "exam"}, token=token)
    assert started.status_code == 201
    session = started.json
    assert session["deadline"] is not None
    url = f"/api/v1/exam-sessions/{session['id']}"
    ids = [q["id"] for q in session["questions"]]

    recorded = api.post(f"{url}/answers", {"question_id": ids[0], "answer": "A"}, token=token)
    assert recorded.status_code == 200 and recorded.json == {"recorded": True}
    assert ops(recorded) == {"reads": 2, "writes": 1, "deletes": 0}
    api.post(f"{url}/answers", {"question_id": ids[1], "answer": "D"}, token=token)
    assert api.post(f"{url}/answers", {"question_id": ids[1], "answer": "A"}, token=token).status_code == 409

    view = api.get(url, token=token).json
    assert all(q["correct"] is None and q["correct_answer"] is None for q in view["questions"])
    assert {q["id"]: q["answer"] for q in view["questions"]}[ids[1]] == "D"
    assert api.get(f"/api/v1/users/{user_id}/weak-areas", token=token).json == {"items": []}
    assert events["exam.answered"].pull() == []

    submitted = api.post(f"{url}/submit", token=token)
    assert submitted.status_code == 200
    assert (submitted.json["correct"], submitted.json["total"], submitted.json["score"]) == (1, 4, 25)
    # session, the 4 questions' grants (shared.answers), and the outbox entries of 2 exam.answered
    # and exam.completed, deleted once sent
    assert ops(submitted) == {"reads": 2, "writes": 1 + 4 + 3, "deletes": 3}
    view = api.get(url, token=token).json
    assert {q["id"]: q["correct"] for q in view["questions"]}[ids[1]] is False
    # Weak areas follow from exam.completed (user_stats, the one domain store): the exam's 4
    # questions, the 2 left unanswered counting as wrong, as on the real exam.
    drain(["progress-on-exam-answered--exam.answered", "progress-on-exam-completed--exam.completed"])
    areas = api.get(f"/api/v1/users/{user_id}/weak-areas", token=token).json["items"]
    assert (sum(a["answered"] for a in areas), sum(a["correct"] for a in areas)) == (4, 1)

    answered = events["exam.answered"].pull()
    assert sorted(e["data"]["question_id"] for e in answered) == sorted(ids[:2])
    assert all(e["data"]["mode"] == "exam" for e in answered)
    [completed] = events["exam.completed"].pull()
    assert completed["data"]["correct"] == 1 and completed["data"]["mode"] == "exam"


def _expire(session_id: str) -> None:
    store.db().collection("exam_sessions").document(session_id).update({"deadline": store.now() - timedelta(seconds=1)})


def test_exam_deadline_blocks_answers_and_still_submits(api: Api, bank: dict[str, str]) -> None:
    token = api.register("alice@example.com")["access_token"]
    session = api.post(
        "/api/v1/exam-sessions", {"exam_type": SEC, "question_count": 3, "mode": "exam"}, token=token
    ).json
    url = f"/api/v1/exam-sessions/{session['id']}"
    ids = [q["id"] for q in session["questions"]]
    api.post(f"{url}/answers", {"question_id": ids[0], "answer": "A"}, token=token)
    _expire(session["id"])
    late = api.post(f"{url}/answers", {"question_id": ids[1], "answer": "A"}, token=token)
    assert late.status_code == 409 and "Time is up" in late.json["error"]["message"]
    submitted = api.post(f"{url}/submit", token=token)
    assert submitted.status_code == 200
    assert (submitted.json["correct"], submitted.json["total"]) == (1, 3)


def test_scheduled_sweep_submits_expired_exams(
    api: Api, bank: dict[str, str], drain: Callable[..., int], events: dict[str, Events]
) -> None:
    from shared.events import publish

    token = api.register("alice@example.com")["access_token"]
    body = {"exam_type": SEC, "question_count": 2, "mode": "exam"}
    expired = api.post("/api/v1/exam-sessions", body, token=token).json
    running = api.post("/api/v1/exam-sessions", body, token=token).json
    _expire(expired["id"])
    publish("jobs.exams-expire-sessions", {"job": "exams-expire-sessions"})
    drain(["exams-expire-sessions--jobs.exams-expire-sessions"])
    assert api.get(f"/api/v1/exam-sessions/{expired['id']}", token=token).json["status"] == "submitted"
    assert api.get(f"/api/v1/exam-sessions/{running['id']}", token=token).json["status"] == "in_progress"
    [completed] = events["exam.completed"].pull()
    assert completed["data"]["session_id"] == expired["id"] and completed["data"]["score"] == 0


def test_domains_filter_and_no_repeats(api: Api, bank: dict[str, str]) -> None:
    token = api.register("alice@example.com")["access_token"]
    started = api.post(
        "/api/v1/exam-sessions", {"exam_type": SEC, "question_count": 6, "domains": ["2.1", "3.1"]}, token=token
    )
    assert started.status_code == 201, started.json
    ids = [q["id"] for q in started.json["questions"]]
    assert sorted(ids) == sorted(q for q, d in bank.items() if d in ("2.1", "3.1"))
    single = api.post("/api/v1/exam-sessions", {"exam_type": SEC, "question_count": 2, "domains": ["3.1"]}, token=token)
    assert {q["domain"] for q in single.json["questions"]} == {"3.1"}


def test_a_start_reads_the_index_and_the_chosen_questions_only(api: Api, stack: Stack, admin: str) -> None:
    domains = [f"{1 + i % 4}.{1 + i % 3}" for i in range(60)]
    upload(api, admin, SEC, csv_bytes([row(f"L{i:03}", d) for i, d in enumerate(domains)]))
    fire(stack)
    assert sum(index_of(SEC).values()) == 60
    token = api.register("alice@example.com")["access_token"]
    seen: set[str] = set()
    for _ in range(3):
        started = api.post(
            "/api/v1/exam-sessions", {"exam_type": SEC, "question_count": 10, "mode": "exam"}, token=token
        )
        assert started.status_code == 201
        ids = [q["id"] for q in started.json["questions"]]
        assert len(set(ids)) == 10
        seen |= set(ids)
        # auth + the 4 index shards + the 10 chosen questions: never the bank, whatever its size
        assert ops(started)["reads"] == 1 + 4 + 10
    assert len(seen) > 10  # different sessions draw different questions
    filtered = api.post(
        "/api/v1/exam-sessions", {"exam_type": SEC, "question_count": 3, "domains": ["1.1", "2.2"]}, token=token
    )
    assert filtered.status_code == 201
    assert {q["domain"] for q in filtered.json["questions"]} <= {"1.1", "2.2"}


def test_bad_session_requests_write_nothing(api: Api, bank: dict[str, str]) -> None:
    token = api.register("alice@example.com")["access_token"]
    cases = [
        ({"exam_type": SEC, "question_count": 0}, 422),
        ({"exam_type": SEC, "question_count": 101}, 422),
        ({"exam_type": SEC, "question_count": 13}, 409),  # more than the bank holds: its state
        ({"exam_type": SEC, "question_count": 3, "domains": ["3.1"]}, 409),  # more than the domain holds
        ({"exam_type": SEC, "question_count": 1, "domains": ["9.9"]}, 404),  # a domain the bank has not
        ({"exam_type": SEC, "question_count": 1, "domains": ["1.1", "1.1"]}, 422),
        ({"exam_type": "network-plus", "question_count": 1}, 404),  # no such bank
        ({"exam_type": SEC, "question_count": 1, "mode": "cram"}, 422),
        ({"exam_type": SEC, "question_count": "many"}, 422),
        ({"exam_type": SEC, "question_count": 1, "user_id": "x"}, 422),
    ]
    for body, status in cases:
        response = api.post("/api/v1/exam-sessions", body, token=token)
        assert response.status_code == status, (body, response.json)
    assert api.post("/api/v1/exam-sessions", {"exam_type": SEC, "question_count": 1}).status_code == 401
    assert api.get("/api/v1/exam-sessions/" + "0" * 32, token=token).status_code == 404
    assert api.get("/api/v1/exam-sessions/nope", token=token).status_code == 404
    assert api.post("/api/v1/exam-sessions/nope/submit", token=token).status_code == 404
    assert docs("exam_sessions") == []


def test_history_newest_first_paged_and_private(api: Api, bank: dict[str, str], admin: str) -> None:
    alice = api.register("alice@example.com")
    bob = api.register("bob@example.com")
    token, user_id = alice["access_token"], alice["user"]["id"]
    made = []
    for mode in ("practice", "exam", "practice"):
        made.append(
            api.post("/api/v1/exam-sessions", {"exam_type": SEC, "question_count": 2, "mode": mode}, token=token).json
        )
    api.post(f"/api/v1/exam-sessions/{made[0]['id']}/submit", token=token)
    api.post("/api/v1/exam-sessions", {"exam_type": SEC, "question_count": 2}, token=bob["access_token"])

    page = api.get(f"/api/v1/users/{user_id}/exam-sessions?limit=2", token=token)
    assert page.status_code == 200
    assert [s["id"] for s in page.json["items"]] == [made[2]["id"], made[1]["id"]]
    assert "questions" not in page.json["items"][0]
    assert ops(page) == {"reads": 1 + 3, "writes": 0, "deletes": 0}
    rest = api.get(f"/api/v1/users/{user_id}/exam-sessions?limit=2&cursor={page.json['next_cursor']}", token=token)
    assert [s["id"] for s in rest.json["items"]] == [made[0]["id"]]
    assert rest.json["items"][0]["status"] == "submitted" and rest.json["items"][0]["score"] == 0
    assert rest.json["next_cursor"] is None

    assert api.get(f"/api/v1/users/{user_id}/exam-sessions", token=bob["access_token"]).status_code == 403
    assert len(api.get(f"/api/v1/users/{user_id}/exam-sessions", token=admin).json["items"]) == 3
    assert api.get(f"/api/v1/users/{user_id}/exam-sessions?cursor=garbage", token=token).status_code == 404


def test_weak_areas_weakest_first(api: Api, bank: dict[str, str], drain: Callable[..., int]) -> None:
    alice = api.register("alice@example.com")
    token, user_id = alice["access_token"], alice["user"]["id"]
    session = api.post("/api/v1/exam-sessions", {"exam_type": SEC, "question_count": 12}, token=token).json
    url = f"/api/v1/exam-sessions/{session['id']}/answers"
    # Right on every 1.1 question, wrong on every 2.1, half right on 3.1.
    wrong_31 = 0
    for q in session["questions"]:
        letter = "A"
        if q["domain"] == "2.1" or (q["domain"] == "3.1" and wrong_31 == 0):
            letter = "B"
            wrong_31 += q["domain"] == "3.1"
        assert api.post(url, {"question_id": q["id"], "answer": letter}, token=token).status_code == 200

    # the answers' events keep the domain stats
    drain(["progress-on-exam-answered--exam.answered", "progress-on-exam-completed--exam.completed"])
    areas = api.get(f"/api/v1/users/{user_id}/weak-areas", token=token)
    assert areas.status_code == 200
    assert ops(areas) == {"reads": 2, "writes": 0, "deletes": 0}
    assert [(a["domain"], a["answered"], a["correct"], a["accuracy"]) for a in areas.json["items"]] == [
        ("2.1", 4, 0, 0.0),
        ("3.1", 2, 1, 0.5),
        ("1.1", 6, 6, 1.0),
    ]
    assert api.get(f"/api/v1/users/{user_id}/weak-areas?exam_type=network-plus", token=token).json == {"items": []}
    bob = api.register("bob@example.com")["access_token"]
    assert api.get(f"/api/v1/users/{user_id}/weak-areas", token=bob).status_code == 403


def test_exam_types_list_is_signed_in_and_paged(api: Api, admin: str) -> None:
    for exam_type in ("network-plus", "security-plus", "cloud-essentials"):
        api.post("/api/v1/questions", new_question(exam_type=exam_type), token=admin)
    assert api.get("/api/v1/exams").status_code == 401
    token = api.register("alice@example.com")["access_token"]
    first = api.get("/api/v1/exams?limit=2", token=token)
    assert [e["id"] for e in first.json["items"]] == ["cloud-essentials", "network-plus"]
    assert first.json["items"][0]["name"] == "Cloud Essentials"
    assert ops(first) == {"reads": 1 + 3, "writes": 0, "deletes": 0}
    rest = api.get(f"/api/v1/exams?limit=2&cursor={first.json['next_cursor']}", token=token).json
    assert [e["id"] for e in rest["items"]] == ["security-plus"] and rest["next_cursor"] is None


def test_events_are_not_published_for_rejected_answers(
    api: Api, bank: dict[str, str], events: dict[str, Events]
) -> None:
    token = api.register("alice@example.com")["access_token"]
    session = api.post("/api/v1/exam-sessions", {"exam_type": SEC, "question_count": 2}, token=token).json
    url = f"/api/v1/exam-sessions/{session['id']}/answers"
    qid = session["questions"][0]["id"]
    api.post(url, {"question_id": qid, "answer": "A"}, token=token)
    api.post(url, {"question_id": qid, "answer": "A"}, token=token)
    assert len(events["exam.answered"].pull()) == 1


def test_options_and_explanations_are_listed_a_to_d() -> None:
    from functions.exams.models import PracticeAnswerOut

    shuffled = {"C": "c", "A": "a", "D": "d", "B": "b"}
    out = PracticeAnswerOut(correct=True, correct_answer="A", explanations=shuffled)
    assert list(out.model_dump()["explanations"]) == ["A", "B", "C", "D"]


def test_a_teacher_sees_the_sessions_and_weak_areas_of_their_students_only(api: Api, bank: dict[str, str]) -> None:
    alice = api.register("alice@example.com")
    token, user_id = alice["access_token"], alice["user"]["id"]
    session = api.post("/api/v1/exam-sessions", {"exam_type": SEC, "question_count": 2}, token=token).json
    teacher = api.register("teacher@example.com", role="teacher")["access_token"]
    stranger = api.register("stranger@example.com", role="teacher")["access_token"]
    created = api.post("/api/v1/teachers/classes", {"name": "Sec+ club", "subject": "Security"}, token=teacher)
    joined = api.post(
        f"/api/v1/students/{user_id}/classes/join", {"class_code": created.json["class_code"]}, token=token
    )
    assert joined.status_code == 201

    history = api.get(f"/api/v1/users/{user_id}/exam-sessions", token=teacher)
    assert history.status_code == 200 and [s["id"] for s in history.json["items"]] == [session["id"]]
    assert ops(history)["reads"] == 1 + 1 + 1  # session, membership, the page
    assert api.get(f"/api/v1/users/{user_id}/weak-areas", token=teacher).status_code == 200
    assert api.get(f"/api/v1/users/{user_id}/exam-sessions", token=stranger).status_code == 403
    assert api.get(f"/api/v1/users/{user_id}/weak-areas", token=stranger).status_code == 403
