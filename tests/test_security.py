"""What an attacker tried against `make dev`, held: forged event deliveries, a forged
X-Forwarded-For, emails that break document ids or never log in, framework HTML errors,
refresh races, and the readiness of a stack still loading."""

from __future__ import annotations

import base64
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from werkzeug.test import Client

from infra.local.gateway import Gateway
from shared import store
from shared.config import settings
from shared.emails import email_key, normalize_email
from tests.support import PASSWORD, Api, Stack, fields

REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/auth/me"
FUNCTION, TOPIC = "progress-on-exam-completed", "exam.completed"


def push_body(user_id: str) -> dict[str, Any]:
    envelope = {
        "id": uuid.uuid4().hex,
        "type": TOPIC,
        "occurred_at": store.now().isoformat(),
        "data": {
            "user_id": user_id,
            "session_id": uuid.uuid4().hex,
            "exam_type": "security-plus",
            "mode": "practice",
            "score": 100,
            "correct": 10,
            "total": 10,
            "domains": [{"domain": "1.0", "correct": 10, "total": 10}],
        },
    }
    return {
        "message": {
            "data": base64.b64encode(json.dumps(envelope).encode()).decode(),
            "attributes": {},
            "messageId": uuid.uuid4().hex,
            "publishTime": store.now().isoformat().replace("+00:00", "Z"),
        },
        "subscription": "projects/p/subscriptions/s",
    }


def stats_of(user_id: str) -> dict[str, Any]:
    return store.db().collection("user_stats").document(user_id).get().to_dict() or {}


# Event deliveries -------------------------------------------------------------------------------


def test_only_the_stack_delivers_events(api: Api, stack: Stack) -> None:
    user_id = api.register("xp@example.com")["user"]["id"]
    path = f"/_events/{FUNCTION}/projects/{stack.project}/topics/{TOPIC}"
    for forged in (path, f"{path}?token=guess", f"{path}?token="):
        response = api.post(forged, push_body(user_id))
        assert response.status_code == 401, forged
        assert response.json["error"]["code"] == "unauthorized"
    assert stats_of(user_id).get("xp", 0) == 0

    delivered = api.post(f"{path}?{stack.gateway.push_query}", push_body(user_id))
    assert 200 <= delivered.status_code < 300
    assert stats_of(user_id)["exams_completed"] == 1


def test_each_gateway_draws_its_own_push_token() -> None:
    assert Gateway().push_token != Gateway().push_token


# Client address ---------------------------------------------------------------------------------


def test_forwarded_for_is_ignored_without_a_trusted_proxy(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings(), "trusted_proxy_hops", 0)
    api.register("ip@example.com")
    response = api.post(
        "/api/v1/auth/login",
        {"email": "ip@example.com", "password": PASSWORD},
        headers={"X-Forwarded-For": "203.0.113.66"},
        environ_base={"REMOTE_ADDR": "192.0.2.10"},
    )
    assert response.status_code == 200
    ips = {fields(s)["ip"] for s in store.db().collection("sessions").stream()}
    assert "203.0.113.66" not in ips and "192.0.2.10" in ips


# Emails -----------------------------------------------------------------------------------------


def test_an_email_with_slashes_gets_a_flat_uniqueness_document(api: Api) -> None:
    tokens = api.register("a/b/c@example.com")
    assert tokens["user"]["email"] == "a/b/c@example.com"
    keys = [d.id for d in store.db().collection("user_emails").stream()]
    assert keys == [email_key("a/b/c@example.com")] and "/" not in keys[0]
    assert api.post("/api/v1/auth/login", {"email": "A/B/C@example.com", "password": PASSWORD}).status_code == 200
    again = api.post(
        "/api/v1/auth/register",
        {"email": "a/b/c@EXAMPLE.com", "password": PASSWORD, "first_name": "A", "last_name": "B"},
    )
    assert again.status_code == 409


def test_a_teacher_request_for_an_email_with_slashes_is_not_a_server_error(api: Api) -> None:
    teacher = api.register("t@example.com", role="teacher")
    new_class = {"name": "Networks", "subject": "Networking", "grade_levels": [10]}
    klass = api.post("/api/v1/teachers/classes", new_class, token=teacher["access_token"])
    assert klass.status_code == 201, klass.json
    body = {"first_name": "S", "last_name": "L", "email": "s/l@example.com", "class_id": klass.json["id"]}
    response = api.post("/api/v1/teachers/student-requests", body, token=teacher["access_token"])
    assert response.status_code in (201, 202), response.json


def test_every_route_normalises_an_email_the_same_way(api: Api) -> None:
    decomposed = "Ame\u0301lie@Example.com"  # e + combining accent
    api.register(decomposed)
    composed = "am\u00e9lie@EXAMPLE.COM"
    assert api.post("/api/v1/auth/login", {"email": composed, "password": PASSWORD}).status_code == 200

    api.register("user@xn--bcher-kva.example")  # punycode domain
    login = api.post("/api/v1/auth/login", {"email": "User@B\u00fccher.example", "password": PASSWORD})
    assert login.status_code == 200
    assert login.json["user"]["email"] == normalize_email("user@xn--bcher-kva.example") == "user@b\u00fccher.example"

    reset = api.post("/api/v1/auth/password-reset-request", {"email": "AME\u0301LIE@example.com"})
    assert reset.status_code in (200, 202)
    [mail] = [fields(d) for d in store.db().collection("mail").stream()]
    assert mail["to"] == ["am\u00e9lie@example.com"]


