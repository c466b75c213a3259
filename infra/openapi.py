"""The OpenAPI 3.1 document, from the same pydantic models that validate each route."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from shared.config import settings
from shared.http import all_methods
from shared.registry import FunctionSpec

_STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content"}

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


def _ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        schemas[name] = sub
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def openapi_document(specs: dict[str, FunctionSpec]) -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    http = [s for s in specs.values() if s.kind == "http"]
    for spec, method in all_methods(http):
        operation: dict[str, Any] = {
            "operationId": f"{spec.entry_point}_{method.verb.lower()}",
            "summary": method.summary,
            "tags": [spec.area],
            "x-function": spec.name,
            "x-access": method.access.describe(),
            "responses": {
                "default": {
                    "description": "Error",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
            },
        }
        parameters = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in spec.spec.param_names
        ]
        if method.query is not None:
            for name, field in method.query.model_fields.items():
                parameters.append(
                    {
                        "name": name,
                        "in": "query",
                        "required": field.is_required(),
                        "schema": {"type": "string"},
                        "description": field.description or "",
                    }
                )
        if parameters:
            operation["parameters"] = parameters
        if not method.access.public:
            operation["security"] = [{"bearer": []}]
        if method.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ref(method.body, schemas)}},
            }
        success: dict[str, Any] = {"description": _STATUS_TEXT.get(method.status, "OK")}
        if method.response is not None and method.status != 204:
            success["content"] = {"application/json": {"schema": _ref(method.response, schemas)}}
        operation["responses"][str(method.status)] = success
        paths.setdefault(spec.path or "", {})[method.verb.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Studyhall API", "version": settings().version},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
