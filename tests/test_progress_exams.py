"""The exams area and the progress pipeline together: real sessions through the API, their
events drained to the progress functions, the dashboard read back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support import Api
from tests.test_imports import csv_bytes, fire, row, upload

SEC = "security-plus"


@pytest.fixture
def sec_bank(api: Any, stack: Any) -> None:
    """Twelve security-plus questions (domains 1.1 x6, 2.1 x4, 3.1 x2); the answer is A."""
    admin = str(api.admin()["access_token"])
    domains = ["1.1"] * 6 + ["2.1"] * 4 + ["3.1"] * 2
    accepted = upload(api, admin, SEC, csv_bytes([row(f"S{i:02}", d, "A") for i, d in enumerate(domains)]))
    assert accepted.status_code == 202
    fire(stack)


def _session(api: Any, token: str, mode: str, count: int) -> tuple[str, list[str]]:
    started = api.post("/api/v1/exam-sessions", {"exam_type": SEC, "question_count": count, "mode": mode}, token=token)
    assert started.status_code == 201, started.json
    return f"/api/v1/exam-sessions/{started.json['id']}", [q["id"] for q in started.json["questions"]]


def test_practice_and_exam_sessions_feed_progress(api: Api, drain: Callable[..., int], sec_bank: None) -> None:
    user = api.register("learner@example.com")
    token, user_id = user["access_token"], user["user"]["id"]

    url, ids = _session(api, token, "practice", 3)
    for qid, letter in zip(ids, "AAD", strict=True):
        assert api.post(f"{url}/answers", {"question_id": qid, "answer": letter}, token=token).status_code == 200
    assert api.post(f"{url}/submit", token=token).json["score"] == 67

    url, ids = _session(api, token, "exam", 4)
    api.post(f"{url}/answers", {"question_id": ids[0], "answer": "A"}, token=token)
    api.post(f"{url}/answers", {"question_id": ids[1], "answer": "B"}, token=token)
    assert api.post(f"{url}/submit", token=token).json["score"] == 25
    drain()
    drain()  # again: nothing left, nothing changes

    body = api.get(f"/api/v1/students/{user_id}/progress", token=token).json
    assert body["exams_completed"] == 2
    # Practice: 3 answers as they happened. Exam mode: the 4 questions of the submitted exam
    # (the 2 left blank count as wrong), counted once from exam.completed.
    assert body["questions_answered"] == 3 + 4
    assert body["questions_correct"] == 2 + 1
    assert body["xp"] == (2 * 10 + 2) + (50 + 33) + (1 * 10 + 3 * 2) + (50 + 12)
    assert body["current_streak"] == 1 and body["longest_streak"] == 1
    assert sum(d["answered"] for d in body["domains"]) == 7
    assert [b["id"] for b in body["badges"]] == ["first-exam"]
