"""Email verification: the mail every new account gets, the single-use link, resends and their
limits, budgets."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from functions.auth import verification
from shared import store
from shared.events import Event
from tests.support import Api, fields, ops

VERIFY = "/api/v1/auth/verify-email"
RESEND = "/api/v1/auth/verify-email/resend"
ME = "/api/v1/auth/me"


def collection(name: str) -> list[dict[str, Any]]:
    return [fields(s) for s in store.db().collection(name).stream()]


def verification_mails(email: str) -> list[dict[str, Any]]:
    return [m for m in collection("mail") if m["to"] == [email] and "verify-email" in m["message"]["text"]]


def token_of(mail: dict[str, Any]) -> str:
    found = re.search(r"verify-email\?token=([A-Za-z0-9_\-]+)", mail["message"]["text"])
    assert found
    return found.group(1)


def registered_and_mailed(api: Api, drain: Callable[..., int], email: str) -> tuple[dict[str, Any], str]:
    tokens = api.register(email)
    drain()
    [mail] = verification_mails(email)
    return tokens, token_of(mail)


def test_registration_mails_a_link_that_verifies_the_address_once(api: Api, drain: Callable[..., int]) -> None:
    tokens = api.register("vera@example.com")
    assert tokens["user"]["email_verified"] is False
    drain()
    [mail] = verification_mails("vera@example.com")
    assert set(mail) == {"to", "message"} and set(mail["message"]) == {"subject", "text", "html"}
    assert "http://localhost:5173/verify-email?token=" in mail["message"]["text"]
    token = token_of(mail)
    [pending] = collection("email_verifications")
    assert token not in json.dumps(pending, default=str)  # stored only as a hash
    assert pending["expires_at"] - pending["created_at"] == timedelta(days=2)

    done = api.post(VERIFY, {"token": token})
    assert done.status_code == 200 and done.json["email_verified"] is True
    me = api.get(ME, token=tokens["access_token"]).json
    assert me["email_verified"] is True
    assert "auth.email_verified" in [a["action"] for a in collection("audit_logs")]

    again = api.post(VERIFY, {"token": token})
    assert again.status_code == 404 and again.json["error"]["details"][0]["field"] == "token"


def test_the_event_queues_one_mail_however_often_it_arrives(api: Api) -> None:
    tokens = api.register("ivy@example.com")
    event = Event(id="evt-1", type="user.registered", occurred_at=store.now(), data={"user_id": tokens["user"]["id"]})
    meter = store.start_metering()
    verification.on_user_registered(event)
    # marker 1r, user 1r; token, mail, marker 3w
    assert (meter.reads, meter.writes) == (2, 3)
    verification.on_user_registered(event)
    assert len(verification_mails("ivy@example.com")) == 1


def test_unknown_expired_and_forged_tokens_change_nothing(api: Api, drain: Callable[..., int]) -> None:
    tokens, token = registered_and_mailed(api, drain, "ned@example.com")
    for bad in ("nope", token + "x", "a" * 512):
        response = api.post(VERIFY, {"token": bad})
        assert response.status_code == 404, bad
    assert api.post(VERIFY, {"token": ""}).status_code == 422
    assert api.post(VERIFY, {}).status_code == 422
    assert api.post(VERIFY, {"token": "x" * 513}).status_code == 422
    # Expire the link: it no longer works.
    [snap] = list(store.db().collection("email_verifications").stream())
    snap.reference.update({"expires_at": store.now() - timedelta(seconds=1)})
    assert api.post(VERIFY, {"token": token}).status_code == 404
    assert api.get(ME, token=tokens["access_token"]).json["email_verified"] is False


def test_a_link_for_an_address_the_account_no_longer_has_is_dead(api: Api, drain: Callable[..., int]) -> None:
    tokens, token = registered_and_mailed(api, drain, "old@example.com")
    user_ref = store.db().collection("users").document(tokens["user"]["id"])
    user_ref.update(verification.email_changed_fields("new@example.com"))
    assert api.post(VERIFY, {"token": token}).status_code == 404
    assert fields(user_ref.get())["email_verified"] is False


def test_two_confirmations_at_once_spend_the_token_once(api: Api, drain: Callable[..., int]) -> None:
    _, token = registered_and_mailed(api, drain, "twin@example.com")
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(pool.map(lambda _: api.post(VERIFY, {"token": token}).status_code, range(4)))
    assert statuses.count(200) == 1 and set(statuses) <= {200, 404, 503}
    assert sum(1 for a in collection("audit_logs") if a["action"] == "auth.email_verified") == 1


def test_resend_mails_a_new_link_is_limited_per_account_and_stops_once_verified(
    api: Api, drain: Callable[..., int]
) -> None:
    tokens, first = registered_and_mailed(api, drain, "res@example.com")
    access = tokens["access_token"]
    assert api.post(RESEND).status_code == 401
    response = api.post(RESEND, token=access)
    assert response.status_code == 202
    assert len(verification_mails("res@example.com")) == 2
    api.post(RESEND, token=access)
    api.post(RESEND, token=access)
    limited = api.post(RESEND, token=access)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert len(verification_mails("res@example.com")) == 4
    # Any of the links works; once verified, a resend sends nothing.
    assert api.post(VERIFY, {"token": first}).status_code == 200
    other = api.register("oth@example.com")
    drain()
    assert api.post(RESEND, token=other["access_token"]).status_code == 202
    mine = store.db().collection("rate_limits").stream()
    assert all("res@example.com" not in s.id for s in mine)  # keys are hashed


def test_resend_after_verification_sends_nothing(api: Api, drain: Callable[..., int]) -> None:
    tokens, token = registered_and_mailed(api, drain, "done@example.com")
    api.post(VERIFY, {"token": token})
    response = api.post(RESEND, token=tokens["access_token"])
    assert response.status_code == 202 and "already" in response.json["message"]
    assert len(verification_mails("done@example.com")) == 1


def test_verify_and_resend_are_limited_per_ip(
    api: Api, drain: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.config import settings

    tokens, _ = registered_and_mailed(api, drain, "ipx@example.com")
    monkeypatch.setattr(settings(), "ip_limit_verify_email", 2)
    assert api.post(VERIFY, {"token": "guess-1"}).status_code == 404
    assert api.post(RESEND, token=tokens["access_token"]).status_code == 202
    assert api.post(VERIFY, {"token": "guess-2"}).status_code == 429
    assert api.post(RESEND, token=tokens["access_token"]).status_code == 429


def reset_token_of(mail: dict[str, Any]) -> str:
    found = re.search(r"\?token=([A-Za-z0-9_\-]+)", mail["message"]["text"])
    assert found
    return found.group(1)


def test_an_approved_account_is_confirmed_by_its_welcome_link_alone(api: Api, drain: Callable[..., int]) -> None:
    """An account created for someone gets one mail, the welcome link; setting the first password
    with it confirms the address (the link reached it), so no verification mail is sent."""
    admin = api.admin()
    teacher = api.register("teach@example.com", role="teacher")
    klass = api.post(
        "/api/v1/teachers/classes", {"name": "Maths", "subject": "math"}, token=teacher["access_token"]
    ).json
    request = api.post(
        "/api/v1/teachers/student-requests",
        {"class_id": klass["id"], "email": "kid@example.com", "first_name": "K", "last_name": "D"},
        token=teacher["access_token"],
    )
    assert request.status_code == 201, request.json
    approved = api.post(f"/api/v1/student-requests/{request.json['id']}/approve", token=admin["access_token"])
    assert approved.status_code == 200, approved.json
    drain()
    assert verification_mails("kid@example.com") == []
    [welcome] = [m for m in collection("mail") if m["to"] == ["kid@example.com"]]
    chosen = "a first passphrase of mine"
    confirmed = api.post(
        "/api/v1/auth/password-reset-confirm", {"token": reset_token_of(welcome), "new_password": chosen}
    )
    assert confirmed.status_code == 200, confirmed.json
    me = api.get(ME, token=api.login("kid@example.com", chosen)["access_token"]).json
    assert me["email_verified"] is True
    assert [v for v in collection("email_verifications") if v["email"] == "kid@example.com"] == []


def test_a_reset_link_confirms_only_the_address_it_was_mailed_to(api: Api, drain: Callable[..., int]) -> None:
    """Spending a reset token proves control of the address it went to: an unconfirmed account is
    confirmed by it, unless the account's email has changed since the link was mailed."""
    for email, moved in (("same@example.com", False), ("moved@example.com", True)):
        tokens = api.register(email)
        drain()
        assert api.post("/api/v1/auth/password-reset-request", {"email": email}).status_code == 202
        [reset] = [m for m in collection("mail") if m["to"] == [email] and "verify-email" not in m["message"]["text"]]
        user_id = tokens["user"]["id"]
        if moved:
            store.db().collection("users").document(user_id).update(
                {"email": "elsewhere@example.com", **verification.email_changed_fields("elsewhere@example.com")}
            )
        chosen = "a new passphrase entirely"
        body = {"token": reset_token_of(reset), "new_password": chosen}
        answer = api.post("/api/v1/auth/password-reset-confirm", body)
        assert answer.status_code == 200, answer.json
        user = store.db().collection("users").document(user_id).get().to_dict() or {}
        assert user["email_verified"] is (not moved), email


def test_budgets_of_the_verification_routes(
    api: Api, drain: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.config import settings

    tokens, token = registered_and_mailed(api, drain, "bud@example.com")
    monkeypatch.setattr(settings(), "ip_limit_verify_email", 30)
    resend = api.post(RESEND, token=tokens["access_token"])
    # session 1r, user 1r; IP limit, account limit, token, mail 4w
    assert ops(resend) == {"reads": 2, "writes": 4, "deletes": 0}
    verify = api.post(VERIFY, {"token": token})
    # token 1r, user 1r; IP limit, token, user, audit 4w
    assert ops(verify) == {"reads": 2, "writes": 4, "deletes": 0}
    nothing = api.post(RESEND, token=tokens["access_token"])
    # verified: session, user 2r; IP limit, account limit 2w
    assert ops(nothing) == {"reads": 2, "writes": 2, "deletes": 0}
