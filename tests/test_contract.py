"""The rules behind an exact document, one by one (docs/api-contract.md): each input rule the API
enforces is stated in docs/openapi.json, and the API answers as the document says. The fuzz of
every operation is tests/test_openapi_conformance.py; these pin the cases issue 23 names."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from functions.exams import csvrows
from infra.openapi import openapi_document
from shared import store
from shared.errors import ValidationFailed
from shared.registry import API_GROUPS, load_all
from shared.validation import NOT_BLANK, NoQuery, validate
from tests.support import Api
from tests.test_classes import admin, new_class, person
from tests.test_exercises import ADD

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT: dict[str, Any] = json.loads((ROOT / "docs" / "openapi.json").read_text())
SCHEMAS = DOCUMENT["components"]["schemas"]


def stored(collection: str) -> int:
    return len(list(store.db().collection(collection).stream()))


def test_an_integer_is_no_boolean_and_a_string_no_number(api: Api) -> None:
    teacher = person(api, "t@example.com", "teacher")
    hidden_zero = {**ADD, "tests": [{**ADD["tests"][0], "hidden": 0}]}
    response = api.post("/api/v1/exercises", hidden_zero, token=teacher.token)
    assert response.status_code == 422 and response.json["error"]["details"][0]["field"] == "tests.0.hidden"
    assert api.post("/api/v1/exercises", {**ADD, "time_limit_ms": "1000"}, token=teacher.token).status_code == 422
    assert stored("exercises") == 0
    # A JSON number is one kind: 1000.0 is the integer 1000, as JSON Schema counts it.
    created = api.post("/api/v1/exercises", {**ADD, "time_limit_ms": 1000.0}, token=teacher.token)
    assert created.status_code == 201 and created.json["time_limit_ms"] == 1000


def test_a_field_that_may_be_left_out_is_not_null(api: Api) -> None:
    teacher = person(api, "t@example.com", "teacher")
    klass = new_class(api, teacher)
    response = api.patch(f"/api/v1/classes/{klass['id']}", {"name": None}, token=teacher.token)
    assert response.status_code == 422
    assert response.json["error"]["details"] == [{"field": "name", "message": "May be left out, but not null."}]
    assert api.patch(f"/api/v1/classes/{klass['id']}", {}, token=teacher.token).status_code == 422  # minProperties
    assert api.get(f"/api/v1/classes/{klass['id']}", token=teacher.token).json["name"] == klass["name"]
    name = SCHEMAS["ClassPatch"]["properties"]["name"]
    assert "anyOf" not in name and name["type"] == "string" and "default" not in name
    assert SCHEMAS["ClassPatch"]["minProperties"] == 1
    # null that means something stays nullable: no grade, no bio.
    assert {"type": "null"} in SCHEMAS["UserPatchIn"]["properties"]["bio"]["anyOf"]


def test_unique_lists_and_closed_sets_are_stated_and_enforced(api: Api) -> None:
    student = person(api, "s@example.com")
    path = f"/api/v1/students/{student.id}/interests"
    twice = api.put(path, {"interest_ids": ["programming", "programming"]}, token=student.token)
    assert twice.status_code == 422
    assert api.put(path, {"interest_ids": ["knitting"]}, token=student.token).status_code == 422
    assert api.get(path, token=student.token).json["interest_ids"] == []
    items = SCHEMAS["InterestsIn"]["properties"]["interest_ids"]
    assert items["uniqueItems"] is True and "programming" in items["items"]["enum"]
    zones = SCHEMAS["RegisterIn"]["properties"]["timezone"]["enum"]
    assert "Europe/Paris" in zones and "localtime" not in zones
    response = api.post(
        "/api/v1/auth/register",
        {
            "email": "z@example.com",
            "password": "correct horse",
            "first_name": "Z",
            "last_name": "Z",
            "timezone": "Mars/Base",
        },
    )
    assert response.status_code == 422 and response.json["error"]["details"][0]["field"] == "timezone"
    assert SCHEMAS["functions__exams__models__SessionIn"]["properties"]["domains"]["anyOf"][0]["uniqueItems"] is True


def test_a_reference_to_nothing_is_404_as_the_document_says(api: Api) -> None:
    student = person(api, "s@example.com")
    answer = api.post(
        "/api/v1/submissions", {"exercise_id": "no-such", "code": "print(1)", "language": "python"}, token=student.token
    )
    assert answer.status_code == 404 and answer.json["error"]["details"][0]["field"] == "exercise_id"
    assert stored("submissions") == 0
    no_bank = api.post("/api/v1/exam-sessions", {"exam_type": "nothing-here", "question_count": 5}, token=student.token)
    assert no_bank.status_code == 404
    assert api.post("/api/v1/auth/verify-email", {"token": "x" * 40}).status_code == 404
    for path, verb in (("/api/v1/submissions", "post"), ("/api/v1/exam-sessions", "post"), ("/api/v1/paths", "post")):
        assert "404" in DOCUMENT["paths"][path][verb]["responses"], path
    # A cursor: its form is stated (422 otherwise); one of that form that no list issued names no page.
    pattern = next(p for p in DOCUMENT["paths"]["/api/v1/exercises"]["get"]["parameters"] if p["name"] == "cursor")
    assert pattern["schema"]["pattern"] == "^[A-Za-z0-9_-]{1,1000}$"
    assert api.get("/api/v1/exercises?cursor=000", token=student.token).status_code == 404
    assert api.get("/api/v1/exercises?cursor=0/0", token=student.token).status_code == 422


def test_a_query_parameter_no_route_declares_is_refused() -> None:
    assert validate(NoQuery, {}, what="query") == NoQuery()
    with pytest.raises(ValidationFailed) as refused:
        validate(NoQuery, {"colour": "red"}, what="query")
    assert refused.value.details == [{"field": "colour", "message": "Unknown field."}]


def test_an_unknown_query_parameter_is_422_on_a_route_without_a_query(api: Api) -> None:
    boss = admin(api)
    assert api.get("/api/v1/interests?colour=red", token=boss.token).status_code == 422
    assert api.get("/api/v1/interests", token=boss.token).status_code == 200


def test_blank_and_oversized_strings_are_stated() -> None:
    name = SCHEMAS["ClassIn"]["properties"]["name"]
    assert name["pattern"] == NOT_BLANK and name["minLength"] == 1  # stripped, then measured
    # No field limit of its own: the cap every payload string has (shared.validation.Payload).
    assert SCHEMAS["ExerciseIn"]["properties"]["starter_code"]["maxLength"] == 64 * 1024
    password = SCHEMAS["RegisterIn"]["properties"]["password"]
    assert password["minLength"] == 8 and "not" in password and "common password" in password["description"]


def test_swagger_groups_follow_a_readers_order_with_a_line_each() -> None:
    tags = [t["name"] for t in DOCUMENT["tags"]]
    expected = ["auth", "users", "schools", "classes", "exams", "exercises", "paths", "chat", "progress", "analytics"]
    assert tags == [*expected, "ops"]
    assert all(t["description"] for t in DOCUMENT["tags"])
    used = [op["tags"][0] for methods in DOCUMENT["paths"].values() for op in methods.values()]
    assert used == sorted(used, key=tags.index)  # operations listed group by group
    # Every area with routes has its group (a new area joins one in shared.registry.API_GROUPS).
    grouped = {area for group in API_GROUPS for area in group.areas}
    assert {s.area for s in load_all().values() if s.kind == "http"} <= grouped
    assert openapi_document(load_all())["tags"] == DOCUMENT["tags"]


def test_an_upload_form_holds_its_file_and_nothing_else(api: Api) -> None:
    boss = admin(api)
    header = ",".join(csvrows.COLUMNS) + "\n"
    extra = api.call(
        "POST",
        "/api/v1/imports?exam_type=security-plus",
        token=boss.token,
        data={"file": (io.BytesIO(header.encode()), "q.csv"), "note": "hi"},
        content_type="multipart/form-data",
    )
    assert extra.status_code == 422
    assert extra.json["error"]["details"] == [{"field": "note", "message": "Unknown field."}]
    assert stored("question_imports") == 0
    # The file's text as a plain part (a client sending the document's string field): taken.
    plain = api.call(
        "POST",
        "/api/v1/imports?exam_type=security-plus",
        token=boss.token,
        data={"file": header},
        content_type="multipart/form-data",
    )
    assert plain.status_code == 202, plain.json
    body = DOCUMENT["paths"]["/api/v1/imports"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"]["properties"]["file"]["pattern"] == csvrows.HEADER_PATTERN
    assert body["multipart/form-data"]["schema"]["additionalProperties"] is False
