"""Users: the admin list, one user (self or admin), role and status changes, archiving."""

from __future__ import annotations

from typing import Any

from shared import store
from shared.emails import email_key
from tests.support import PASSWORD, Api, fields, ops

USERS = "/api/v1/users"
ME = "/api/v1/auth/me"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"


def stored(user_id: str) -> dict[str, Any]:
    return fields(store.db().collection("users").document(user_id).get())


def audit_actions() -> list[str]:
    return sorted(fields(d)["action"] for d in store.db().collection("audit_logs").stream())


# Reading -----------------------------------------------------------------------------------------


def test_only_admins_list_users_with_filters_and_cursor(api: Api) -> None:
    admin = api.admin()
    student = api.register("s1@example.com")
    api.register("s2@example.com")
    api.register("t1@example.com", role="teacher")
    assert api.get(USERS, token=student["access_token"]).status_code == 403
    assert api.get(USERS).status_code == 401
    everyone = api.get(USERS, token=admin["access_token"]).json
    assert len(everyone["items"]) == 4 and everyone["next_cursor"] is None
    assert all("password_hash" not in u for u in everyone["items"])
    students = api.get(USERS + "?role=student", token=admin["access_token"]).json["items"]
    assert sorted(u["email"] for u in students) == ["s1@example.com", "s2@example.com"]
    teachers = api.get(USERS + "?role=teacher&status=active", token=admin["access_token"]).json["items"]
    assert [u["email"] for u in teachers] == ["t1@example.com"]
    page = api.get(USERS + "?limit=3", token=admin["access_token"]).json
    assert len(page["items"]) == 3 and page["next_cursor"]
    rest = api.get(f"{USERS}?limit=3&cursor={page['next_cursor']}", token=admin["access_token"]).json
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    bad = api.get(USERS + "?cursor=garbage!", token=admin["access_token"])
    assert bad.status_code == 422  # not a cursor's form (the document's pattern)
    assert api.get(USERS + "?cursor=garbage", token=admin["access_token"]).status_code == 404  # no such page
    assert api.get(USERS + "?role=wizard", token=admin["access_token"]).status_code == 422
    assert api.get(USERS + "?limit=1000", token=admin["access_token"]).status_code == 422


def test_a_user_reads_themselves_never_another(api: Api) -> None:
    alice = api.register("alice@example.com")
    bob = api.register("bob@example.com")
    mine = api.get(f"{USERS}/{alice['user']['id']}", token=alice["access_token"])
    assert mine.status_code == 200 and mine.json["email"] == "alice@example.com"
    theirs = api.get(f"{USERS}/{bob['user']['id']}", token=alice["access_token"])
    assert theirs.status_code == 403
    assert ops(theirs)["reads"] == 1  # the session only: another's document is never read
    admin = api.admin()
    assert api.get(f"{USERS}/{bob['user']['id']}", token=admin["access_token"]).status_code == 200
    assert api.get(f"{USERS}/nosuchuser", token=admin["access_token"]).status_code == 404


# Editing -----------------------------------------------------------------------------------------


def test_a_user_edits_their_own_names_and_grade(api: Api) -> None:
    alice = api.register("alice@example.com", grade_level=9)
    uid = alice["user"]["id"]
    response = api.patch(f"{USERS}/{uid}", {"first_name": "Alicia", "grade_level": 11}, token=alice["access_token"])
    assert response.status_code == 200
    assert response.json["first_name"] == "Alicia" and response.json["grade_level"] == 11
    assert stored(uid)["first_name"] == "Alicia"
    assert "user.updated" in audit_actions()


