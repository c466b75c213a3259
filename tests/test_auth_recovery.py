"""Password reset (request and confirm) and password change."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from shared import password_mail, store
from tests.support import PASSWORD, Api, fields, ops

REQUEST = "/api/v1/auth/password-reset-request"
CONFIRM = "/api/v1/auth/password-reset-confirm"
CHANGE = "/api/v1/auth/change-password"
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"
NEW = "a brand new passphrase"


def collection(name: str) -> list[dict[str, Any]]:
    return [fields(s) for s in store.db().collection(name).stream()]


def mailed_token() -> str:
    [mail] = collection("mail")
    found = re.search(r"token=([A-Za-z0-9_\-]+)", mail["message"]["text"])
    assert found
    return found.group(1)


def test_reset_request_answers_alike_and_mails_only_known_accounts(api: Api) -> None:
    api.register("ann@example.com")
    known = api.post(REQUEST, {"email": "ANN@example.com"})
    unknown = api.post(REQUEST, {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.json == unknown.json
    [mail] = collection("mail")
    assert mail["to"] == ["ann@example.com"]
    assert set(mail["message"]) == {"subject", "text", "html"}
    assert "http://localhost:5173/reset-password?token=" in mail["message"]["text"]
    token = mailed_token()
    [reset] = collection("password_resets")
    assert token not in json.dumps(reset, default=str)  # stored only as a hash
    assert reset["expires_at"] - reset["created_at"] == timedelta(hours=1)
    assert reset["used_at"] is None


def test_reset_mails_per_email_are_capped(api: Api) -> None:
    api.register("bea@example.com")
    for _ in range(5):
        assert api.post(REQUEST, {"email": "bea@example.com"}).status_code == 202
    assert len(collection("mail")) == 3


def test_confirm_sets_the_password_and_ends_every_session(api: Api) -> None:
    first = api.register("cid@example.com")
    second = api.login("cid@example.com")
    api.post(REQUEST, {"email": "cid@example.com"})
    token = mailed_token()
    response = api.post(CONFIRM, {"token": token, "new_password": NEW})
    assert response.status_code == 200, response.json
    assert api.get(ME, token=first["access_token"]).status_code == 401
    assert api.get(ME, token=second["access_token"]).status_code == 401
    assert api.post(LOGIN, {"email": "cid@example.com", "password": PASSWORD}).status_code == 401
    assert api.post(LOGIN, {"email": "cid@example.com", "password": NEW}).status_code == 200
    again = api.post(CONFIRM, {"token": token, "new_password": "yet another passphrase"})
    assert again.status_code == 404 and again.json["error"]["details"][0]["field"] == "token"
    assert api.post(LOGIN, {"email": "cid@example.com", "password": NEW}).status_code == 200


def test_expired_forged_and_superseded_tokens_are_refused(api: Api) -> None:
    api.register("dot@example.com")
    api.post(REQUEST, {"email": "dot@example.com"})
    token = mailed_token()
    [reset] = list(store.db().collection("password_resets").stream())
    reset.reference.update({"expires_at": store.now() - timedelta(seconds=1)})
    assert api.post(CONFIRM, {"token": token, "new_password": NEW}).status_code == 404
    assert api.post(CONFIRM, {"token": "forged-token", "new_password": NEW}).status_code == 404
    # A token issued before a password change dies with the old password.
    [user] = list(store.db().collection("users").stream())
    old = password_mail.create_password_reset(user.id, "dot@example.com", store.now() - timedelta(minutes=5))
    user.reference.update({"password_changed_at": store.now()})
    assert api.post(CONFIRM, {"token": old, "new_password": NEW}).status_code == 404
    assert api.post(LOGIN, {"email": "dot@example.com", "password": PASSWORD}).status_code == 200


def test_a_weak_new_password_does_not_spend_the_token(api: Api) -> None:
    api.register("eli@example.com")
    api.post(REQUEST, {"email": "eli@example.com"})
    token = mailed_token()
    weak = api.post(CONFIRM, {"token": token, "new_password": "password1"})
    assert weak.status_code == 422 and weak.json["error"]["details"][0]["field"] == "new_password"
    assert collection("password_resets")[0]["used_at"] is None
    assert api.post(CONFIRM, {"token": token, "new_password": NEW}).status_code == 200


def test_archived_accounts_get_no_reset_mail(api: Api) -> None:
    tokens = api.register("fay@example.com")
    assert api.delete(f"/api/v1/users/{tokens['user']['id']}", token=tokens["access_token"]).status_code == 204
    assert api.post(REQUEST, {"email": "fay@example.com"}).status_code == 202
    assert collection("mail") == []


def test_welcome_mail_for_accounts_created_by_someone_else(api: Api) -> None:
    tokens = api.register("gus@example.com")
    token = password_mail.create_password_reset(tokens["user"]["id"], "gus@example.com", store.now(), purpose="welcome")
    [mail] = collection("mail")
    assert mail["to"] == ["gus@example.com"] and "set-password?token=" in mail["message"]["html"]
    assert api.post(CONFIRM, {"token": token, "new_password": NEW}).status_code == 200


def test_change_password_needs_the_current_one_and_ends_other_sessions(api: Api) -> None:
    first = api.register("hugo@example.com")
    second = api.login("hugo@example.com")
    wrong = api.post(CHANGE, {"current_password": "not my password", "new_password": NEW}, token=first["access_token"])
    assert wrong.status_code == 401 and wrong.json["error"]["code"] == "invalid_credentials"
    assert wrong.json["error"]["details"][0]["field"] == "current_password"
    assert api.get(ME, token=second["access_token"]).status_code == 200
    weak = api.post(CHANGE, {"current_password": PASSWORD, "new_password": "12345678"}, token=first["access_token"])
    assert weak.status_code == 422
    response = api.post(CHANGE, {"current_password": PASSWORD, "new_password": NEW}, token=first["access_token"])
    assert response.status_code == 200 and response.json["sessions_revoked"] == 1
    assert api.get(ME, token=first["access_token"]).status_code == 200
    assert api.get(ME, token=second["access_token"]).status_code == 401
    assert api.post(LOGIN, {"email": "hugo@example.com", "password": NEW}).status_code == 200
    assert api.post(LOGIN, {"email": "hugo@example.com", "password": PASSWORD}).status_code == 401
    assert api.post(CHANGE, {"current_password": NEW, "new_password": NEW + "!"}).status_code == 401


def test_budgets_of_the_recovery_routes(api: Api) -> None:
    first = api.register("ida@example.com")
    request = api.post(REQUEST, {"email": "ida@example.com"})
    # mail cap 1w; user by email 1r; reset + mail 2w; audit 1w
    assert ops(request) == {"reads": 1, "writes": 4, "deletes": 0}
    unknown = api.post(REQUEST, {"email": "nobody@example.com"})
    assert ops(unknown) == {"reads": 1, "writes": 2, "deletes": 0}
    confirm = api.post(CONFIRM, {"token": mailed_token(), "new_password": NEW})
    # reset + user judged 2r; live sessions query 1r (1 session) + 1w; reset + user (txn) 2r 2w, audit 1w
    assert ops(confirm) == {"reads": 5, "writes": 4, "deletes": 0}
    second = api.login("ida@example.com", NEW)
    change = api.post(CHANGE, {"current_password": NEW, "new_password": NEW + "?"}, token=second["access_token"])
    # session 1r; user 1r + 1w; lockout 1r; live sessions query 1r (own kept); audit 1w
    assert ops(change) == {"reads": 4, "writes": 2, "deletes": 0}
    assert first


def test_wrong_current_passwords_count_toward_the_lockout(api: Api) -> None:
    from shared.config import settings

    tokens = api.register("jon@example.com")
    body = {"current_password": "a wrong guess", "new_password": NEW}
    statuses = [
        api.post(CHANGE, body, token=tokens["access_token"]).status_code for _ in range(settings().lockout_threshold)
    ]
    assert statuses[-1] == 429 and set(statuses[:-1]) == {401}
    right = api.post(CHANGE, {"current_password": PASSWORD, "new_password": NEW}, token=tokens["access_token"])
    assert right.status_code == 429 and right.json["error"]["code"] == "account_locked"
    assert api.post(LOGIN, {"email": "jon@example.com", "password": PASSWORD}).status_code == 429
