"""`python -m infra.admin create-admin`: the first admin of a deployment."""

from __future__ import annotations

import pytest

from infra import admin
from shared import store
from tests.support import Api, fields

STRONG = "an admin passphrase of some length"


def test_create_admin_from_the_environment_then_sign_in(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STUDYHALL_ADMIN_PASSWORD", STRONG)
    assert admin.main(["create-admin", "--email", "Root@Example.com", "--first-name", "Ro", "--last-name", "Ot"]) == 0
    assert "admin created: root@example.com" in capsys.readouterr().out
    tokens = api.login("root@example.com", STRONG)
    assert tokens["user"]["role"] == "admin"
    assert api.get("/api/v1/users", token=tokens["access_token"]).status_code == 200
    [entry] = [
        fields(d) for d in store.db().collection("audit_logs").stream() if fields(d)["action"] != "auth.login"
    ]
    assert entry["action"] == "user.created_by_admin"


def test_create_admin_refuses_weak_passwords_and_taken_emails(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDYHALL_ADMIN_PASSWORD", "password")
    with pytest.raises(SystemExit, match="too common"):
        admin.main(["create-admin", "--email", "a@example.com", "--first-name", "A", "--last-name", "B"])
    assert list(store.db().collection("users").stream()) == []
    api.register("taken@example.com")
    monkeypatch.setenv("STUDYHALL_ADMIN_PASSWORD", STRONG)
    with pytest.raises(SystemExit, match="already exists"):
        admin.main(["create-admin", "--email", "taken@example.com", "--first-name", "A", "--last-name", "B"])
    assert [fields(d)["role"] for d in store.db().collection("users").stream()] == ["student"]


def test_create_admin_asks_for_the_password_twice(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STUDYHALL_ADMIN_PASSWORD", raising=False)
    answers = iter([STRONG, STRONG + "typo"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    with pytest.raises(SystemExit, match="differ"):
        admin.main(["create-admin", "--email", "b@example.com", "--first-name", "A", "--last-name", "B"])
    assert list(store.db().collection("users").stream()) == []
