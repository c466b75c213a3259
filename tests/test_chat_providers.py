"""The model adapters against a local server that speaks each provider's HTTP API (no network
reaches the real ones): grounding sent, limits applied, spend counted, and the content-only
answer on any failure."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from functions.chat import providers
from functions.chat.retrieval import CONTENT
from shared import store
from shared.config import settings
from tests import test_chat_tutor as tutor_tests
from tests.chat_support import earn, replies_of
from tests.test_chat_tutor import ask, reply_to, start_exam

# The tutor tests' fixtures: an admin, a student, a small course.
admin, student, content = tutor_tests.admin, tutor_tests.student, tutor_tests.content

LOCAL_MARK = "Sources: [1]"  # the content answer's last part


@pytest.fixture(autouse=True)
def earned(student: dict[str, Any], content: dict[str, str]) -> None:
    """The student has answered the hashing question in practice: the tutor may explain it."""
    earn(student["user"]["id"], [content["hashing"]])


class FakeModel:
    """Answers Vertex AI `:generateContent` and OpenAI `/chat/completions` requests."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.text = "Hashing gives a digest; compare digests to check integrity [1]."
        self.status = 200
        self.delay = 0.0
        # When set, the answer is written from the prompt the model was given.
        self.respond: Callable[[str], str] | None = None
        model = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                model.requests.append((self.path, body, {k.lower(): v for k, v in self.headers.items()}))
                time.sleep(model.delay)
                openai_call = self.path.endswith("/chat/completions")
                prompt = body["messages"][-1]["content"] if openai_call else body["contents"][0]["parts"][0]["text"]
                text = model.respond(prompt) if model.respond else model.text
                if model.status != 200:
                    payload: dict[str, Any] = {"error": {"code": model.status, "message": "boom", "status": "INTERNAL"}}
                elif openai_call:
                    payload = {
                        "id": "c1",
                        "object": "chat.completion",
                        "created": 1,
                        "model": body.get("model"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": text},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
                    }
                else:
                    payload = {
                        "candidates": [
                            {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}
                        ],
                        "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20, "totalTokenCount": 120},
                    }
                data = json.dumps(payload).encode()
                try:
                    self.send_response(model.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_model() -> Iterator[FakeModel]:
    model = FakeModel()
    yield model
    model.close()


@pytest.fixture(params=["gemini", "openai"])
def provider(request: pytest.FixtureRequest, fake_model: FakeModel, monkeypatch: pytest.MonkeyPatch) -> str:
    cfg = settings()
    monkeypatch.setattr(cfg, "tutor_provider", request.param)
    monkeypatch.setattr(cfg, "tutor_api_key", "test-key")
    monkeypatch.setattr(cfg, "tutor_base_url", fake_model.url + ("/v1" if request.param == "openai" else ""))
    monkeypatch.setattr(cfg, "tutor_timeout_seconds", 0.5)
    monkeypatch.setattr(cfg, "tutor_max_output_tokens", 321)
    monkeypatch.setattr(cfg, "tutor_index_refresh_seconds", 0)
    CONTENT.forget()
    return str(request.param)


def _spent_today() -> dict[str, Any]:
    return store.db().collection(providers.USAGE).document(store.now().strftime("%Y-%m-%d")).get().to_dict() or {}


def test_the_model_writes_the_reply_from_the_retrieved_passages(
    api: Any, drain: Any, student: dict[str, Any], content: Any, provider: str, fake_model: FakeModel
) -> None:
    token = student["access_token"]
    session_id, message = ask(api, token, "How do I verify the integrity of a downloaded file?")
    drain()
    reply = reply_to(api, token, session_id, message["id"])
    assert reply["content"] == fake_model.text
    assert reply["sources"][0] == {"kind": "question", "id": content["hashing"], "title": reply["sources"][0]["title"]}
    assert replies_of(session_id)[0]["generated_by"] == provider

    ((path, body, headers),) = fake_model.requests
    if provider == "gemini":
        assert path.endswith("/publishers/google/models/gemini-2.5-flash:generateContent")
        assert headers.get("x-goog-api-key") == "test-key"
        assert body["generationConfig"]["maxOutputTokens"] == 321
        system = body["systemInstruction"]["parts"][0]["text"]
        prompt = body["contents"][0]["parts"][0]["text"]
    else:
        assert path == "/v1/chat/completions" and headers.get("authorization") == "Bearer test-key"
        assert body["max_tokens"] == 321 and body["model"] == "gpt-4o-mini"
        system, prompt = body["messages"][0]["content"], body["messages"][1]["content"]
    assert "only the numbered course passages" in system
    assert "comparing digests proves the file was not altered" in prompt
    assert "Student: How do I verify the integrity of a downloaded file?" in prompt
    assert _spent_today()["tokens"] == 120 and _spent_today()["calls"] == 1


def test_a_failing_model_falls_back_to_the_content_answer(
    api: Any, drain: Any, student: dict[str, Any], content: Any, provider: str, fake_model: FakeModel
) -> None:
    fake_model.status = 500
    token = student["access_token"]
    session_id, message = ask(api, token, "How do I verify the integrity of a downloaded file?")
    drain()
    reply = reply_to(api, token, session_id, message["id"])
    assert LOCAL_MARK in reply["content"] and reply["sources"][0]["id"] == content["hashing"]
    assert len(fake_model.requests) == providers.MODEL_ATTEMPTS  # one retry, then the content answer
    assert _spent_today() == {}


def test_a_slow_model_is_cut_off_at_the_time_limit(
    api: Any, drain: Any, student: dict[str, Any], content: Any, provider: str, fake_model: FakeModel
) -> None:
    fake_model.delay = 3.0  # past the 0.5 s of each attempt, and of its one retry
    token = student["access_token"]
    session_id, message = ask(api, token, "How do I verify the integrity of a downloaded file?")
    started = time.monotonic()
    drain()
    assert time.monotonic() - started < 3.0
    assert LOCAL_MARK in reply_to(api, token, session_id, message["id"])["content"]


def test_a_spent_daily_budget_keeps_the_model_out(
    api: Any,
    drain: Any,
    student: dict[str, Any],
    content: Any,
    provider: str,
    fake_model: FakeModel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings(), "tutor_daily_token_budget", 100)
    token = student["access_token"]
    session_id, first = ask(api, token, "How do I verify the integrity of a downloaded file?")
    drain()
    assert reply_to(api, token, session_id, first["id"])["content"] == fake_model.text  # 120 tokens spent
    _, second = ask(api, token, "How do I verify the integrity of a downloaded file?", session_id=session_id)
    drain()
    assert LOCAL_MARK in reply_to(api, token, session_id, second["id"])["content"]
    assert len(fake_model.requests) == 1


def test_during_an_exam_a_model_that_names_an_option_is_overruled(
    api: Any, drain: Any, student: dict[str, Any], content: Any, provider: str, fake_model: FakeModel
) -> None:
    fake_model.text = "The correct answer is B, hashing."
    token = student["access_token"]
    start_exam(api, token, 2)
    session_id, message = ask(api, token, "How does DNS resolve names? Which option is correct?")
    drain()
    reply = reply_to(api, token, session_id, message["id"])
    assert "correct answer is B" not in reply["content"] and "exam in progress" in reply["content"]
    assert all(s["kind"] != "question" for s in reply["sources"])
    ((_, body, _),) = fake_model.requests
    assert "taking an exam right now" in json.dumps(body)
