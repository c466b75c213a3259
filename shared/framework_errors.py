"""Our JSON error for what Flask rejects before a handler runs.

functions-framework routes every path to the function, but Werkzeug itself refuses some (a
newline in a path segment, a malformed request line) with its own HTML page. `main.py` installs
this handler on the app functions-framework builds, so every response is the JSON error of
API.md with our headers.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from werkzeug.exceptions import HTTPException

from shared.errors import ApiError, BadRequest, MethodNotAllowed, NotFound, PayloadTooLarge

_BY_STATUS: dict[int, type[ApiError]] = {400: BadRequest, 404: NotFound, 405: MethodNotAllowed, 413: PayloadTooLarge}


def json_error(error: HTTPException) -> Any:
    import flask

    status = error.code or 500
    known = _BY_STATUS.get(status)
    body = known().body() if known else {"error": {"code": "error", "message": error.name, "details": []}}
    response = flask.Response(json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json")
    response.headers["X-Request-Id"] = uuid.uuid4().hex
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def install(app: Any) -> None:
    """Answer framework-level HTTP errors (all but 500, which functions-framework handles) as JSON."""
    app.register_error_handler(HTTPException, json_error)
