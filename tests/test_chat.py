"""Tutor chat sessions and messages: the contract's routes, access, limits and budgets."""

from __future__ import annotations

from typing import Any

import pytest

from shared import store
from shared.collections import CHAT_SESSIONS
from shared.config import settings
from tests.chat_support import add_exercise, messages_of
from tests.support import Api, fields, ops

SESSIONS = "/api/v1/chat/sessions"


@pytest.fixture
def student(api: Api) -> dict[str, Any]:
    return api.register("ann@example.com")


@pytest.fixture
def other(api: Api) -> dict[str, Any]:
    return api.register("bob@example.com")


def open_session(api: Any, token: str, **body: Any) -> dict[str, Any]:
    response = api.post(SESSIONS, body, token=token)
    assert response.status_code == 201, response.json
    return dict(response.json)


def test_create_session_answers_the_contract_and_stores_the_owner(api: Any, student: dict[str, Any]) -> None:
    response = api.post(SESSIONS, {"topic": "Subnetting"}, token=student["access_token"])
    assert response.status_code == 201
    body = response.json
    assert body["user_id"] == student["user"]["id"] and body["topic"] == "Subnetting"
    assert body["status"] == "open" and body["context"] is None and body["created_at"]
    stored = fields(store.db().collection(CHAT_SESSIONS).document(body["id"]).get())
    assert stored["user_id"] == student["user"]["id"]
    assert ops(response) == {"reads": 1, "writes": 1, "deletes": 0}


def test_session_with_an_exercise_context(api: Any, student: dict[str, Any]) -> None:
    add_exercise("ex-sum", "Sum two numbers", "Write add(a, b).", ["Use +."])
    response = api.post(SESSIONS, {"context": {"exercise_id": "ex-sum"}}, token=student["access_token"])
    assert response.status_code == 201
    assert response.json["context"] == {"exercise_id": "ex-sum"}
    assert ops(response) == {"reads": 2, "writes": 1, "deletes": 0}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"context": {"exercise_id": "a", "lesson_id": "b"}}, "context"),
        ({"context": {"exercise_id": None}}, "context.exercise_id"),
        ({"context": {"video_id": "a"}}, "context.video_id"),
        ({"topic": ""}, "topic"),
        ({"topic": "x" * 201}, "topic"),
        ({"context": {"lesson_id": "../etc"}}, "context.lesson_id"),
    ],
)
def test_bad_session_bodies_are_422_and_store_nothing(api: Any, student: dict[str, Any], body: Any, field: str) -> None:
    response = api.post(SESSIONS, body, token=student["access_token"])
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "validation_error"
    assert any(d["field"] == field for d in response.json["error"]["details"]), response.json
    assert list(store.db().collection(CHAT_SESSIONS).stream()) == []


@pytest.mark.parametrize(
    ("context", "field"),
    [
        ({"exercise_id": "nope"}, "context.exercise_id"),
        ({"question_id": "security-plus:NOPE"}, "context.question_id"),
        ({"exam_session_id": "0" * 32}, "context.exam_session_id"),
    ],
)
def test_a_context_naming_nothing_is_404_and_stores_nothing(
    api: Any, student: dict[str, Any], context: Any, field: str
) -> None:
    response = api.post(SESSIONS, {"context": context}, token=student["access_token"])
    assert response.status_code == 404, response.json
    assert [d["field"] for d in response.json["error"]["details"]] == [field]
    assert list(store.db().collection(CHAT_SESSIONS).stream()) == []


def test_another_users_exam_session_is_no_context(api: Any, student: dict[str, Any], other: dict[str, Any]) -> None:
    store.db().collection("exam_sessions").document("a" * 32).set({"user_id": other["user"]["id"], "mode": "exam"})
    response = api.post(SESSIONS, {"context": {"exam_session_id": "a" * 32}}, token=student["access_token"])
    assert response.status_code == 404
    store.db().collection("exam_sessions").document("b" * 32).set({"user_id": student["user"]["id"], "mode": "exam"})
    response = api.post(SESSIONS, {"context": {"exam_session_id": "b" * 32}}, token=student["access_token"])
    assert response.status_code == 201


def test_signed_out_callers_are_401(api: Any) -> None:
    assert api.post(SESSIONS, {}).status_code == 401
    assert api.get(SESSIONS).status_code == 401


def test_list_own_sessions_newest_first_paged(api: Any, student: dict[str, Any], other: dict[str, Any]) -> None:
    token = student["access_token"]
    ids = [open_session(api, token, topic=f"t{i}")["id"] for i in range(3)]
    open_session(api, other["access_token"], topic="not yours")
    first = api.get(f"{SESSIONS}?limit=2", token=token)
    assert first.status_code == 200
    assert [s["id"] for s in first.json["items"]] == ids[::-1][:2]
    assert ops(first) == {"reads": 1 + 3, "writes": 0, "deletes": 0}
    second = api.get(f"{SESSIONS}?limit=2&cursor={first.json['next_cursor']}", token=token)
    assert [s["id"] for s in second.json["items"]] == [ids[0]] and second.json["next_cursor"] is None


