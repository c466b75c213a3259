"""Settings from the environment: production refuses to start without a real signing key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.config import ConfigError, Settings


def test_production_without_signing_key_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDYHALL_ENV", "production")
    monkeypatch.delenv("STUDYHALL_JWT_KEYS", raising=False)
    with pytest.raises(ConfigError):
        Settings()


def test_production_rejects_a_short_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDYHALL_ENV", "production")
    monkeypatch.setenv("STUDYHALL_JWT_KEYS", '{"k1": "short"}')
    with pytest.raises(ConfigError):
        Settings()


def test_production_with_a_key_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDYHALL_ENV", "production")
    monkeypatch.setenv("STUDYHALL_JWT_KEYS", '{"2026-11": "' + "x" * 48 + '"}')
    monkeypatch.setenv("STUDYHALL_APP_URL", "https://studyhall.example")
    settings = Settings()
    assert list(settings.signing_keys) == ["2026-11"]
    assert settings.expose_ops is False


def test_production_refuses_a_local_app_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDYHALL_ENV", "production")
    monkeypatch.setenv("STUDYHALL_JWT_KEYS", '{"2026-11": "' + "x" * 48 + '"}')
    for local in ("http://localhost:5173", "http://127.0.0.1:8080", "not a url"):
        monkeypatch.setenv("STUDYHALL_APP_URL", local)
        with pytest.raises(ConfigError):
            Settings()


def test_malformed_keys_are_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDYHALL_ENV", "development")
    monkeypatch.setenv("STUDYHALL_JWT_KEYS", "not json")
    with pytest.raises(ConfigError):
        Settings()


def test_development_gets_a_key_of_its_own_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from shared import local_key

    monkeypatch.setattr(local_key, "KEY_FILE", tmp_path / ".dev" / "signing-key")
    monkeypatch.setenv("STUDYHALL_ENV", "development")
    monkeypatch.delenv("STUDYHALL_JWT_KEYS", raising=False)
    first = Settings().signing_keys
    assert Settings().signing_keys == first  # kept across restarts of the stack
    assert (tmp_path / ".dev" / "signing-key").stat().st_mode & 0o077 == 0  # readable by its owner only
    [secret] = first.values()
    assert len(secret) >= 48 and "studyhall" not in secret
    other = local_key.local_signing_keys("development", tmp_path / "other-checkout" / "signing-key")
    assert json.loads(other) != first  # another checkout draws another key
