"""Bad input on the auth routes: the JSON errors of API.md, never a 500, nothing written."""

from __future__ import annotations

import time
from typing import Any, cast

import jwt
import pytest
from werkzeug.test import TestResponse

from shared import store
from shared.auth import AUDIENCE
from shared.config import settings
from tests.support import PASSWORD, Api

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"
GOOD = {"email": "new@example.com", "password": PASSWORD, "first_name": "N", "last_name": "W"}


def snapshot() -> dict[str, int]:
    """How many documents each collection holds."""
    return {c.id: len(list(c.stream())) for c in store.db().collections()}


def assert_error(response: TestResponse, status: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and isinstance(body["error"]["details"], list)
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.fixture
def signed_in(api: Api) -> dict[str, Any]:
    tokens = api.register("owner@example.com")
    return tokens


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "bad_request"),
        ("", "application/json", 400, "bad_request"),
        ('{"email": "x@example.com"', "application/json", 400, "bad_request"),
        (b"\xff\xfe\x00garbage", "application/json", 400, "bad_request"),
        ('{"email": "a@example.com", "password": "x"}', "text/plain", 400, "bad_request"),
        ("email=a@example.com", "application/x-www-form-urlencoded", 400, "bad_request"),
        ("[1, 2, 3]", "application/json", 422, "validation_error"),
        ('"a string"', "application/json", 422, "validation_error"),
        ("null", "application/json", 422, "validation_error"),
    ],
)
def test_malformed_bodies_write_nothing(api: Api, data: str | bytes, content_type: str, status: int, code: str) -> None:
    before = snapshot()
    response = api.client.post(REGISTER, data=data, content_type=content_type)
    assert_error(response, status, code)
    assert snapshot() == before


def test_missing_unknown_and_mistyped_fields(api: Api) -> None:
    missing = api.post(REGISTER, {"email": "a@example.com"})
    assert_error(missing, 422, "validation_error")
    assert {d["field"] for d in missing.json["error"]["details"]} == {"password", "first_name", "last_name"}
    unknown = api.post(REGISTER, {**GOOD, "is_admin": True})
    assert_error(unknown, 422, "validation_error")
    assert unknown.json["error"]["details"] == [{"field": "is_admin", "message": "Unknown field."}]
    mistyped = api.post(REGISTER, {**GOOD, "grade_level": "ten", "first_name": 5})
    assert_error(mistyped, 422, "validation_error")
    assert api.post(REGISTER, {**GOOD, "email": "not-an-email"}).status_code == 422
    assert api.post(REGISTER, {**GOOD, "first_name": "x" * 101}).status_code == 422
    assert api.post(REGISTER, {**GOOD, "role": "superuser"}).status_code == 422
    assert api.post(LOGIN, {"email": "", "password": ""}).status_code == 422
    assert snapshot() == {}


def test_validation_errors_never_echo_a_password(api: Api) -> None:
    response = api.post(REGISTER, {**GOOD, "password": "hunter2-but-short"[:7]})
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and "hunter2" not in text


def test_oversize_bodies_answer_413(api: Api) -> None:
    limit = settings().max_body_bytes
    padding = "x" * (limit + 10)
    response = api.client.post(REGISTER, data='{"email": "' + padding + '"}', content_type="application/json")
    assert_error(response, 413, "payload_too_large")
    assert snapshot() == {}


def test_unknown_route_and_wrong_method(api: Api) -> None:
    assert_error(api.get("/api/v1/auth/nothing-here"), 404, "not_found")
    assert_error(api.get("/api/v1/nowhere/at/all"), 404, "not_found")
    wrong = api.get(LOGIN)
    assert_error(wrong, 405, "method_not_allowed")
    assert "POST" in wrong.headers["Allow"]
    assert_error(api.delete(REGISTER), 405, "method_not_allowed")
    assert_error(api.put("/api/v1/auth/me", {}), 405, "method_not_allowed")


def _token(key: str, kid: str, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": settings().jwt_issuer,
        "aud": AUDIENCE,
        "sub": "someone",
        "sid": "some-session",
        "role": "admin",
        "iat": now,
        "exp": now + 600,
        **overrides,
    }
    return jwt.encode(claims, key, algorithm="HS256", headers={"kid": kid})


