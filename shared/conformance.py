"""Outside production, every answer is held to the response model its route declares.

A handler that returns a field its model does not declare, misses a required one, or gives one
the wrong type fails loudly in tests and `make dev` (a 500 with a log naming the route and the
fields) instead of publishing an answer that docs/openapi.json does not describe. Production
skips the check: it costs a validation per answer, and the suite has run it on every route.
"""

from __future__ import annotations

import json
import types
import typing
from functools import cache
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from shared.validation import Page


class ResponseMismatch(RuntimeError):
    """The answer is not what the route declares: a bug in the handler (or the declaration)."""


def members(response: Any) -> list[type[BaseModel]]:
    """The models of a declared response: one model, or each member of a union."""
    if isinstance(response, types.UnionType) or typing.get_origin(response) is typing.Union:
        return [m for m in typing.get_args(response) if isinstance(m, type) and issubclass(m, BaseModel)]
    return [response] if isinstance(response, type) and issubclass(response, BaseModel) else []


@cache
def _adapter(declared: Any, paged: bool) -> TypeAdapter[Any]:
    if paged:
        # A page of the declared item: Page[A] | Page[B] for a union.
        declared = typing.Union[tuple(Page[m] for m in members(declared))]  # type: ignore[valid-type]  # noqa: UP007
    return TypeAdapter(declared)


def _undeclared(answer: Any, declared: Any, path: str = "") -> list[str]:
    """Keys of `answer` that the validated model, dumped back, does not have."""
    if isinstance(answer, dict) and isinstance(declared, dict):
        found = [f"{path}{key}" for key in answer if key not in declared]
        for key, value in answer.items():
            if key in declared:
                found += _undeclared(value, declared[key], f"{path}{key}.")
        return found
    if isinstance(answer, list) and isinstance(declared, list) and len(answer) == len(declared):
        return [
            p for i, (a, d) in enumerate(zip(answer, declared, strict=True)) for p in _undeclared(a, d, f"{path}{i}.")
        ]
    return []


def check(route: str, declared: Any, body: Any, *, paged: bool) -> None:
    """Raise ResponseMismatch unless `body` (the JSON about to be sent) is an instance of the
    declared model, with no field the model does not declare."""
    if not members(declared) or body is None:
        return
    answer = json.loads(json.dumps(body, default=str))  # exactly what the client receives
    adapter = _adapter(declared, paged)
    try:
        validated = adapter.validate_python(answer)
    except ValidationError as exc:
        problems = sorted({".".join(str(p) for p in e["loc"]) + f": {e['type']}" for e in exc.errors()})
        # `from None`: pydantic's message quotes the values, which may be personal.
        raise ResponseMismatch(f"{route} answers a body that does not match its response model: {problems}") from None
    extra = _undeclared(answer, adapter.dump_python(validated, mode="json"))
    if extra:
        raise ResponseMismatch(f"{route} answers fields its response model does not declare: {extra}")
