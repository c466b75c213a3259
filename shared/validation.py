"""Pydantic payloads: the single description of a body, for validation, docs and OpenAPI.

`Payload` rejects unknown fields and caps every string, so a body that slips past a field's own
limits still cannot carry megabytes of text into Firestore.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from shared.errors import BadRequest, ValidationFailed

M = TypeVar("M", bound=BaseModel)

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Payload(BaseModel):
    """A request body or query: strict about unknown fields, every string capped."""

    # defer_build: a model's validator is built on its first use, so a cold start builds only
    # the models of the route it serves, not every model its area's modules declare.
    model_config = ConfigDict(extra="forbid", str_max_length=20_000, str_strip_whitespace=True, defer_build=True)


class PageQuery(Payload):
    """`limit` and `cursor` of every list (API.md: default 20, max 100); extend it with filters."""

    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: Annotated[str, StringConstraints(max_length=1000)] | None = None


class Out(BaseModel):
    """A response model: what the API promises to return."""

    model_config = ConfigDict(extra="ignore", defer_build=True)


ItemT = TypeVar("ItemT")


class Page(Out, Generic[ItemT]):
    """One page of a list (API.md): `Page[ClassOut]`, or what a handler returning a
    `store.Page` of a declared item model answers."""

    items: list[ItemT]
    next_cursor: str | None = None


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as API.md `details`; never echoes the rejected input (it may be a password)."""
    details = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(part) for part in error["loc"] if part != "__root__") or "body"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "Unknown field."
        details.append({"field": loc, "message": message})
    return details


def parse_json_body(raw: bytes) -> Any:
    if not raw.strip():
        raise BadRequest("The request body is empty; JSON was expected.")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError, bad UTF-8 and over-long integers; RecursionError a
        # body nested thousands deep.
        raise BadRequest("The request body is not valid JSON.") from exc


def validate(model: type[M], data: Any, *, what: str = "body") -> M:
    if model is not None and not isinstance(data, dict):
        raise ValidationFailed(
            f"The request {what} must be a JSON object.",
            details=[{"field": what, "message": "Expected an object."}],
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(f"The request {what} is invalid.", details=field_errors(exc)) from exc


def validate_query(model: type[M], args: Any) -> M:
    """Query strings are flat: a repeated key becomes a list only where the model wants one."""
    data: dict[str, Any] = {}
    for key in args:
        values = args.getlist(key)
        annotation = model.model_fields.get(key)
        wants_list = annotation is not None and "list" in str(annotation.annotation)
        data[key] = values if wants_list else values[-1]
    return validate(model, data, what="query")