def test_an_invalid_email_is_refused_at_registration_and_unknown_at_login(api: Api) -> None:
    bad = {"email": "not an email", "password": PASSWORD, "first_name": "A", "last_name": "B"}
    response = api.post("/api/v1/auth/register", bad)
    assert response.status_code == 422 and response.json["error"]["details"][0]["field"] == "email"
    assert list(store.db().collection("users").stream()) == []
    login = api.post("/api/v1/auth/login", {"email": "not an email", "password": PASSWORD})
    assert login.status_code == 401


# Framework errors -------------------------------------------------------------------------------


def test_a_path_the_framework_rejects_answers_our_json_error(api: Api) -> None:
    for path in ("/api/v1/classes/abc%0A", "/api/v1/classes/abc%0A/students", "/api/v1/auth/sessions/x%0A"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.headers["Content-Type"] == "application/json"
        assert response.json["error"]["code"] == "not_found"
        assert response.headers["X-Content-Type-Options"] == "nosniff" and response.headers["X-Request-Id"]


# Races ------------------------------------------------------------------------------------------


def test_parallel_refreshes_answer_one_pair_and_409s_and_keep_the_winner_signed_in(api: Api) -> None:
    tokens = api.register("tabs@example.com")

    def refresh(_: int) -> Any:
        body = json.dumps({"refresh_token": tokens["refresh_token"]})
        return Client(api.gateway).post(REFRESH, data=body, content_type="application/json")

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(refresh, range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 7, statuses
    assert all(r.json["error"]["code"] == "conflict" for r in responses if r.status_code == 409)
    [winner] = [r.json for r in responses if r.status_code == 200]
    # Nobody was signed out: the winner's tokens work, and rotate again.
    assert api.get(ME, token=winner["access_token"]).status_code == 200
    assert api.post(REFRESH, {"refresh_token": winner["refresh_token"]}).status_code == 200
    [session] = [fields(s) for s in store.db().collection("sessions").stream()]
    assert session["revoked_at"] is None


def test_a_replay_within_the_grace_gets_no_tokens_and_a_later_one_revokes(api: Api) -> None:
    tokens = api.register("replay@example.com")
    second = api.post(REFRESH, {"refresh_token": tokens["refresh_token"]}).json
    soon = api.post(REFRESH, {"refresh_token": tokens["refresh_token"]})
    assert soon.status_code == 409 and "access_token" not in soon.json
    # The grace has passed (the rotation is moved back in time): now it is a reuse.
    session_id = tokens["refresh_token"].split(".")[0]
    rotated = store.now().replace(year=store.now().year - 1)
    store.db().collection("sessions").document(session_id).update({"rotated_at": rotated})
    assert api.post(REFRESH, {"refresh_token": tokens["refresh_token"]}).status_code == 401
    assert api.get(ME, token=second["access_token"]).status_code == 401


# Readiness --------------------------------------------------------------------------------------


def test_ready_only_once_the_stack_is(stack: Stack) -> None:
    gateway = Gateway(ready=False)
    client = Client(gateway)
    starting = client.get("/health/ready")
    assert starting.status_code == 503 and starting.get_json()["checks"] == {"stack": "starting"}
    assert client.get("/health").status_code == 200  # alive all along
    gateway.ready.set()
    ready = client.get("/health/ready")
    assert ready.status_code == 200 and ready.get_json()["status"] == "ok"


def test_parallel_approvals_of_one_request_answer_one_200_and_409s(api: Api) -> None:
    from tests.test_classes import admin, new_class, person, request_body

    teacher, boss = person(api, "t6@example.com", "teacher"), admin(api)
    klass = new_class(api, teacher)
    asked = api.post("/api/v1/teachers/student-requests", request_body(klass, "six@example.com"), token=teacher.token)
    assert asked.status_code == 201, asked.json

    def approve(_: int) -> Any:
        path = f"/api/v1/student-requests/{asked.json['id']}/approve"
        return Client(api.gateway).post(path, headers={"Authorization": f"Bearer {boss.token}"})

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(r.status_code for r in pool.map(approve, range(6)))
    assert statuses == [200] + [409] * 5, statuses
    accounts = [fields(d) for d in store.db().collection("users").stream()]
    assert sum(a["email"] == "six@example.com" for a in accounts) == 1


def test_the_email_validator_stays_off_the_cold_start_path() -> None:
    import subprocess
    import sys

    probe = (
        "import sys, main\n"
        "for target in ('auth_me', 'auth_register', 'classes_requests_create', 'exams_list'):\n"
        "    getattr(main, target)\n"
        "print('email_validator' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "False"
