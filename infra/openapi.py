"""The OpenAPI 3.1 document, from the same pydantic models that validate each route.

Exact, and kept exact by schemathesis over this document against the test stack
(tests/test_openapi_conformance.py):
- every model of every route is described in one pass (`models_json_schema`), so two models of
  the same name in two areas get two distinct, module-qualified schemas instead of one overwriting
  the other;
- request bodies in validation mode, responses in serialization mode;
- a handler that returns a `Page` of a model that is not itself a page is documented as the page
  `{items: [model], next_cursor}`; a response declared as a union (`A | B`) as either;
- query parameters with their own types, bounds and enums; path parameters with the id pattern;
- the error answers each operation can give: those its declaration implies (401/403 when it needs
  a caller, 404 with a path parameter, 400/413/422 with a body, 422 with a query and 400 when it
  pages, 429 with a rate limit), those it declares (`errors=(409, ...)`: the business rules'
  statuses, held outside production by shared/http.py), and `default`;
- an upload route's bodies (multipart `file` field, or the file as the body);
- every rule a payload enforces on input (docs/api-contract.md): what `Payload`'s config adds to
  every string (the 20,000-character cap, and a non-blank pattern where surrounding white space
  is stripped before a minimum length is checked), and what the kernel's markers state
  (`NotNull`, `DISTINCT`, `OneOf`, `Changes`);
- operations grouped by tag in a reader's order, one line of description each
  (`shared.registry.API_GROUPS`).
"""

from __future__ import annotations

import types
import typing
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from shared.config import settings
from shared.http import Method, Upload, all_methods
from shared.registry import API_GROUPS, FunctionSpec, api_group
from shared.validation import NOT_BLANK

_STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content"}
_REF = "#/components/schemas/{model}"
# What a path parameter may be (shared.http refuses anything else with 404).
PATH_PARAM_SCHEMA = {"type": "string", "pattern": "^[A-Za-z0-9_.:@-]{1,128}$"}

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {"type": "object"}},
            },
        }
    },
}
_ERROR_TEXT = {
    400: "Malformed request (not JSON, wrong content type)",
    401: "No valid access token",
    403: "The caller's role or ownership does not allow it",
    404: (
        "No such resource, or a reference in the request to something that does not exist "
        "(a cursor this list did not issue, an unknown exercise, exam type or link token)"
    ),
    409: "Conflict with the current state (already done, taken, a condition not met)",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Rate limited (Retry-After)",
    503: "A dependency is unavailable (Retry-After when it is worth retrying)",
}


class PayloadJsonSchema(GenerateJsonSchema):
    """Pydantic's schema, plus what a model's config enforces on every string of a request."""

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        json_schema = super().str_schema(schema)
        config = self._config
        if "max_length" not in schema and config.str_max_length is not None:
            json_schema["maxLength"] = config.str_max_length
        strips = schema.get("strip_whitespace", config.str_strip_whitespace)
        if strips and json_schema.get("minLength", 0) >= 1 and "pattern" not in json_schema:
            # Stripped first, then measured: a blank string is too short.
            json_schema["pattern"] = NOT_BLANK
        return json_schema

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        json_schema = super().default_schema(schema)
        nullable = {"type": "null"} in json_schema.get("anyOf", []) or json_schema.get("type") == "null"
        if json_schema.get("default", ...) is None and not nullable:
            del json_schema["default"]  # a NotNull field left out: null is not a value it takes
        return json_schema


def _members(response: Any) -> list[type[BaseModel]]:
    """The models of a declared response: one model, or each member of a union."""
    if isinstance(response, types.UnionType) or typing.get_origin(response) is typing.Union:
        return [m for m in typing.get_args(response) if isinstance(m, type) and issubclass(m, BaseModel)]
    return [response] if isinstance(response, type) and issubclass(response, BaseModel) else []


def _returns_page(method: Method) -> bool:
    """The handler answers a `store.Page` while its declared model is one item of it."""
    annotation = str(method.handler.__annotations__.get("return", ""))
    members = _members(method.response)
    return "Page" in annotation and len(members) == 1 and "items" not in members[0].model_fields


