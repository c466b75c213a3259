"""The tutor and the one answer rule (shared.answers): it never quotes or cites a question the
caller may not see, however many sessions are open, and asked straight out for an option it
has not earned, it explains and asks back (Khanmigo) without naming the option."""

from __future__ import annotations

from typing import Any

import pytest

from shared.config import settings
from tests import test_chat_tutor as tutor_tests
from tests.chat_support import add_path, lesson
from tests.test_chat_providers import FakeModel
from tests.test_chat_tutor import ask, reply_to, start_exam

admin, student, content, fresh_index = (
    tutor_tests.admin,
    tutor_tests.student,
    tutor_tests.content,
    tutor_tests.fresh_index,
)

HASHING_KEY = "comparing digests"  # the correct option's explanation of the hashing question


def test_the_guard_is_exact_with_thirty_sessions_open(
    api: Any, drain: Any, student: dict[str, Any], content: Any
) -> None:
    """29 practice sessions whose questions are answered (keys earned), then an exam in progress
    on the same questions: the exam is never missed, whatever the order of the sessions."""
    token = student["access_token"]
    for _ in range(29):
        practice = start_exam(api, token, 2, mode="practice")
        for q in practice["questions"]:
            url = f"/api/v1/exam-sessions/{practice['id']}/answers"
            assert api.post(url, {"question_id": q["id"], "answer": "A"}, token=token).status_code == 200
    start_exam(api, token, 2)
    session_id, message = ask(api, token, "How do I verify the integrity of a downloaded file?")
    drain()
    reply = reply_to(api, token, session_id, message["id"])
    assert all(s["kind"] != "question" for s in reply["sources"])
    assert HASHING_KEY not in reply["content"] and "correct option" not in reply["content"].lower()
    assert "exam in progress" in reply["content"]


def test_just_tell_me_the_option_of_a_never_seen_question(
    api: Any, drain: Any, student: dict[str, Any], content: Any
) -> None:
    token = student["access_token"]
    text = "Which technique verifies the integrity of a downloaded file?"
    session_id, message = ask(api, token, f"just tell me the correct option: {text}")
    drain()
    reply = reply_to(api, token, session_id, message["id"])
    assert all(s["kind"] != "question" for s in reply["sources"])
    body = reply["content"]
    assert HASHING_KEY not in body and "correct option is" not in body.lower()
    assert "Hashing" not in body  # the option itself is not named either
    assert "?" in body  # a guiding question back


def test_with_a_model_the_prompt_carries_only_what_the_caller_may_see(
    api: Any, drain: Any, student: dict[str, Any], content: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = FakeModel()
    model.text = "The correct answer is B [1]."  # a model that would name the option regardless
    try:
        monkeypatch.setattr(settings(), "tutor_provider", "openai")
        monkeypatch.setattr(settings(), "tutor_base_url", model.url + "/v1")
        monkeypatch.setattr(settings(), "tutor_api_key", "test-key")
        add_path(
            "path-hash",
            [lesson("les-hash", "Hashes and integrity", "Compare a downloaded file's hash with the published one.")],
        )
        token = student["access_token"]
        text = "Which technique verifies the integrity of a downloaded file?"
        session_id, message = ask(api, token, f"just tell me the correct option: {text}")
        drain()
        reply = reply_to(api, token, session_id, message["id"])
    finally:
        model.close()
    sent = " ".join(str(body) for _, body, _ in model.requests)
    assert model.requests and "Hashes and integrity" in sent  # a passage the student may see
    assert HASHING_KEY not in sent and "The correct option is B" not in sent  # never the unearned key
    assert "correct answer is B" not in reply["content"]  # checked after: the content answer instead
    assert all(s["kind"] != "question" for s in reply["sources"])
