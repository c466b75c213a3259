"""Brute force: account lockout that grows, per-IP limits, both safe under concurrency."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from werkzeug.test import Client

from shared import store
from shared.config import settings
from tests.support import PASSWORD, Api, JsonResponse, fields, ops

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"
RESET = "/api/v1/auth/password-reset-request"
WRONG = "definitely not it"


def failures_doc() -> dict[str, Any]:
    [doc] = list(store.db().collection("login_failures").stream())
    return fields(doc)


def unlock_now() -> None:
    """Let the lock run out (as time passing would)."""
    [doc] = list(store.db().collection("login_failures").stream())
    doc.reference.update({"locked_until": store.now() - timedelta(seconds=1)})


def login(api: Api, email: str, password: str, **headers: str) -> JsonResponse:
    return api.call("POST", LOGIN, json_body={"email": email, "password": password}, headers=headers)


def test_repeated_failures_lock_the_account_and_the_right_password_waits_too(api: Api) -> None:
    api.register("amy@example.com")
    threshold = settings().lockout_threshold
    for _ in range(threshold - 1):
        assert login(api, "amy@example.com", WRONG).status_code == 401
    locked = login(api, "amy@example.com", WRONG)
    assert locked.status_code == 429
    assert locked.json["error"]["code"] == "account_locked"
    assert locked.headers["Retry-After"] == str(settings().lockout_base_seconds)
    right = login(api, "amy@example.com", PASSWORD)
    assert right.status_code == 429 and right.json["error"]["code"] == "account_locked"
    assert int(right.headers["Retry-After"]) <= settings().lockout_base_seconds
    assert ops(right)["writes"] == 0  # a locked attempt checks nothing and writes nothing
    assert len(list(store.db().collection("sessions").stream())) == 1  # the registration's only
    actions = [fields(d)["action"] for d in store.db().collection("audit_logs").stream()]
    assert actions.count("auth.lockout") == 1


def test_the_lock_grows_with_each_further_failure_and_success_resets_it(api: Api) -> None:
    api.register("ben@example.com")
    base = settings().lockout_base_seconds
    for _ in range(settings().lockout_threshold):
        login(api, "ben@example.com", WRONG)
    unlock_now()
    again = login(api, "ben@example.com", WRONG)
    assert again.status_code == 429 and again.headers["Retry-After"] == str(base * 2)
    unlock_now()
    assert login(api, "ben@example.com", WRONG).headers["Retry-After"] == str(base * 4)
    unlock_now()
    assert login(api, "ben@example.com", PASSWORD).status_code == 200
    assert list(store.db().collection("login_failures").stream()) == []
    assert login(api, "ben@example.com", WRONG).status_code == 401


def test_the_lock_is_capped(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings(), "lockout_max_seconds", 100)
    api.register("cap@example.com")
    for _ in range(settings().lockout_threshold + 3):
        login(api, "cap@example.com", WRONG)
        if failures_doc().get("locked_until"):
            unlock_now()
    assert login(api, "cap@example.com", WRONG).headers["Retry-After"] == "100"


def test_unknown_emails_lock_alike_so_lockout_reveals_no_account(api: Api) -> None:
    for _ in range(settings().lockout_threshold):
        response = login(api, "ghost@example.com", WRONG)
    assert response.status_code == 429 and response.json["error"]["code"] == "account_locked"
    doc = failures_doc()
    assert "ghost" not in json.dumps(doc, default=str)  # the counter is keyed by a hash
    assert doc["expires_at"] > store.now()  # a TTL field: Firestore forgets it


def test_concurrent_failures_are_all_counted(api: Api) -> None:
    api.register("dan@example.com")
    body = json.dumps({"email": "dan@example.com", "password": WRONG})

    def attempt(_: int) -> int:
        return Client(api.gateway).post(LOGIN, data=body, content_type="application/json").status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(attempt, range(4)))
    assert set(statuses) <= {401, 429}
    assert failures_doc()["failures"] == 4


def test_per_ip_login_limit(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings(), "ip_limit_login", 3)
    api.register("eve@example.com")
    for _ in range(3):
        assert login(api, "eve@example.com", PASSWORD, **{"X-Forwarded-For": "198.51.100.7"}).status_code == 200
    limited = login(api, "eve@example.com", PASSWORD, **{"X-Forwarded-For": "198.51.100.7"})
    assert limited.status_code == 429
    assert limited.json["error"]["code"] == "rate_limited"
    assert 0 < int(limited.headers["Retry-After"]) <= 900
    assert login(api, "eve@example.com", PASSWORD, **{"X-Forwarded-For": "198.51.100.8"}).status_code == 200
    counters = [fields(d) for d in store.db().collection("rate_limits").stream()]
    assert all("198.51" not in json.dumps(c, default=str) for c in counters)
    assert all(c["expires_at"] > store.now() for c in counters)


@pytest.mark.parametrize(
    ("setting", "path", "body"),
    [
        (
            "ip_limit_register",
            REGISTER,
            lambda i: {"email": f"r{i}@example.com", "password": PASSWORD, "first_name": "R", "last_name": "L"},
        ),
        ("ip_limit_password_reset", RESET, lambda i: {"email": f"r{i}@example.com"}),
    ],
)
def test_per_ip_limits_on_register_and_reset(
    api: Api, monkeypatch: pytest.MonkeyPatch, setting: str, path: str, body: Callable[[int], dict[str, str]]
) -> None:
    monkeypatch.setattr(settings(), setting, 2)
    assert all(api.post(path, body(i)).status_code in (201, 202) for i in range(2))
    limited = api.post(path, body(9))
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert "r9@example.com" not in [fields(d).get("email") for d in store.db().collection("users").stream()]
    assert len(list(store.db().collection("mail").stream())) == 0


def test_a_forged_forwarded_for_does_not_escape_the_ip_limit_behind_trusted_proxies(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings(), "ip_limit_login", 2)
    monkeypatch.setattr(settings(), "trusted_proxy_hops", 1)
    api.register("fox@example.com")
    statuses = [
        login(api, "fox@example.com", PASSWORD, **{"X-Forwarded-For": f"10.0.0.{i}, 198.51.100.20"}).status_code
        for i in range(3)
    ]
    assert statuses == [200, 200, 429]
    sessions = [fields(d) for d in store.db().collection("sessions").stream()]
    assert not any(s["ip"].startswith("10.0.0.") for s in sessions)
    assert sum(s["ip"] == "198.51.100.20" for s in sessions) == 2
