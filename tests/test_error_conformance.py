"""Outside production an error status a route neither implies (its access, path, body, query,
rate limit) nor declares (`errors=(409, ...)`) is a 500 with a log naming the route and the status,
never an answer docs/openapi.json does not list for the operation (shared/http.py, `_holds`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.auth.handlers.me import me_route
from shared.config import settings
from shared.errors import Conflict, Contention, ServiceUnavailable
from shared.http import SIGNED_IN, all_methods
from shared.registry import load_all

ROOT = Path(__file__).resolve().parent.parent
UNDECLARED = "error status not declared by its route"


class Recorder(logging.Handler):
    """Keeps every record it is given."""

    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    kept: list[logging.LogRecord] = []
    handler = Recorder(kept)
    logging.getLogger("studyhall.http").addHandler(handler)
    try:
        yield kept
    finally:
        logging.getLogger("studyhall.http").removeHandler(handler)


def _problems(records: list[logging.LogRecord]) -> list[str]:
    return [vars(r)["fields"]["problem"] for r in records if r.getMessage() == UNDECLARED]


def test_an_undeclared_conflict_fails_loudly(api: Any, mocker: Any, records: list[logging.LogRecord]) -> None:
    token = api.register("undeclared@example.com")["access_token"]
    mocker.patch("functions.auth.handlers.me.account_of", side_effect=Conflict("a secret reason"))
    response = api.get("/api/v1/auth/me", token=token)
    assert response.status_code == 500
    assert response.json["error"]["code"] == "internal"
    assert "a secret reason" not in response.get_data(as_text=True)
    [problem] = _problems(records)
    assert problem.startswith("GET /api/v1/auth/me answers 409 (conflict)")
    assert "a secret reason" not in problem


def test_a_declared_status_is_answered_as_is(api: Any, mocker: Any, records: list[logging.LogRecord]) -> None:
    token = api.register("declared@example.com")["access_token"]
    mocker.patch("functions.exams.sessions.submit", side_effect=Conflict("The session is submitted already."))
    response = api.post("/api/v1/exam-sessions/s1/submit", token=token)
    assert response.status_code == 409
    assert response.json["error"] == {
        "code": "conflict",
        "message": "The session is submitted already.",
        "details": [],
    }
    assert _problems(records) == []


def test_implied_statuses_outages_and_lost_races_need_no_declaration(
    api: Any, mocker: Any, records: list[logging.LogRecord]
) -> None:
    token = api.register("implied@example.com")["access_token"]
    assert api.get("/api/v1/auth/me").status_code == 401  # implied: it needs a caller
    assert api.delete("/api/v1/auth/me", token=token).status_code == 405
    account = mocker.patch("functions.auth.handlers.me.account_of", side_effect=ServiceUnavailable())
    assert api.get("/api/v1/auth/me", token=token).status_code == 503
    account.side_effect = Contention(headers={"Retry-After": "1"})  # a write that lost its race: 409
    raced = api.get("/api/v1/auth/me", token=token)
    assert raced.status_code == 409 and raced.headers["Retry-After"] == "1"
    assert _problems(records) == []


def test_production_answers_the_status_without_the_check(
    api: Any, mocker: Any, records: list[logging.LogRecord]
) -> None:
    token = api.register("production@example.com")["access_token"]
    mocker.patch("shared.http.settings", return_value=settings().model_copy(update={"env": "production"}))
    mocker.patch("functions.auth.handlers.me.account_of", side_effect=Conflict())
    assert api.get("/api/v1/auth/me", token=token).status_code == 409
    assert _problems(records) == []


def test_a_declaration_takes_error_statuses_only() -> None:
    for wrong in ((200,), (405,), (302,)):
        with pytest.raises(ValueError, match="errors of PUT"):
            me_route.put(SIGNED_IN, errors=wrong)(lambda call: None)
    assert "PUT" not in me_route.methods


def test_the_document_lists_each_operations_declared_statuses() -> None:
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    paths = document["paths"]
    submit = paths["/api/v1/exam-sessions/{session_id}/submit"]["post"]["responses"]
    assert submit["409"] == {"$ref": "#/components/responses/Error409"}
    avatar = paths["/api/v1/users/{id}/avatar"]["put"]["responses"]
    assert {"409", "413", "415", "422"} <= set(avatar)
    responses = document["components"]["responses"]
    assert responses["Error415"]["description"] == "Unsupported media type"
    assert responses["Error409"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    # Every declared status of every route is in its operation, with its component.
    http = [s for s in load_all().values() if s.kind == "http"]
    for spec, method in all_methods(http):
        operation = paths[spec.path][method.verb.lower()]["responses"]
        for status in method.errors:
            assert operation[str(status)] == {"$ref": f"#/components/responses/Error{status}"}
            assert f"Error{status}" in responses