def _page_of(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": item},
            "next_cursor": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
    }


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _error(status: int) -> dict[str, Any]:
    return {
        "description": _ERROR_TEXT.get(status) or _phrase(status),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _query_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: absent is its None, so `null` is not a value it can take."""
    schema = {k: v for k, v in schema.items() if k != "title" and not (k == "default" and v is None)}
    options = [o for o in schema.get("anyOf", []) if o != {"type": "null"}]
    if "anyOf" in schema:
        del schema["anyOf"]
        if len(options) == 1:
            schema.update(options[0])
        else:
            schema["anyOf"] = options
    return schema


def _query_parameters(model: type[BaseModel], schema: dict[str, Any]) -> list[dict[str, Any]]:
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    parameters = []
    for name, field in model.model_fields.items():
        param_schema = _query_schema(properties.get(name, {"type": "string"}))
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": param_schema,
        }
        if field.description:
            parameter["description"] = field.description
        parameters.append(parameter)
    return parameters


def _upload_body(upload: Upload) -> dict[str, Any]:
    """An upload: a multipart form's `file` part, or the file as the body. Never empty; its size
    and, for an image, its format are judged on its bytes (413, 415)."""
    # OpenAPI 3.1 spells a file as a string of a media type (`format: binary` is 3.0's, and
    # generators ignore `minLength` beside it).
    text: dict[str, Any] = {"type": "string", "minLength": 1}
    if upload.pattern:
        text["pattern"] = upload.pattern
    media_types = ", ".join(upload.media_types)
    form = {
        "type": "object",
        "additionalProperties": False,
        "required": ["file"],
        "properties": {"file": {**text, "contentMediaType": media_types}},
    }
    # `encoding`: the file is a file part (with a filename), not a plain form field.
    content: dict[str, Any] = {
        "multipart/form-data": {"schema": form, "encoding": {"file": {"contentType": media_types}}}
    }
    for media_type in upload.media_types:
        content[media_type] = {"schema": dict(text)}
    return {"required": True, "content": content}


def _reading_order(operations: dict[str, Any]) -> int:
    """Swagger UI lists tags in the document's order, and each tag's operations in path order."""
    tag = next(iter(operations.values()))["tags"][0]
    return [group.tag for group in API_GROUPS].index(tag)


def openapi_document(specs: dict[str, FunctionSpec]) -> dict[str, Any]:
    http = [s for s in specs.values() if s.kind == "http"]
    pairs = all_methods(http)

    # Every model in one pass: name collisions become distinct, module-qualified schemas.
    wanted: list[tuple[type[BaseModel], Any]] = []
    for _, method in pairs:
        if method.body is not None:
            wanted.append((method.body, "validation"))
        if method.query is not None:
            wanted.append((method.query, "validation"))
        wanted += [(m, "serialization") for m in _members(method.response)]
    unique = list(dict.fromkeys(wanted))
    refs, defs = models_json_schema(unique, ref_template=_REF, schema_generator=PayloadJsonSchema)
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA, **defs.get("$defs", {})}

    paths: dict[str, Any] = {}
    error_statuses: set[int] = set()
    query_schemas: set[str] = set()  # described as parameters, not as a schema
    for spec, method in pairs:
        operation: dict[str, Any] = {
            "operationId": f"{spec.entry_point}_{method.verb.lower()}",
            "summary": method.summary,
            "tags": [api_group(spec.area).tag],
            "x-function": spec.name,
            "x-access": method.access.describe(),
        }
        parameters: list[dict[str, Any]] = [
            {"name": p, "in": "path", "required": True, "schema": dict(PATH_PARAM_SCHEMA)}
            for p in spec.spec.param_names
        ]
        if method.query is not None:
            query_ref = refs[(method.query, "validation")]["$ref"].rsplit("/", 1)[-1]
            query_schemas.add(query_ref)
            parameters += _query_parameters(method.query, schemas[query_ref])
        if parameters:
            operation["parameters"] = parameters
        if not method.access.public:
            operation["security"] = [{"bearer": []}]
        if method.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(method.body, "validation")]}},
            }
        elif method.raw_body:
            operation["requestBody"] = _upload_body(method.raw_body)

        success: dict[str, Any] = {"description": _STATUS_TEXT.get(method.status, "OK")}
        members = [refs[(m, "serialization")] for m in _members(method.response)]
        if members and method.status != 204:
            body = members[0] if len(members) == 1 else {"anyOf": members}
            if _returns_page(method):
                body = _page_of(body)
            success["content"] = {"application/json": {"schema": body}}
        responses: dict[str, Any] = {str(method.status): success}
        for status in method.also:
            responses[str(status)] = {**success, "description": _STATUS_TEXT.get(status, "OK")}
        for status in spec.spec.error_statuses(method):
            error_statuses.add(status)
            responses[str(status)] = {"$ref": f"#/components/responses/Error{status}"}
        responses["default"] = {"$ref": "#/components/responses/Error"}
        operation["responses"] = responses
        paths.setdefault(spec.path or "", {})[method.verb.lower()] = operation
    for name in query_schemas:
        schemas.pop(name, None)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Studyhall API", "version": settings().version},
        "tags": [{"name": group.tag, "description": group.description} for group in API_GROUPS],
        "paths": dict(sorted(paths.items(), key=lambda item: (_reading_order(item[1]), item[0]))),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "responses": {
                **{f"Error{status}": _error(status) for status in sorted(error_statuses)},
                "Error": {
                    "description": "Any other error (500, 503; 409 when a write lost a race after every retry)",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
