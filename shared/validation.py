"""Pydantic payloads: the single description of a body, for validation, docs and OpenAPI.

`Payload` rejects unknown fields and caps every string, so a body that slips past a field's own
limits still cannot carry megabytes of text into Firestore. Bodies are validated strictly (no
integer for a boolean, no string for a number). Every rule a payload enforces is one the OpenAPI
document states (docs/api-contract.md): the markers here carry a rule and its JSON Schema
together, `NotNull[X]` (may be left out, never null), `DISTINCT` (`uniqueItems`), `OneOf`
(`enum`), `Changes` (`minProperties: 1`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from shared.errors import BadRequest, ValidationFailed

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Payload(BaseModel):
    """A request body or query: strict about unknown fields, every string capped."""

    # defer_build: a model's validator is built on its first use, so a cold start builds only
    # the models of the route it serves, not every model its area's modules declare.
    model_config = ConfigDict(extra="forbid", str_max_length=20_000, str_strip_whitespace=True, defer_build=True)


class Changes(Payload):
    """A partial update: every field may be left out, but not all of them."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    @model_validator(mode="after")
    def _something(self) -> Any:
        if not self.model_fields_set:
            raise ValueError("Send at least one field to change.")
        return self


class _NotNull:
    """Optional to send, never null: left out, the field keeps its default (None); sent as null,
    422. The document drops `null` from the field's types."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(_refuse_null, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        options = [o for o in json_schema.get("anyOf", []) if o != {"type": "null"}]
        if "anyOf" not in json_schema:
            return json_schema
        rest = {k: v for k, v in json_schema.items() if k != "anyOf"}
        return {**options[0], **rest} if len(options) == 1 else {**rest, "anyOf": options}


def _refuse_null(value: T) -> T:
    if value is None:
        raise PydanticCustomError("not_null", "May be left out, but not null.")
    return value


NotNull = Annotated[T | None, _NotNull()]


class _Distinct:
    """A list whose items must differ (`uniqueItems`)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(_distinct, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {**handler(schema), "uniqueItems": True}


def _distinct(items: list[T]) -> list[T]:
    if len({json.dumps(item, sort_keys=True, default=str) for item in items}) != len(items):
        raise PydanticCustomError("unique_items", "Each item may appear once.")
    return items


DISTINCT = _Distinct()


class OneOf:
    """A string from a closed set known when the code is deployed (a shipped catalogue, the IANA
    zones): stated as the document's `enum`, so a value outside it is a schema error (422)."""

    def __init__(self, values: Callable[[], Iterable[str]], message: str) -> None:
        self.values, self.message = values, message

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        for key in ("minLength", "maxLength", "pattern"):  # the enum says it all
            json_schema.pop(key, None)
        return {**json_schema, "enum": sorted(self.values())}

    def _check(self, value: str) -> str:
        if value not in set(self.values()):
            raise PydanticCustomError("enum", self.message)
        return value


def _not_a_number(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise PydanticCustomError("datetime_from_number", "Use an ISO 8601 date-time such as 2026-01-31T12:00:00Z.")
    return value


# A moment in a query: an ISO 8601 date-time with its offset (`format: date-time`), never a number
# of seconds (which pydantic would otherwise read as a Unix time).
Moment = Annotated[AwareDatetime, BeforeValidator(_not_a_number)]

# What pydantic strips from a payload's strings, and what `\s` means to its (Rust) regex engine:
# Unicode White_Space, spelled out so that every engine reads a pattern alike (ECMA's `\s` lacks
# U+0085 and adds U+FEFF; Python's adds U+001C-U+001F).
WHITE_SPACE = r"\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = f"[^{WHITE_SPACE}]"

# What `store.paginate` issues: URL-safe base64 without padding. A cursor of this form that the
# list did not issue names no page: 404.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,1000}$"


class PageQuery(Payload):
    """`limit` and `cursor` of every list (API.md: default 20, max 100); extend it with filters."""

    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: Annotated[str, StringConstraints(max_length=1000, pattern=CURSOR_PATTERN)] | None = None


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


def _json_number(text: str) -> float | int:
    """JSON has one kind of number: `10.0` is the integer 10 (as JSON Schema counts it), which the
    strict validation of a body then takes where an integer is declared."""
    value = float(text)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def parse_json_body(raw: bytes) -> Any:
    if not raw.strip():
        raise BadRequest("The request body is empty; JSON was expected.")
    try:
        return json.loads(raw, parse_float=_json_number)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError, bad UTF-8 and over-long integers; RecursionError a
        # body nested thousands deep.
        raise BadRequest("The request body is not valid JSON.") from exc


def validate(model: type[M], data: Any, *, what: str = "body") -> M:
    """A body is JSON and validated strictly (no integer for a boolean, no string for a number);
    a query is text, and its values are read as their declared types."""
    if model is not None and not isinstance(data, dict):
        raise ValidationFailed(
            f"The request {what} must be a JSON object.",
            details=[{"field": what, "message": "Expected an object."}],
        )
    try:
        return model.model_validate(data, strict=what == "body")
    except ValidationError as exc:
        raise ValidationFailed(f"The request {what} is invalid.", details=field_errors(exc)) from exc


class NoQuery(Payload):
    """The query of a route that declares none: any parameter is an unknown field (422)."""


def validate_query(model: type[M], args: Any) -> M:
    """Query strings are flat: a repeated key becomes a list only where the model wants one."""
    data: dict[str, Any] = {}
    for key in args:
        values = args.getlist(key)
        annotation = model.model_fields.get(key)
        wants_list = annotation is not None and "list" in str(annotation.annotation)
        data[key] = values if wants_list else values[-1]
    return validate(model, data, what="query")
