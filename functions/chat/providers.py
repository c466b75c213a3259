"""Language models behind one interface, picked by `STUDYHALL_TUTOR_PROVIDER`.

`local` (the default) is no model at all: the tutor answers from the content alone. `gemini`
runs through `google-genai` on Vertex AI, `openai` through `openai`. Each SDK costs ~400 ms of
import, so it is imported here, inside `generate`, which only the reply function calls: no
HTTP route of the chat ever loads one (tests/test_chat_cold_start.py holds that).

Every call has an output limit (`tutor_max_output_tokens`), a time limit per attempt
(`tutor_timeout_seconds`), one retry at most (`MODEL_ATTEMPTS`, on a connection error, a 429 or
a 5xx, as each SDK decides) and a share of the daily token budget (`tutor_daily_token_budget`,
all users together); the caller falls back to the local answer on any failure. A client is built
once per instance and configuration (building one costs more than a call to a local server).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from shared import store
from shared.config import settings
from shared.registry import expires
from shared.userdata import not_personal

# one document a day: tokens and calls spent on the model
USAGE = not_personal(expires("chat_model_usage"), "daily totals of the whole platform's model use")

DEFAULT_MODELS = {"gemini": "gemini-2.5-flash", "openai": "gpt-4o-mini"}
MODEL_ATTEMPTS = 2  # a call and one retry: a reply's worst case is 2 x tutor_timeout_seconds


class ProviderError(RuntimeError):
    """The model gave nothing usable: the local answer stands in."""


@dataclass(frozen=True)
class Generated:
    text: str
    tokens: int


class Provider(Protocol):
    name: str

    def generate(self, system: str, prompt: str) -> Generated: ...


class Gemini:
    """Gemini on Vertex AI: the function's service account (application default credentials)
    in the function's project and region, or a Vertex AI express-mode API key."""

    name = "gemini"

    def generate(self, system: str, prompt: str) -> Generated:
        from google.genai import types

        cfg = settings()
        client = _gemini_client(
            cfg.tutor_api_key, cfg.tutor_base_url, cfg.tutor_timeout_seconds, cfg.project_id, cfg.region
        )
        response = client.models.generate_content(
            model=cfg.tutor_model or DEFAULT_MODELS["gemini"],
            contents=prompt,
            config=types.GenerateContentConfig(
                system_instruction=system, max_output_tokens=cfg.tutor_max_output_tokens, temperature=0.2
            ),
        )
        usage = response.usage_metadata
        tokens = int((usage.total_token_count if usage else 0) or 0)
        return Generated(text=(response.text or "").strip(), tokens=tokens)


class OpenAI:
    """OpenAI's chat completions (or any server that speaks them, through `tutor_base_url`)."""

    name = "openai"

    def generate(self, system: str, prompt: str) -> Generated:
        cfg = settings()
        client = _openai_client(cfg.tutor_api_key, cfg.tutor_base_url, cfg.tutor_timeout_seconds)
        response = client.chat.completions.create(
            model=cfg.tutor_model or DEFAULT_MODELS["openai"],
            messages=[{"role": "system", "content": system}, {"role": "user", "content": prompt}],
            max_tokens=cfg.tutor_max_output_tokens,
            temperature=0.2,
        )
        text = (response.choices[0].message.content or "").strip() if response.choices else ""
        tokens = int(response.usage.total_tokens) if response.usage else 0
        return Generated(text=text, tokens=tokens)


@functools.cache
def _gemini_client(api_key: str, base_url: str, timeout: float, project: str, region: str) -> Any:
    from google import genai
    from google.genai import types

    options = types.HttpOptions(
        timeout=int(timeout * 1000),
        retry_options=types.HttpRetryOptions(attempts=MODEL_ATTEMPTS, initial_delay=0.2, max_delay=1.0),
        base_url=base_url or None,
    )
    if api_key:
        return genai.Client(vertexai=True, api_key=api_key, http_options=options)
    return genai.Client(vertexai=True, project=project, location=region, http_options=options)


@functools.cache
def _openai_client(api_key: str, base_url: str, timeout: float) -> Any:
    import openai

    return openai.OpenAI(
        api_key=api_key or None, base_url=base_url or None, timeout=timeout, max_retries=MODEL_ATTEMPTS - 1
    )


PROVIDERS: dict[str, type[Gemini] | type[OpenAI]] = {"gemini": Gemini, "openai": OpenAI}


def configured() -> Provider | None:
    """The configured model, or None for the content-only tutor."""
    kind = settings().tutor_provider
    return PROVIDERS[kind]() if kind in PROVIDERS else None


# The daily budget ---------------------------------------------------------------------------------


def _usage_ref(now: datetime) -> Any:
    return store.db().collection(USAGE).document(now.strftime("%Y-%m-%d"))


def budget_left(now: datetime) -> bool:
    """Whether today's tokens are still under the budget (one read). Concurrent replies may
    overshoot it by at most their own output each: the check is before, the spend after."""
    spent = (_usage_ref(now).get().to_dict() or {}).get("tokens", 0)
    return int(spent) < settings().tutor_daily_token_budget


def spend(now: datetime, provider: str, tokens: int) -> None:
    """Add a call's tokens to today's total (one write, an atomic increment)."""
    day_end = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=2)
    _usage_ref(now).set(
        {
            "tokens": store.Increment(max(0, tokens)),
            "calls": store.Increment(1),
            "provider": provider,
            "expires_at": day_end,
        },
        merge=True,
    )


def call(provider: Provider, system: str, prompt: str, now: datetime) -> Generated:
    """One model call within the budget; ProviderError when over it or when the model fails."""
    if not budget_left(now):
        raise ProviderError("daily model budget spent")
    try:
        generated = provider.generate(system, prompt)
    except Exception as exc:  # any SDK, network or timeout error: the local answer stands in
        raise ProviderError(type(exc).__name__) from exc
    spend(now, provider.name, generated.tokens)
    if not generated.text:
        raise ProviderError("empty answer")
    return generated