def test_forged_tampered_expired_and_wrong_kid_tokens(api: Api, signed_in: dict[str, Any]) -> None:
    kid, key = next(iter(settings().signing_keys.items()))
    claims = jwt.decode(signed_in["access_token"], key, algorithms=["HS256"], audience=AUDIENCE)
    header, payload, signature = signed_in["access_token"].split(".")
    tampered_payload = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b'"student"', b'"admin"')
    ).decode()
    bad_tokens = {
        "forged with another key": _token(
            "not-the-signing-key-at-all-0123456789", kid, sub=claims["sub"], sid=claims["sid"]
        ),
        "tampered payload": f"{header}.{tampered_payload}.{signature}",
        "expired": _token(key, kid, sub=claims["sub"], sid=claims["sid"], iat=1, exp=2),
        "unknown kid": _token(key, "kid-that-does-not-exist", sub=claims["sub"], sid=claims["sid"]),
        "no kid": jwt.encode({**claims}, key, algorithm="HS256"),
        "wrong audience": _token(key, kid, sub=claims["sub"], sid=claims["sid"], aud="someone-else"),
        "alg none": # PyJWT annotates the key as never None, yet its "none" algorithm takes exactly None.
        jwt.encode({**claims}, cast(str, None), algorithm="none", headers={"kid": kid}),
        "unknown session": _token(key, kid, sub=claims["sub"], sid="no-such-session"),
        "someone else's session": _token(key, kid, sub="another-user", sid=claims["sid"]),
        "garbage": "abc.def.ghi",
    }
    before = snapshot()
    for name, token in bad_tokens.items():
        response = api.get(ME, token=token)
        assert response.status_code == 401, name
        assert response.json["error"]["code"] == "unauthorized", name
        assert api.get("/api/v1/users", token=token).status_code == 401, name
    for header_value in ["", "Bearer", "Basic dXNlcjpwYXNz", "Token abc", signed_in["access_token"]]:
        response = api.get(ME, headers={"Authorization": header_value})
        assert_error(response, 401, "unauthorized")
    assert api.get(ME, token=signed_in["access_token"]).status_code == 200
    assert snapshot() == before


def test_bad_query_and_path_values(api: Api, signed_in: dict[str, Any]) -> None:
    token = signed_in["access_token"]
    assert_error(api.post("/api/v1/auth/logout?all_devices=perhaps", token=token), 422, "validation_error")
    assert_error(api.get("/api/v1/auth/sessions?limit=0", token=token), 422, "validation_error")
    # Not a cursor's form (the document's pattern): 422; of that form but issued by no list: no such page.
    assert_error(api.get("/api/v1/auth/sessions?cursor=%%%", token=token), 422, "validation_error")
    assert_error(api.get("/api/v1/auth/sessions?cursor=0000", token=token), 404, "not_found")
    assert_error(api.get("/api/v1/auth/sessions?colour=red", token=token), 422, "validation_error")
    assert_error(api.delete("/api/v1/auth/sessions/" + "a" * 200, token=token), 404, "not_found")
    assert api.get(ME, token=token).status_code == 200


def test_cors_preflight_from_allowed_and_disallowed_origins(api: Api) -> None:
    allowed = api.call(
        "OPTIONS",
        LOGIN,
        headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"},
    )
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in allowed.headers["Access-Control-Allow-Headers"]
    refused = api.call(
        "OPTIONS", LOGIN, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers
    wrong_method = api.call(
        "OPTIONS", LOGIN, headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "DELETE"}
    )
    assert wrong_method.status_code == 405
    simple = api.call(
        "POST", LOGIN, json_body={"email": "a@example.com", "password": "x"}, headers={"Origin": "https://evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in simple.headers
    ok = api.call(
        "POST",
        LOGIN,
        json_body={"email": "a@example.com", "password": "x"},
        headers={"Origin": "http://localhost:3000"},
    )
    assert ok.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "Retry-After" in ok.headers["Access-Control-Expose-Headers"]
