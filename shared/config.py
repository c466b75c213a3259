"""Settings from the environment, read once per process.

Every variable is documented in README.md. A production start without a signing key refuses
to run: there is no default key outside development and tests.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Environment = Literal["development", "test", "production"]


class ConfigError(RuntimeError):
    """The environment does not describe a runnable deployment."""


class Settings(BaseModel):
    """`Settings()` reads the environment: `STUDYHALL_<FIELD>`, or a field's `validation_alias`.

    A plain model with a loader of a dozen lines, not pydantic-settings: importing that costs
    every cold start ~13 ms (docs/exams.md, Measured)."""

    model_config = ConfigDict(extra="ignore")

    env: Environment = "production"
    version: str = "0.1.0"
    project_id: str = Field(default="studyhall-dev", validation_alias="GOOGLE_CLOUD_PROJECT")
    region: str = "us-central1"

    # JWT signing keys as JSON {"kid": "secret", ...}; the first entry signs, all verify.
    jwt_keys: str = ""
    jwt_issuer: str = "studyhall"
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    # A refresh that started before, or this long after, the rotation that spent its token
    # committed is a concurrent refresh (409, no tokens), not a reuse (revocation).
    refresh_race_grace_seconds: int = 10
    bcrypt_rounds: int = 12

    cors_origins: str = "http://localhost:3000,http://localhost:5173"
    max_body_bytes: int = 1024 * 1024
    max_upload_bytes: int = 32 * 1024 * 1024

    imports_bucket: str = "studyhall-imports"
    # Profile pictures, readable by anyone who knows an object's (unguessable) name.
    avatars_bucket: str = "studyhall-avatars"
    # Where avatar URLs point; unset: the bucket's public address (the emulator's, locally).
    avatars_base_url: str = ""
    email_verification_ttl_seconds: int = 2 * 24 * 3600
    ip_limit_verify_email: int | None = None

    # The web frontend: links in mails (password reset, invitations) point here.
    app_url: str = "http://localhost:5173"
    password_reset_ttl_seconds: int = 3600
    invitation_ttl_seconds: int = 7 * 24 * 3600
    # Account lockout: after this many failed logins in a row the account waits, doubling
    # from lockout_base_seconds up to lockout_max_seconds; a day without failures forgets them.
    lockout_threshold: int = 5
    lockout_base_seconds: int = 30
    lockout_max_seconds: int = 3600
    # Per-IP request limits (requests per window). Unset: the production default, except in
    # the test environment, where every test shares one IP: there an unset limit is off.
    ip_limit_register: int | None = None
    ip_limit_login: int | None = None
    ip_limit_password_reset: int | None = None
    # How many trusted proxies append to X-Forwarded-For (0: none, the header is ignored), and
    # the networks of those behind the outermost (comma-separated CIDRs): an entry is stepped
    # over only when it is in one of them (shared/client_address.py).
    trusted_proxy_hops: int = 0
    trusted_proxies: str = ""
    # The coding-exercise sandbox: CPython for WASI (default .wasm/python.wasm, fetched by
    # `make setup`) and where its compiled module is cached (default: next to it, else /tmp).
    sandbox_wasm: str = ""
    sandbox_cache_dir: str = ""
    # Code submissions a user may make per minute (429 with Retry-After past it).
    submissions_per_minute: int = 10
    # The tutor chat (functions/chat, docs/chat.md): the model provider ("local" needs none),
    # its limits, the daily token budget across all users, per-user message limits, and how
    # often an instance refreshes its retrieval index from the content collections.
    tutor_provider: Literal["local", "gemini", "openai"] = "local"
    tutor_model: str = ""
    tutor_api_key: str = ""
    tutor_base_url: str = ""
    tutor_timeout_seconds: float = 10.0
    tutor_max_output_tokens: int = 500
    tutor_daily_token_budget: int = 2_000_000
    tutor_messages_per_minute: int = 10
    tutor_messages_per_day: int = 200
    tutor_index_refresh_seconds: int = 60
    tutor_index_rebuild_seconds: int = 3600
    tutor_index_bucket: str = ""  # where instances share the built index (empty: not shared)
    tutor_index_wait_seconds: float = 45.0  # a new reply instance waits this long for a first snapshot
    # The service account that signs Firebase custom tokens (empty: the function's own).
    firebase_service_account: str = ""
    log_level: str = "INFO"
    # Response header with the request's Firestore reads and writes (never in production).
    expose_ops: bool = False

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, data: Any) -> Any:
        values = dict(data) if isinstance(data, dict) else {}
        for name, spec in cls.model_fields.items():
            alias = spec.validation_alias if isinstance(spec.validation_alias, str) else None
            key = alias or name
            variable = alias or f"STUDYHALL_{name.upper()}"
            if key not in values and variable in os.environ:
                raw = os.environ[variable]
                # A list or dict setting comes as JSON, as pydantic-settings read it.
                complex_value = spec.annotation not in (str, int, bool, float) and raw[:1] in ("[", "{")
                values[key] = json.loads(raw) if complex_value else raw
        return values

    @model_validator(mode="after")
    def _require_signing_key(self) -> Settings:
        if not self.jwt_keys:
            if self.env == "production":
                raise ConfigError("STUDYHALL_JWT_KEYS must be set in production")
            from shared.local_key import local_signing_keys

            self.jwt_keys = local_signing_keys(self.env)  # drawn per checkout, never a constant
        keys = self.signing_keys
        if not keys:
            raise ConfigError("STUDYHALL_JWT_KEYS must hold at least one key")
        if self.env == "production":
            if any(len(secret) < 32 for secret in keys.values()):
                raise ConfigError("production signing keys must be at least 32 characters")
            from urllib.parse import urlsplit

            host = urlsplit(self.app_url).hostname or ""
            if host in ("", "localhost", "127.0.0.1", "::1") or host.endswith(".localhost"):
                raise ConfigError("STUDYHALL_APP_URL must be the deployed frontend: mail links point there")
            self.expose_ops = False  # internal cost figures never leave a deployed function
        return self

    @property
    def signing_keys(self) -> dict[str, str]:
        try:
            keys = json.loads(self.jwt_keys)
        except json.JSONDecodeError as exc:
            raise ConfigError("STUDYHALL_JWT_KEYS must be a JSON object of kid to secret") from exc
        if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
            raise ConfigError("STUDYHALL_JWT_KEYS must be a JSON object of kid to secret")
        return keys

    @property
    def allowed_origins(self) -> frozenset[str]:
        return frozenset(o.strip() for o in self.cors_origins.split(",") if o.strip())

    def ip_limit(self, name: str, default: int) -> int | None:
        """The per-IP limit `ip_limit_<name>`: set explicitly, else `default` (None, no limit,
        in the test environment)."""
        value = getattr(self, f"ip_limit_{name}", None)
        if value is not None:
            return int(value)
        return None if self.env == "test" else default

    @property
    def is_production(self) -> bool:
        return self.env == "production"


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()