def test_a_student_cannot_raise_their_role_or_edit_another(api: Api) -> None:
    alice = api.register("alice@example.com")
    bob = api.register("bob@example.com")
    uid = alice["user"]["id"]
    raise_role = api.patch(f"{USERS}/{uid}", {"role": "admin"}, token=alice["access_token"])
    assert raise_role.status_code == 403
    assert stored(uid)["role"] == "student"
    for field in ({"status": "active"}, {"email": "x@example.com"}, {"password_hash": "x"}):
        response = api.patch(f"{USERS}/{uid}", field, token=alice["access_token"])
        assert response.status_code == 422, field
    other = api.patch(f"{USERS}/{bob['user']['id']}", {"first_name": "Hacked"}, token=alice["access_token"])
    assert other.status_code == 403
    assert stored(bob["user"]["id"])["first_name"] == "Test"
    assert api.delete(f"{USERS}/{bob['user']['id']}", token=alice["access_token"]).status_code == 403
    assert stored(bob["user"]["id"])["status"] == "active"
    assert api.patch(f"{USERS}/{uid}", {"grade_level": 42}, token=alice["access_token"]).status_code == 422


def test_a_role_change_by_an_admin_applies_to_live_tokens_at_once(api: Api) -> None:
    admin = api.admin()
    teacher = api.register("tess@example.com", role="teacher")
    assert api.get(USERS, token=teacher["access_token"]).status_code == 403
    uid = teacher["user"]["id"]
    response = api.patch(f"{USERS}/{uid}", {"role": "admin"}, token=admin["access_token"])
    assert response.status_code == 200 and response.json["role"] == "admin"
    assert api.get(USERS, token=teacher["access_token"]).status_code == 200  # same token, new role
    api.patch(f"{USERS}/{uid}", {"role": "student"}, token=admin["access_token"])
    assert api.get(USERS, token=teacher["access_token"]).status_code == 403
    refreshed = api.post(REFRESH, {"refresh_token": teacher["refresh_token"]}).json
    assert refreshed["user"]["role"] == "student"
    assert "user.role_changed" in audit_actions()


def test_an_admin_cannot_change_their_own_role_or_status(api: Api) -> None:
    admin = api.admin()
    uid = admin["user"]["id"]
    assert api.patch(f"{USERS}/{uid}", {"role": "student"}, token=admin["access_token"]).status_code == 409
    assert api.patch(f"{USERS}/{uid}/status", {"status": "suspended"}, token=admin["access_token"]).status_code == 409
    assert stored(uid)["role"] == "admin" and stored(uid)["status"] == "active"


# Suspension and archiving -------------------------------------------------------------------------


def test_suspension_cuts_off_tokens_at_once_and_reactivation_lets_them_sign_in(api: Api) -> None:
    admin = api.admin()
    sam = api.register("sam@example.com")
    uid = sam["user"]["id"]
    student = api.register("other@example.com")
    refused = api.patch(f"{USERS}/{uid}/status", {"status": "suspended"}, token=student["access_token"])
    assert refused.status_code == 403
    response = api.patch(
        f"{USERS}/{uid}/status", {"status": "suspended", "reason": "spam"}, token=admin["access_token"]
    )
    assert response.status_code == 200 and response.json["status"] == "suspended"
    me = api.get(ME, token=sam["access_token"])
    assert me.status_code == 403 and me.json["error"]["code"] == "account_suspended"
    refreshed = api.post(REFRESH, {"refresh_token": sam["refresh_token"]})
    assert refreshed.status_code == 403 and refreshed.json["error"]["code"] == "account_suspended"
    login = api.post(LOGIN, {"email": "sam@example.com", "password": PASSWORD})
    assert login.status_code == 403 and login.json["error"]["code"] == "account_suspended"
    wrong = api.post(LOGIN, {"email": "sam@example.com", "password": "not the password"})
    assert wrong.status_code == 401  # the status shows only to the right password
    back = api.patch(f"{USERS}/{uid}/status", {"status": "active"}, token=admin["access_token"])
    assert back.status_code == 200
    # The old token stays ended, and no longer claims the account is suspended.
    stale = api.get(ME, token=sam["access_token"])
    assert stale.status_code == 401 and stale.json["error"]["code"] == "unauthorized"
    assert api.post(LOGIN, {"email": "sam@example.com", "password": PASSWORD}).status_code == 200
    assert api.patch(f"{USERS}/{uid}/status", {"status": "archived"}, token=admin["access_token"]).status_code == 422
    assert audit_actions().count("user.status_changed") == 2


