"""The tutor's reply: grounded in questions, lessons and exercises, cited, written once, kept
fresh as content changes, and silent about an exam in progress."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from functions.chat import service
from functions.chat.retrieval import CONTENT
from shared import event_types, store
from shared.collections import EXERCISES, PATHS, QUESTIONS
from shared.config import settings
from shared.events import publish
from tests.chat_support import (
    SECRET_SOLUTION,
    SECRET_TEST,
    add_exercise,
    add_path,
    add_question,
    lesson,
    messages_of,
    replies_of,
)
from tests.support import Api, PushEndpoint, eventually, fields

SESSIONS = "/api/v1/chat/sessions"


@pytest.fixture(autouse=True)
def fresh_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test writes its content just before asking: look for changes on every reply."""
    monkeypatch.setattr(settings(), "tutor_index_refresh_seconds", 0)
    CONTENT.forget()


@pytest.fixture
def admin(api: Any) -> str:
    return str(api.admin()["access_token"])


@pytest.fixture
def student(api: Api) -> dict[str, Any]:
    return api.register("ann@example.com")


@pytest.fixture
def content(api: Any, admin: str) -> dict[str, str]:
    """A small course: two questions, two lessons, one exercise."""
    hashing = add_question(
        api,
        admin,
        "H1",
        "Which technique verifies the integrity of a downloaded file?",
        "Hashing produces a digest; comparing digests proves the file was not altered.",
    )
    add_question(
        api,
        admin,
        "F1",
        "Which device filters traffic between network zones?",
        "Hashing is not it. A firewall enforces rules between zones.",
    )
    add_path(
        "path-net",
        [
            lesson(
                "les-subnet",
                "Subnet masks",
                "A subnet mask splits an IPv4 address into network and host bits. "
                "A /24 mask leaves 8 host bits, so 254 usable hosts.",
            ),
            lesson("les-dns", "How DNS resolves names", "DNS translates names into IP addresses through resolvers."),
        ],
    )
    add_exercise(
        "ex-fizz",
        "FizzBuzz",
        "Print the numbers 1 to 15, but Fizz for multiples of three and Buzz for multiples of five.",
        ["Use the modulo operator %.", "Check multiples of fifteen first."],
    )
    return {"hashing": hashing}


def ask(
    api: Any, token: str, content: str, session_id: str | None = None, **session: Any
) -> tuple[str, dict[str, Any]]:
    if session_id is None:
        created = api.post(SESSIONS, session, token=token)
        assert created.status_code == 201, created.json
        session_id = created.json["id"]
    posted = api.post(f"{SESSIONS}/{session_id}/messages", {"content": content}, token=token)
    assert posted.status_code == 202, posted.json
    return str(session_id), dict(posted.json)


def reply_to(api: Any, token: str, session_id: str, message_id: str) -> dict[str, Any]:
    items = api.get(f"{SESSIONS}/{session_id}/messages?limit=100", token=token).json["items"]
    found = [m for m in items if m["role"] == "assistant" and m["id"] == service.reply_id(message_id)]
    assert len(found) == 1, items
    return dict(found[0])


def test_reply_cites_the_lesson_that_answers(api: Any, drain: Any, student: dict[str, Any], content: Any) -> None:
    token = student["access_token"]
    session_id, message = ask(api, token, "How many usable hosts does a /24 subnet mask leave?")
    drain()
    reply = reply_to(api, token, session_id, message["id"])
    assert reply["sources"][0] == {"kind": "lesson", "id": "les-subnet", "title": "Subnet masks"}
    assert "254 usable hosts" in reply["content"]
    assert reply["created_at"] >= message["created_at"]
    items = api.get(f"{SESSIONS}/{session_id}/messages", token=token).json["items"]
    assert [m["role"] for m in items] == ["user", "assistant"]


def test_reply_cites_a_question_and_its_explanation(
    api: Any, drain: Any, student: dict[str, Any], content: Any
) -> None:
    """Once the student has answered the question in practice (its key earned)."""
    token = student["access_token"]
    practice = start_exam(api, token, 2, mode="practice")
    url = f"/api/v1/exam-sessions/{practice['id']}/answers"
    assert api.post(url, {"question_id": content["hashing"], "answer": "A"}, token=token).status_code == 200
    session_id, message = ask(api, token, "How do I verify the integrity of a downloaded file?")
    drain()
    reply = reply_to(api, token, session_id, message["id"])
    assert reply["sources"][0]["kind"] == "question" and reply["sources"][0]["id"] == content["hashing"]
    assert "comparing digests" in reply["content"]


def test_reply_uses_exercise_hints_but_never_tests_or_solution(
    api: Any, drain: Any, student: dict[str, Any], content: Any
) -> None:
    token = student["access_token"]
    session_id, message = ask(
        api, token, "I am stuck on fizzbuzz, multiples of three and five", context={"exercise_id": "ex-fizz"}
    )
    drain()
    reply = reply_to(api, token, session_id, message["id"])
    assert reply["sources"][0] == {"kind": "exercise", "id": "ex-fizz", "title": "FizzBuzz"}
    assert "modulo" in reply["content"] or "fifteen" in reply["content"]
    assert SECRET_SOLUTION not in reply["content"] and "SOLUTION_SECRET" not in reply["content"]
    assert SECRET_TEST not in reply["content"]


