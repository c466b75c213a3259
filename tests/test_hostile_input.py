"""Hostile input on every route: never a 500, never a stack trace, nothing written."""

from __future__ import annotations

import pytest

from shared import store
from shared.registry import load_all
from tests.support import Api

ROUTES = [(s.path, verb) for s in load_all().values() if s.kind == "http" for verb in s.spec.methods]
PARAM_ROUTES = [(path, verb) for path, verb in ROUTES if path is not None and "{" in path]
BODY_ROUTES = [
    (s.path, verb)
    for s in load_all().values()
    if s.kind == "http"
    for verb, method in s.spec.methods.items()
    if method.body is not None or method.raw_body
]


def _fill(path: str, value: str) -> str:
    return "/".join(value if seg.startswith("{") else seg for seg in path.split("/"))


def _collections() -> list[str]:
    return sorted(c.id for c in store.db().collections())


@pytest.mark.parametrize("reserved", ["__x__", "..", "."])
def test_reserved_document_ids_in_the_path_are_not_found(api: Api, reserved: str) -> None:
    admin = api.admin()["access_token"]
    before = _collections()
    for path, verb in PARAM_ROUTES:
        response = api.call(verb, _fill(path, reserved), token=admin, json_body={} if verb != "GET" else None)
        assert response.status_code < 500, (verb, path, response.status_code, response.get_data(as_text=True))
        assert "Traceback" not in response.get_data(as_text=True)
    assert _collections() == before


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100_000 + b"]" * 100_000, b'{"email": ' + b"9" * 5000 + b"}", b"\xff\xfe{}", b"null", b"[]"],
    ids=["nested", "huge-integer", "bad-utf8", "null", "array"],
)
def test_bodies_that_are_not_objects_are_refused(api: Api, raw: bytes) -> None:
    admin = api.admin()["access_token"]
    before = _collections()
    for path, verb in BODY_ROUTES:
        response = api.call(verb, _fill(path or "", "x1"), token=admin, data=raw, content_type="application/json")
        assert response.status_code in (400, 403, 404, 405, 413, 415, 422), (verb, path, response.status_code)
        assert response.json["error"]["code"]
    assert _collections() == before


@pytest.mark.parametrize(
    "path",
    [
        "/" + "a" * 4096,
        "/" + "a" * 300,  # one segment past the file system's 255-byte name limit
        "/docs/" + "b" * 5000,
        "/api/v1/classes/" + "c" * 4096,
        "/" + "/".join(["d" * 200] * 30),
    ],
    ids=["root-4096", "segment-300", "under-docs", "route-parameter", "deep"],
)
@pytest.mark.parametrize("verb", ["GET", "HEAD", "POST"])
def test_any_long_path_gets_the_contracts_json_error(api: Api, path: str, verb: str) -> None:
    response = api.call(verb, path)
    assert response.status_code == 404, (verb, path[:40], response.status_code)
    assert response.headers["Content-Type"].startswith("application/json")
    if verb != "HEAD":
        assert response.json["error"]["code"] == "not_found"
