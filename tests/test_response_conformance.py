"""Outside production an answer that is not its route's declared model is a 500 with a log that
names the route, never a body the OpenAPI document does not describe (shared/conformance.py)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from shared import conformance
from shared.accounts import UserOut
from shared.validation import Out, Page


class Other(Out):
    message: str


class Recorder(logging.Handler):
    """Keeps every record it is given."""

    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_handler_answering_another_model_fails_loudly(api: Any, mocker: Any) -> None:
    token = api.register("shape@example.com")["access_token"]
    assert api.get("/api/v1/auth/me", token=token).status_code == 200
    mocker.patch("functions.auth.handlers.me.account_of", return_value=Other(message="not a user"))
    records: list[logging.LogRecord] = []
    handler = Recorder(records)
    logging.getLogger("studyhall.http").addHandler(handler)
    try:
        response = api.get("/api/v1/auth/me", token=token)
    finally:
        logging.getLogger("studyhall.http").removeHandler(handler)
    assert response.status_code == 500
    assert response.json["error"]["code"] == "internal"
    assert "not a user" not in response.get_data(as_text=True)
    [mismatch] = [r for r in records if r.getMessage() == "response does not match its declared model"]
    problem = vars(mismatch)["fields"]["problem"]  # set through the log call's `extra`
    assert problem.startswith("GET /api/v1/auth/me answers a body that does not match")
    assert "email: missing" in problem and "not a user" not in problem  # the values stay out of the log


USER = {
    "id": "u1",
    "email": "a@example.com",
    "first_name": "A",
    "last_name": "B",
    "role": "student",
    "status": "active",
    "created_at": "2026-01-01T00:00:00Z",
}


def test_an_undeclared_or_missing_field_is_a_mismatch() -> None:
    conformance.check("GET /u", UserOut, USER, paged=False)
    with pytest.raises(conformance.ResponseMismatch, match="password_hash"):
        conformance.check("GET /u", UserOut, {**USER, "password_hash": "x"}, paged=False)
    with pytest.raises(conformance.ResponseMismatch, match="email: missing"):
        conformance.check("GET /u", UserOut, {k: v for k, v in USER.items() if k != "email"}, paged=False)


def test_a_page_is_checked_item_by_item() -> None:
    conformance.check("GET /us", UserOut, {"items": [USER], "next_cursor": None}, paged=True)
    conformance.check("GET /us", Page[UserOut], {"items": [USER], "next_cursor": "c"}, paged=False)
    with pytest.raises(conformance.ResponseMismatch, match=r"items\.0\.secret"):
        conformance.check("GET /us", UserOut, {"items": [{**USER, "secret": 1}], "next_cursor": None}, paged=True)
