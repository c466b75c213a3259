"""Auth: registration, login, refresh rotation and reuse, logout, sessions, budgets."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from werkzeug.test import Client

from shared import store
from tests.support import PASSWORD, Api, ops

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"
SESSIONS = "/api/v1/auth/sessions"

SECRET_FIELDS = ("password_hash", "refresh_hash", "spent_hashes", "password", "token_hash")


def docs(collection: str) -> list[dict[str, Any]]:
    return [{"id": s.id, **(s.to_dict() or {})} for s in store.db().collection(collection).stream()]


def actions() -> list[str]:
    return sorted(d["action"] for d in docs("audit_logs"))


def post_from(api: Any, path: str, body: dict[str, Any]) -> Any:
    """A request on a client of its own (werkzeug clients are not shared across threads)."""
    return Client(api.gateway).post(path, data=json.dumps(body), content_type="application/json")


# Registration ----------------------------------------------------------------------------------


def test_register_answers_tokens_and_a_user_without_secrets(api: Api) -> None:
    response = api.post(
        REGISTER,
        {"email": "  Bob@Example.COM ", "password": PASSWORD, "first_name": "Bob", "last_name": "B", "grade_level": 10},
        headers={"User-Agent": "Mozilla/5.0 (Windows NT 10.0) Firefox/120.0"},
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    assert body["user"]["email"] == "bob@example.com" and body["user"]["role"] == "student"
    assert body["user"]["status"] == "active" and body["user"]["grade_level"] == 10
    assert not any(field in json.dumps(body["user"]) for field in SECRET_FIELDS)
    [user] = docs("users")
    assert user["password_hash"].startswith("$2") and PASSWORD not in json.dumps(user, default=str)
    [session] = docs("sessions")
    assert body["refresh_token"].split(".")[-1] not in json.dumps(session, default=str)
    assert session["device"] == "Firefox on Windows"
    assert actions() == ["auth.register"]


def test_a_taken_email_is_a_conflict_whatever_its_case(api: Api) -> None:
    api.register("carol@example.com")
    response = api.post(
        REGISTER, {"email": "CAROL@example.com", "password": PASSWORD, "first_name": "C", "last_name": "D"}
    )
    assert response.status_code == 409
    assert response.json["error"]["code"] == "conflict"
    assert len(docs("users")) == 1


def test_concurrent_registrations_of_one_email_create_one_account(api: Api) -> None:
    body = {"email": "race@example.com", "password": PASSWORD, "first_name": "R", "last_name": "C"}
    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(r.status_code for r in pool.map(lambda _: post_from(api, REGISTER, body), range(6)))
    assert statuses.count(201) == 1
    assert set(statuses) <= {201, 409}
    assert len(docs("users")) == 1 and len(docs("user_emails")) == 1 and len(docs("sessions")) == 1


def test_only_an_admin_creates_an_admin(api: Api) -> None:
    body = {"email": "eve@example.com", "password": PASSWORD, "first_name": "E", "last_name": "V", "role": "admin"}
    assert api.post(REGISTER, body).status_code == 401
    student = api.register("stu@example.com")
    response = api.post(REGISTER, body, token=student["access_token"])
    assert response.status_code == 403
    assert [u["email"] for u in docs("users")] == ["stu@example.com"]
    admin = api.admin()
    response = api.post(REGISTER, body, token=admin["access_token"])
    assert response.status_code == 201 and response.json["user"]["role"] == "admin"
    [created] = [d for d in docs("audit_logs") if d["action"] == "user.created_by_admin"]
    assert created["actor_id"] == admin["user"]["id"] and created["target_id"] == response.json["user"]["id"]


def test_weak_passwords_are_refused_and_nothing_is_written(api: Api) -> None:
    for password in ["short", "password", "12345678", "dave@example.com"]:
        response = api.post(
            REGISTER, {"email": "dave@example.com", "password": password, "first_name": "D", "last_name": "E"}
        )
        assert response.status_code == 422, password
        assert response.json["error"]["details"][0]["field"] == "password"
        assert password == "password" or password not in json.dumps(response.json)
    assert docs("users") == [] and docs("sessions") == []


def test_long_and_spaced_passwords_keep_every_character(api: Api) -> None:
    long_password = "ü" * 50 + " tail"  # 105 bytes: past bcrypt's 72
    api.register("long@example.com", password=long_password)
    assert api.post(LOGIN, {"email": "long@example.com", "password": "ü" * 50 + " tai1"}).status_code == 401
    assert api.post(LOGIN, {"email": "long@example.com", "password": "ü" * 50}).status_code == 401
    assert api.post(LOGIN, {"email": "long@example.com", "password": long_password}).status_code == 200
    api.register("space@example.com", password="  padded secret  ")
    assert api.post(LOGIN, {"email": "space@example.com", "password": "padded secret"}).status_code == 401
    assert api.post(LOGIN, {"email": "space@example.com", "password": "  padded secret  "}).status_code == 200
    too_long = api.post(
        REGISTER, {"email": "x@example.com", "password": "ab-" * 100, "first_name": "X", "last_name": "Y"}
    )
    assert too_long.status_code == 422


# Login ---------------------------------------------------------------------------------------


def test_wrong_password_and_unknown_email_answer_alike(api: Api) -> None:
    api.register("frank@example.com")
    wrong = api.post(LOGIN, {"email": "frank@example.com", "password": "not the password"})
    unknown = api.post(LOGIN, {"email": "nobody@example.com", "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json
    assert wrong.json["error"]["code"] == "invalid_credentials"
    assert docs("sessions").__len__() == 1  # only the registration's
    assert actions().count("auth.login_failed") == 2


def test_login_opens_a_session_and_records_it(api: Api) -> None:
    api.register("gina@example.com")
    tokens = api.login("GINA@example.com")
    assert api.get(ME, token=tokens["access_token"]).json["email"] == "gina@example.com"
    [user] = docs("users")
    assert user["last_login_at"] is not None
    assert "auth.login" in actions()


# Refresh ---------------------------------------------------------------------------------------


def test_refresh_rotates_and_the_old_token_is_spent(api: Api) -> None:
    first = api.register("hal@example.com")
    second = api.post(REFRESH, {"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    assert second.json["refresh_token"] != first["refresh_token"]
    assert api.get(ME, token=second.json["access_token"]).status_code == 200
    third = api.post(REFRESH, {"refresh_token": second.json["refresh_token"]})
    assert third.status_code == 200


def test_reuse_of_a_spent_refresh_token_revokes_the_whole_login(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.config import settings

    monkeypatch.setattr(settings(), "refresh_race_grace_seconds", 0)  # a reuse, not a race
    first = api.register("ivy@example.com")
    other_login = api.login("ivy@example.com")
    second = api.post(REFRESH, {"refresh_token": first["refresh_token"]}).json
    reuse = api.post(REFRESH, {"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    # Every token of that login stops: the new access token and the new refresh token.
    assert api.get(ME, token=second["access_token"]).status_code == 401
    assert api.get(ME, token=first["access_token"]).status_code == 401
    assert api.post(REFRESH, {"refresh_token": second["refresh_token"]}).status_code == 401
    # Another login of the same user is not that family.
    assert api.get(ME, token=other_login["access_token"]).status_code == 200
    assert "auth.refresh_reuse" in actions()


def test_concurrent_refreshes_of_one_token_yield_at_most_one_pair(api: Api) -> None:
    tokens = api.register("jay@example.com")
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(
            pool.map(lambda _: post_from(api, REFRESH, {"refresh_token": tokens["refresh_token"]}), range(4))
        )
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 1
    assert set(statuses) <= {200, 409}  # 409: lost the race, nothing changed, nobody signed out


def test_forged_refresh_tokens_are_refused(api: Api) -> None:
    tokens = api.register("kim@example.com")
    session_id = tokens["refresh_token"].split(".")[0]
    for forged in [
        "nonsense",
        f"{session_id}.1.guess",
        f"{session_id}.2.{tokens['refresh_token'].split('.')[2]}",
        "a.b.c",
    ]:
        response = api.post(REFRESH, {"refresh_token": forged})
        assert response.status_code == 401, forged
    assert api.post(REFRESH, {"refresh_token": tokens["refresh_token"]}).status_code == 200


# Logout and sessions ----------------------------------------------------------------------------


def test_logout_stops_the_access_token_at_once(api: Api) -> None:
    tokens = api.register("lee@example.com")
    other = api.login("lee@example.com")
    assert api.post(LOGOUT, token=tokens["access_token"]).status_code == 204
    assert api.get(ME, token=tokens["access_token"]).status_code == 401
    assert api.post(REFRESH, {"refresh_token": tokens["refresh_token"]}).status_code == 401
    assert api.get(ME, token=other["access_token"]).status_code == 200


def test_logout_everywhere_stops_every_session(api: Api) -> None:
    first = api.register("max@example.com")
    second = api.login("max@example.com")
    response = api.post(LOGOUT + "?all_devices=true", token=second["access_token"])
    assert response.status_code == 204
    assert api.get(ME, token=first["access_token"]).status_code == 401
    assert api.get(ME, token=second["access_token"]).status_code == 401
    assert "auth.logout_all" in actions()


def test_sessions_list_shows_device_ip_and_times_but_no_secrets(api: Api) -> None:
    first = api.register("nia@example.com")
    api.call(
        "POST",
        LOGIN,
        json_body={"email": "nia@example.com", "password": PASSWORD},
        headers={
            "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Safari/604.1",
            "X-Forwarded-For": "203.0.113.9",
        },
    )
    response = api.get(SESSIONS, token=first["access_token"])
    assert response.status_code == 200
    items = response.json["items"]
    assert len(items) == 2
    phone = next(s for s in items if not s["current"])
    assert phone["device"] == "Safari on iOS" and phone["ip"] == "203.0.113.9"
    assert {"id", "created_at", "last_used_at", "device", "ip"} <= set(phone)
    assert sum(s["current"] for s in items) == 1
    assert not any(field in json.dumps(response.json) for field in SECRET_FIELDS)


def test_revoking_one_session_stops_its_tokens_only(api: Api) -> None:
    first = api.register("oz@example.com")
    second = api.login("oz@example.com")
    second_id = second["refresh_token"].split(".")[0]
    assert api.delete(f"{SESSIONS}/{second_id}", token=first["access_token"]).status_code == 204
    assert api.get(ME, token=second["access_token"]).status_code == 401
    assert api.post(REFRESH, {"refresh_token": second["refresh_token"]}).status_code == 401
    assert api.get(ME, token=first["access_token"]).status_code == 200
    assert api.delete(f"{SESSIONS}/{second_id}", token=first["access_token"]).status_code == 404
    assert "auth.session_revoked" in actions()


def test_a_user_cannot_see_or_end_another_users_sessions(api: Api) -> None:
    victim = api.register("pat@example.com")
    attacker = api.register("mallory@example.com")
    victim_session = victim["refresh_token"].split(".")[0]
    listed = api.get(SESSIONS, token=attacker["access_token"]).json["items"]
    assert [s["id"] for s in listed] != [victim_session] and len(listed) == 1
    response = api.delete(f"{SESSIONS}/{victim_session}", token=attacker["access_token"])
    assert response.status_code == 404
    assert api.get(ME, token=victim["access_token"]).status_code == 200


def test_sessions_page_with_a_cursor(api: Api) -> None:
    tokens = api.register("quin@example.com")
    for _ in range(3):
        api.login("quin@example.com")
    first = api.get(SESSIONS + "?limit=3", token=tokens["access_token"]).json
    assert len(first["items"]) == 3 and first["next_cursor"]
    rest = api.get(f"{SESSIONS}?limit=3&cursor={first['next_cursor']}", token=tokens["access_token"]).json
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    ids = {s["id"] for s in first["items"]} | {s["id"] for s in rest["items"]}
    assert len(ids) == 4


# Budgets -----------------------------------------------------------------------------------------


def test_budgets_of_the_auth_routes(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.config import settings

    # Measure with the production per-IP limits on (each costs 1 write).
    monkeypatch.setattr(settings(), "ip_limit_register", 50)
    monkeypatch.setattr(settings(), "ip_limit_login", 300)
    body = {"email": "rae@example.com", "password": PASSWORD, "first_name": "R", "last_name": "E"}
    register = api.post(REGISTER, body)
    # limit 1w; email claim 1r; user, email, session, audit 4w
    assert ops(register) == {"reads": 1, "writes": 6, "deletes": 1}  # + the outbox entry, written then cleared
    tokens = register.json
    login = api.post(LOGIN, {"email": "rae@example.com", "password": PASSWORD})
    # limit 1w; lockout 1r; user by email 1r; session, last_login, audit 3w
    assert ops(login) == {"reads": 2, "writes": 4, "deletes": 0}
    failed = api.post(LOGIN, {"email": "rae@example.com", "password": "wrong password!"})
    # limit 1w; lockout 1r; user 1r; failure counter 1w; audit 1w
    assert ops(failed) == {"reads": 2, "writes": 3, "deletes": 0}
    relogin = api.post(LOGIN, {"email": "rae@example.com", "password": PASSWORD})
    assert ops(relogin) == {"reads": 2, "writes": 4, "deletes": 1}  # the failure counter is cleared
    me = api.get(ME, token=tokens["access_token"])
    assert ops(me) == {"reads": 2, "writes": 0, "deletes": 0}  # session + user
    refresh = api.post(REFRESH, {"refresh_token": tokens["refresh_token"]})
    assert ops(refresh) == {"reads": 2, "writes": 1, "deletes": 0}  # session (txn) + user
    sessions = api.get(SESSIONS, token=login.json["access_token"])
    assert ops(sessions) == {"reads": 1 + 3, "writes": 0, "deletes": 0}  # session + 3 sessions listed
    session_id = relogin.json["refresh_token"].split(".")[0]
    revoke = api.delete(f"{SESSIONS}/{session_id}", token=login.json["access_token"])
    assert ops(revoke) == {"reads": 2, "writes": 2, "deletes": 0}
    logout = api.post(LOGOUT, token=login.json["access_token"])
    # session, the user's Firebase sign-out moment, audit
    assert ops(logout) == {"reads": 1, "writes": 3, "deletes": 0}
    everywhere = api.post(LOGOUT + "?all_devices=true", token=refresh.json["access_token"])
    assert ops(everywhere) == {"reads": 1 + 1, "writes": 1 + 1 + 1, "deletes": 0}  # 1 live session left