def test_no_matching_content_says_so_without_sources(
    api: Any, drain: Any, student: dict[str, Any], content: Any
) -> None:
    token = student["access_token"]
    session_id, message = ask(api, token, "Zebra quokka marmalade")
    drain()
    reply = reply_to(api, token, session_id, message["id"])
    assert reply["sources"] == [] and "could not find" in reply["content"]


def test_a_short_follow_up_keeps_the_previous_question_in_mind(
    api: Any, drain: Any, student: dict[str, Any], content: Any
) -> None:
    token = student["access_token"]
    session_id, _ = ask(api, token, "How does DNS resolve names?")
    drain()
    _, follow_up = ask(api, token, "Tell me more", session_id=session_id)
    drain()
    reply = reply_to(api, token, session_id, follow_up["id"])
    assert reply["sources"][0]["id"] == "les-dns"


def test_a_redelivered_event_writes_no_second_reply(
    api: Any, drain: Any, student: dict[str, Any], content: Any
) -> None:
    token = student["access_token"]
    session_id, message = ask(api, token, "What does a subnet mask do?")
    drain()
    first = replies_of(session_id)
    publish(event_types.MESSAGE_POSTED, {"session_id": session_id, "message_id": message["id"], "user_id": "x"})
    publish(event_types.MESSAGE_POSTED, {"session_id": session_id, "message_id": message["id"], "user_id": "x"})
    assert drain() >= 2
    assert replies_of(session_id) == first and len(first) == 1


def test_concurrent_deliveries_write_one_reply(api: Any, drain: Any, student: dict[str, Any], content: Any) -> None:
    token = student["access_token"]
    session_id, message = ask(api, token, "What does a subnet mask do?")
    CONTENT.current()
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(service.write_reply(session_id, message["id"], store.now())))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]
    assert len(replies_of(session_id)) == 1


def test_reply_arrives_by_real_pubsub_push(api: Any, stack: Any, student: dict[str, Any], content: Any) -> None:
    token = student["access_token"]
    with PushEndpoint(stack, "chat-reply", event_types.MESSAGE_POSTED):
        session_id, message = ask(api, token, "How does DNS resolve names?")
        reply = eventually(lambda: replies_of(session_id), timeout=30)
    assert reply[0]["id"] == service.reply_id(message["id"])
    assert reply[0]["sources"][0]["id"] == "les-dns"


def test_new_edited_and_deleted_content_is_seen_by_a_warm_index(
    api: Any, drain: Any, admin: str, student: dict[str, Any], content: Any
) -> None:
    token = student["access_token"]
    session_id, _ = ask(api, token, "What does DNS do?")
    drain()  # the index is built now
    add_path("path-sec", [lesson("les-vlan", "VLAN tagging", "A VLAN tag (802.1Q) separates broadcast domains.")])
    _, asked = ask(api, token, "Explain VLAN tagging and broadcast domains", session_id=session_id)
    drain()
    assert reply_to(api, token, session_id, asked["id"])["sources"][0]["id"] == "les-vlan"

    store.db().collection(PATHS).document("path-sec").update(
        {
            "modules": [
                {
                    "id": "m1",
                    "title": "F",
                    "lessons": [lesson("les-vlan", "VLAN tagging", "VLAN tags travel in 802.1Q trunks.")],
                }
            ]
        }
    )
    _, asked = ask(api, token, "Explain VLAN tagging", session_id=session_id)
    drain()
    assert "802.1Q trunks" in reply_to(api, token, session_id, asked["id"])["content"]

    store.db().collection(PATHS).document("path-sec").delete()
    _, asked = ask(api, token, "Explain VLAN tagging", session_id=session_id)
    drain()
    assert all(s["id"] != "les-vlan" for s in reply_to(api, token, session_id, asked["id"])["sources"])


def test_exercise_documents_are_read_without_tests_or_solution(content: Any) -> None:
    index = CONTENT.current()
    passage = index.get("exercise", "ex-fizz")
    assert passage is not None
    assert "SOLUTION_SECRET" not in passage.text and SECRET_TEST not in passage.text
    assert fields(store.db().collection(EXERCISES).document("ex-fizz").get())["solution"] == SECRET_SOLUTION


# Exam integrity -----------------------------------------------------------------------------------


def start_exam(api: Any, token: str, count: int, mode: str = "exam") -> dict[str, Any]:
    response = api.post(
        "/api/v1/exam-sessions", {"exam_type": "security-plus", "question_count": count, "mode": mode}, token=token
    )
    assert response.status_code == 201, response.json
    return dict(response.json)