def test_post_message_stores_it_and_answers_202(api: Any, student: dict[str, Any]) -> None:
    token = student["access_token"]
    session = open_session(api, token)
    response = api.post(f"{SESSIONS}/{session['id']}/messages", {"content": "  What is a subnet mask?  "}, token=token)
    assert response.status_code == 202, response.json
    body = response.json
    assert body["role"] == "user" and body["content"] == "What is a subnet mask?" and body["sources"] == []
    assert body["session_id"] == session["id"]
    stored = messages_of(session["id"])
    assert [(m["id"], m["role"], m["content"]) for m in stored] == [(body["id"], "user", "What is a subnet mask?")]
    # auth + session; two rate-limit counters + the message
    assert ops(response) == {"reads": 2, "writes": 4, "deletes": 1}  # + chat.message.posted in the outbox


@pytest.mark.parametrize("content", ["", "   ", "x" * 4001, None, 42])
def test_message_content_must_be_1_to_4000_characters(api: Any, student: dict[str, Any], content: Any) -> None:
    token = student["access_token"]
    session = open_session(api, token)
    response = api.post(f"{SESSIONS}/{session['id']}/messages", {"content": content}, token=token)
    assert response.status_code == 422
    assert messages_of(session["id"]) == []


def test_a_4000_character_message_is_accepted(api: Any, student: dict[str, Any]) -> None:
    token = student["access_token"]
    session = open_session(api, token)
    response = api.post(f"{SESSIONS}/{session['id']}/messages", {"content": "y" * 4000}, token=token)
    assert response.status_code == 202


def test_other_users_sessions_are_404(api: Any, student: dict[str, Any], other: dict[str, Any]) -> None:
    session = open_session(api, student["access_token"])
    token = other["access_token"]
    base = f"{SESSIONS}/{session['id']}"
    assert api.get(f"{base}/messages", token=token).status_code == 404
    assert api.post(f"{base}/messages", {"content": "hi"}, token=token).status_code == 404
    assert api.post(f"{base}/end", token=token).status_code == 404
    assert api.get(f"{SESSIONS}/{'f' * 32}/messages", token=token).status_code == 404
    assert api.get(f"{SESSIONS}/not-an-id/messages", token=token).status_code == 404
    assert messages_of(session["id"]) == []
    assert fields(store.db().collection(CHAT_SESSIONS).document(session["id"]).get())["status"] == "open"


def test_ended_session_refuses_messages(api: Any, student: dict[str, Any]) -> None:
    token = student["access_token"]
    session = open_session(api, token)
    ended = api.post(f"{SESSIONS}/{session['id']}/end", token=token)
    assert ended.status_code == 200
    assert ended.json["status"] == "ended" and ended.json["ended_at"]
    assert ops(ended) == {"reads": 2, "writes": 1, "deletes": 0}
    again = api.post(f"{SESSIONS}/{session['id']}/end", token=token)
    assert again.status_code == 200 and again.json["ended_at"] == ended.json["ended_at"]
    assert ops(again)["writes"] == 0
    refused = api.post(f"{SESSIONS}/{session['id']}/messages", {"content": "still there?"}, token=token)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "conflict"
    assert messages_of(session["id"]) == []
    listed = api.get(SESSIONS, token=token).json["items"]
    assert listed[0]["status"] == "ended"


def test_messages_are_listed_oldest_first_and_paged(api: Any, student: dict[str, Any]) -> None:
    token = student["access_token"]
    session = open_session(api, token)
    sent = [api.post(f"{SESSIONS}/{session['id']}/messages", {"content": f"m{i}"}, token=token).json for i in range(3)]
    first = api.get(f"{SESSIONS}/{session['id']}/messages?limit=2", token=token)
    assert first.status_code == 200
    assert [m["content"] for m in first.json["items"]] == ["m0", "m1"]
    assert ops(first) == {"reads": 1 + 1 + 3, "writes": 0, "deletes": 0}
    second = api.get(f"{SESSIONS}/{session['id']}/messages?limit=2&cursor={first.json['next_cursor']}", token=token)
    assert [m["id"] for m in second.json["items"]] == [sent[2]["id"]] and second.json["next_cursor"] is None
    assert api.get(f"{SESSIONS}/{session['id']}/messages?cursor=garbage", token=token).status_code == 404


def test_messages_per_minute_are_limited_with_retry_after(
    api: Any, student: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings(), "tutor_messages_per_minute", 2)
    token = student["access_token"]
    session = open_session(api, token)
    url = f"{SESSIONS}/{session['id']}/messages"
    assert [api.post(url, {"content": f"q{i}"}, token=token).status_code for i in range(2)] == [202, 202]
    limited = api.post(url, {"content": "one too many"}, token=token)
    assert limited.status_code == 429 and limited.json["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert [m["content"] for m in messages_of(session["id"])] == ["q0", "q1"]


def test_messages_per_day_are_limited(api: Any, student: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings(), "tutor_messages_per_day", 1)
    token = student["access_token"]
    session = open_session(api, token)
    url = f"{SESSIONS}/{session['id']}/messages"
    assert api.post(url, {"content": "first"}, token=token).status_code == 202
    limited = api.post(url, {"content": "second"}, token=token)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert len(messages_of(session["id"])) == 1