def test_archiving_ends_sessions_and_login(api: Api) -> None:
    alice = api.register("alice@example.com")
    other = api.login("alice@example.com")
    uid = alice["user"]["id"]
    assert api.delete(f"{USERS}/{uid}", token=alice["access_token"]).status_code == 204
    assert api.get(ME, token=other["access_token"]).status_code == 401
    assert api.post(REFRESH, {"refresh_token": other["refresh_token"]}).status_code == 401
    login = api.post(LOGIN, {"email": "alice@example.com", "password": PASSWORD})
    assert login.status_code == 401 and login.json["error"]["code"] == "invalid_credentials"
    assert stored(uid)["status"] == "archived"
    admin = api.admin()
    assert api.patch(f"{USERS}/{uid}", {"first_name": "X"}, token=admin["access_token"]).status_code == 409
    assert api.patch(f"{USERS}/{uid}/status", {"status": "active"}, token=admin["access_token"]).status_code == 409
    assert api.delete(f"{USERS}/{uid}", token=admin["access_token"]).status_code == 204  # idempotent
    assert "user.archived" in audit_actions()


def test_budgets_of_the_users_routes(api: Api) -> None:
    admin = api.admin()
    alice = api.register("alice@example.com")
    uid = alice["user"]["id"]
    listing = api.get(USERS + "?limit=20", token=admin["access_token"])
    assert ops(listing) == {"reads": 1 + 2, "writes": 0, "deletes": 0}  # session + 2 users
    one = api.get(f"{USERS}/{uid}", token=admin["access_token"])
    assert ops(one) == {"reads": 2, "writes": 0, "deletes": 0}
    patch = api.patch(f"{USERS}/{uid}", {"last_name": "Liddell"}, token=alice["access_token"])
    # session, user, the student's memberships (roster copies of the name: none); user + audit
    assert ops(patch) == {"reads": 3, "writes": 2, "deletes": 0}
    role = api.patch(f"{USERS}/{uid}", {"role": "teacher"}, token=admin["access_token"])
    assert ops(role) == {"reads": 3, "writes": 3, "deletes": 0}  # + live sessions query, 1 session
    suspend = api.patch(f"{USERS}/{uid}/status", {"status": "suspended"}, token=admin["access_token"])
    assert ops(suspend) == {"reads": 3, "writes": 3, "deletes": 0}
    archive = api.delete(f"{USERS}/{uid}", token=admin["access_token"])
    assert ops(archive) == {"reads": 3, "writes": 2, "deletes": 0}  # no live session left to revoke


def test_a_user_sets_their_time_zone_for_streak_days(api: Api) -> None:
    from shared import store

    tokens = api.register("tz@example.com", timezone="America/New_York")
    uid = tokens["user"]["id"]
    assert tokens["user"]["timezone"] == "America/New_York"
    bad = api.patch(f"{USERS}/{uid}", {"timezone": "Mars/Olympus_Mons"}, token=tokens["access_token"])
    assert bad.status_code == 422 and bad.json["error"]["details"][0]["field"] == "timezone"
    assert fields(store.db().collection("users").document(uid).get())["timezone"] == "America/New_York"
    good = api.patch(f"{USERS}/{uid}", {"timezone": "Europe/Paris"}, token=tokens["access_token"])
    assert good.status_code == 200 and good.json["timezone"] == "Europe/Paris"
    assert fields(store.db().collection("users").document(uid).get())["timezone"] == "Europe/Paris"
    refused = api.post(
        "/api/v1/auth/register",
        {
            "email": "tz2@example.com",
            "password": "correct horse battery staple",
            "first_name": "T",
            "last_name": "Z",
            "timezone": "Nowhere",
        },
    )
    assert refused.status_code == 422
    assert store.db().collection("user_emails").document(email_key("tz2@example.com")).get().exists is False
