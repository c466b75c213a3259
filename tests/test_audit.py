"""The audit trail: what is recorded, and the admins' filtered, paged view of it."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from shared import audit, store
from tests.support import PASSWORD, Api, fields, ops

LOGS = "/api/v1/audit-logs"


def test_security_events_carry_actor_target_ip_agent_and_time(api: Api) -> None:
    api.call(
        "POST",
        "/api/v1/auth/register",
        json_body={"email": "ann@example.com", "password": PASSWORD, "first_name": "A", "last_name": "N"},
        headers={"User-Agent": "TestAgent/1.0", "X-Forwarded-For": "192.0.2.44"},
    )
    [entry] = [fields(d) for d in store.db().collection("audit_logs").stream()]
    assert entry["action"] == "auth.register"
    assert entry["actor_id"] == entry["target_id"] and entry["actor_id"]
    assert entry["ip"] == "192.0.2.44" and entry["user_agent"] == "TestAgent/1.0"
    assert entry["at"] <= store.now() < entry["expires_at"]


def test_only_admins_read_the_trail_filtered_and_paged(api: Api) -> None:
    admin = api.admin()
    student = api.register("bob@example.com")
    uid = student["user"]["id"]
    api.post("/api/v1/auth/login", {"email": "bob@example.com", "password": "wrong password here"})
    api.patch(f"/api/v1/users/{uid}", {"role": "teacher"}, token=admin["access_token"])
    assert api.get(LOGS, token=student["access_token"]).status_code == 403  # now a teacher: still not an admin
    teacher = api.login("bob@example.com")
    assert api.get(LOGS, token=teacher["access_token"]).status_code == 403
    assert api.get(LOGS).status_code == 401

    everything = api.get(LOGS, token=admin["access_token"])
    assert everything.status_code == 200
    items = everything.json["items"]
    times = [i["at"] for i in items]
    assert times == sorted(times, reverse=True)
    assert {"auth.register", "auth.login", "auth.login_failed", "user.role_changed"} <= {i["action"] for i in items}

    failed = api.get(LOGS + "?action=auth.login_failed", token=admin["access_token"]).json["items"]
    assert [(i["target_id"], i["details"]["reason"]) for i in failed] == [(uid, "wrong_password")]
    about_bob = api.get(f"{LOGS}?target_id={uid}", token=admin["access_token"]).json["items"]
    assert all(i["target_id"] == uid for i in about_bob) and len(about_bob) >= 4
    by_admin = api.get(f"{LOGS}?actor_id={admin['user']['id']}&action=user.role_changed", token=admin["access_token"])
    [change] = by_admin.json["items"]
    assert change["details"] == {"fields": ["role"], "from": "student", "to": "teacher"}

    page = api.get(LOGS + "?limit=2", token=admin["access_token"]).json
    assert len(page["items"]) == 2 and page["next_cursor"]
    second = api.get(f"{LOGS}?limit=2&cursor={page['next_cursor']}", token=admin["access_token"]).json
    assert {i["id"] for i in second["items"]}.isdisjoint({i["id"] for i in page["items"]})

    since = quote(items[0]["at"])
    recent = api.get(f"{LOGS}?since={since}", token=admin["access_token"]).json["items"]
    assert [i["id"] for i in recent] == [items[0]["id"]]
    assert api.get(LOGS + "?action=DROP TABLE", token=admin["access_token"]).status_code == 422
    assert api.get(LOGS + "?since=yesterday", token=admin["access_token"]).status_code == 422


def test_no_secret_reaches_the_trail(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.config import settings

    monkeypatch.setattr(settings(), "refresh_race_grace_seconds", 0)  # the reuse below is not a race
    tokens = api.register("cat@example.com")
    api.post("/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    api.post("/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]})  # reuse
    api.post("/api/v1/auth/login", {"email": "cat@example.com", "password": "my secret guess"})
    audit.record(
        "x.test",
        actor_id=None,
        target_id=None,
        client=audit.Client(ip="", user_agent=""),
        details={"new_password": "p", "ok": 1},
    )
    text = json.dumps([fields(d) for d in store.db().collection("audit_logs").stream()], default=str)
    assert PASSWORD not in text and "my secret guess" not in text
    assert tokens["refresh_token"].split(".")[-1] not in text and tokens["access_token"] not in text
    assert '"new_password"' not in text and '"ok": 1' in text
    assert "auth.refresh_reuse" in text


def test_budget_of_the_audit_list(api: Api) -> None:
    admin = api.admin()
    response = api.get(LOGS + "?limit=5", token=admin["access_token"])
    assert ops(response) == {"reads": 1 + 1, "writes": 0, "deletes": 0}  # session + the one login entry