def test_during_an_exam_the_tutor_cites_no_question_and_names_no_answer(
    api: Any, drain: Any, student: dict[str, Any], content: Any
) -> None:
    token = student["access_token"]
    exam = start_exam(api, token, 2)
    asked_text = exam["questions"][0]["question_text"]
    session_id, message = ask(
        api, token, f"{asked_text} Which option is correct?", context={"exam_session_id": exam["id"]}
    )
    drain()
    reply = reply_to(api, token, session_id, message["id"])
    assert all(s["kind"] != "question" for s in reply["sources"])
    assert "exam in progress" in reply["content"]
    assert "correct option" not in reply["content"].lower()
    assert "comparing digests" not in reply["content"] and "firewall enforces" not in reply["content"]

    # Once the exam is submitted, the same question is fair game again.
    assert api.post(f"/api/v1/exam-sessions/{exam['id']}/submit", token=token).status_code == 200
    _, after = ask(api, token, "How do I verify the integrity of a downloaded file?", session_id=session_id)
    drain()
    reply = reply_to(api, token, session_id, after["id"])
    assert reply["sources"][0]["kind"] == "question" and "The correct option is B" in reply["content"]


def test_a_practice_question_is_explained_only_once_answered(
    api: Any, drain: Any, student: dict[str, Any], content: Any
) -> None:
    token = student["access_token"]
    practice = start_exam(api, token, 2, mode="practice")
    session_id, before = ask(api, token, "How do I verify the integrity of a downloaded file?")
    drain()
    reply = reply_to(api, token, session_id, before["id"])
    assert all(s["kind"] != "question" for s in reply["sources"])
    assert "comparing digests" not in reply["content"] and "exam in progress" not in reply["content"]

    url = f"/api/v1/exam-sessions/{practice['id']}/answers"
    answered = api.post(url, {"question_id": content["hashing"], "answer": "A"}, token=token)
    assert answered.status_code == 200
    _, after = ask(api, token, "How do I verify the integrity of a downloaded file?", session_id=session_id)
    drain()
    reply = reply_to(api, token, session_id, after["id"])
    assert reply["sources"][0]["id"] == content["hashing"] and "The correct option is B" in reply["content"]


def test_questions_are_indexed_from_the_bank(api: Any, content: Any) -> None:
    index = CONTENT.current()
    ids = {d.id for d in store.db().collection(QUESTIONS).stream()}
    assert {p.id for p in index.passages.values() if p.kind == "question"} == ids


def test_a_reply_costs_what_docs_chat_md_says(
    api: Any, student: dict[str, Any], content: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Warm index, no refresh due, first message of a session, one passage cited."""
    monkeypatch.setattr(settings(), "tutor_index_refresh_seconds", 3600)
    token = student["access_token"]
    session_id, message = ask(api, token, "How many usable hosts does a /24 subnet mask leave?")
    CONTENT.current()
    meter = store.start_metering()
    assert service.write_reply(session_id, message["id"], store.now()) is True
    # session + message + reply (one batch), the user (role, school), history (none: 1), exams
    # in progress (none: 1), the cited path; no question among the candidates: no grant read
    assert (meter.reads, meter.writes) == (7, 1)
    meter = store.start_metering()
    assert service.write_reply(session_id, message["id"], store.now()) is False
    assert (meter.reads, meter.writes) == (3, 0)  # a redelivery: the batch read finds the reply


def test_an_event_naming_nothing_writes_nothing(api: Any, drain: Any, student: dict[str, Any]) -> None:
    token = student["access_token"]
    session_id, message = ask(api, token, "What does a subnet mask do?")
    store.db().collection("chat_sessions").document(session_id).collection("messages").document(message["id"]).delete()
    publish(event_types.MESSAGE_POSTED, {"session_id": session_id})  # no message id
    publish(event_types.MESSAGE_POSTED, {"session_id": session_id, "message_id": "a/b"})
    assert drain() >= 3  # the original event too: its message is gone
    assert messages_of(session_id) == []


def test_the_context_biases_but_the_message_leads(api: Any, drain: Any, student: dict[str, Any], content: Any) -> None:
    token = student["access_token"]
    session_id, vague = ask(api, token, "Can you explain it?", context={"exercise_id": "ex-fizz"})
    drain()
    assert reply_to(api, token, session_id, vague["id"])["sources"][0]["id"] == "ex-fizz"
    _, other = ask(api, token, "How many usable hosts does a /24 subnet mask leave?", session_id=session_id)
    drain()
    assert [s["id"] for s in reply_to(api, token, session_id, other["id"])["sources"]] == ["les-subnet"]


def test_a_topic_change_is_not_answered_with_the_previous_topic(
    api: Any, drain: Any, student: dict[str, Any], content: Any
) -> None:
    token = student["access_token"]
    session_id, _ = ask(api, token, "I am stuck on fizzbuzz, multiples of three and five")
    drain()
    _, changed = ask(api, token, "How does DNS resolve names?", session_id=session_id)
    drain()
    assert [s["id"] for s in reply_to(api, token, session_id, changed["id"])["sources"]] == ["les-dns"]
