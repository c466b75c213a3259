"""Settings from the environment: production refuses to start without a real signing key."""

from __future__ import annotations

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
    settings = Settings()
    assert list(settings.signing_keys) == ["2026-11"]
    assert settings.expose_ops is False


def test_malformed_keys_are_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDYHALL_ENV", "development")
    monkeypatch.setenv("STUDYHALL_JWT_KEYS", "not json")
    with pytest.raises(ConfigError):
        Settings()


def test_development_gets_a_local_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDYHALL_ENV", "development")
    monkeypatch.delenv("STUDYHALL_JWT_KEYS", raising=False)
    assert Settings().signing_keys
