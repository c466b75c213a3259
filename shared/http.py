"""The HTTP layer: one deployed function serves the methods of one route.

    me = HttpFunction("auth-me", "/api/v1/auth/me")

    @me.get(response=UserOut)
    def read_me(call: Call[None]) -> UserOut:
        return service.get_user(call.user.user_id)

The function takes care of what every route shares: request id and structured log, CORS, the
body limit, JSON parsing and pydantic validation, the caller and their role, the JSON errors
of API.md, and never a stack trace in a response.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import flask
from google.api_core import exceptions as gexc
from pydantic import BaseModel

from shared import conformance, store
from shared.access import require_student_access
from shared.audit import Client
from shared.auth import STAFF_ROLES, Principal, authenticate, require_role
from shared.client_address import client_address
from shared.config import settings
from shared.errors import (
    ApiError,
    BadRequest,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
)
from shared.logging import get_logger, log_fields, request_id_var, trace_var
from shared.registry import FunctionSpec, register
from shared.validation import NoQuery, parse_json_body, validate, validate_query

log = get_logger("http")

B = TypeVar("B")
Q = TypeVar("Q")

_PARAM = re.compile(r"\{([a-z_]+)\}")
# A path parameter names a document: Firestore rejects ".", ".." and ids like "__x__".
_PARAM_VALUE = re.compile(r"^(?!\.{1,2}$)(?!__.*__$)[A-Za-z0-9_.:@\-]{1,128}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9\-]{8,64}$")
_ALLOWED_HEADERS = "Authorization, Content-Type, X-Request-Id"


@dataclass(frozen=True)
class Access:
    """Who may call a method: anyone, any signed-in user, or the listed roles; and, with
    `student_param`, only about that student: themself, a teacher of their class, an admin;
    with `owner_param`, only the user that path parameter names (the `owner`) or an admin,
    checked before the body is read (`refusal` is the 403's message)."""

    public: bool = False
    roles: frozenset[str] | None = None
    student_param: str | None = None
    owner_param: str | None = None
    owner: str = "user"
    refusal: str = "You may only act on your own account."
    # Read the caller's user document with the session, in one round trip (Principal.account).
    with_account: bool = False
    # Only about the school this path parameter names: its school admins or an admin (no read).
    school_param: str | None = None

    def describe(self) -> str:
        if self.public:
            return "public"
        who = "signed-in" if self.roles is None else "roles: " + ", ".join(sorted(self.roles))
        if self.student_param:
            who += f"; the student {{{self.student_param}}}, a teacher of their class, or an admin"
        if self.owner_param:
            admitted = self.roles is None or "admin" in self.roles
            who += f"; the {self.owner} {{{self.owner_param}}} themself" + (" or an admin" if admitted else "")
        if self.school_param:
            who += f"; a school admin of the school {{{self.school_param}}}, or an admin"
        return who

    def require_owner(self, principal: Principal, params: dict[str, str]) -> None:
        if self.owner_param and not principal.is_self_or_admin(params[self.owner_param]):
            raise Forbidden(self.refusal)
        if self.school_param and not principal.runs_school(params[self.school_param]):
            raise Forbidden("You may only run your own school.")


PUBLIC = Access(public=True)
SIGNED_IN = Access()
SIGNED_IN_WITH_ACCOUNT = Access(with_account=True)


def roles(*names: str) -> Access:
    return Access(roles=frozenset(names))


def student_data(param: str) -> Access:
    """The learning data of the student named by path parameter `param` (shared/access.py)."""
    return Access(student_param=param)


def self_or_admin(param: str) -> Access:
    """An account's own things: the user named by path parameter `param`, or an admin."""
    return Access(owner_param=param)


def school_admin_or_admin(param: str) -> Access:
    """A school's own business: its school admins (their session's school is `param`) or an admin."""
    return Access(roles=frozenset({"school_admin", "admin"}), school_param=param)


def teacher_self_or_admin(param: str) -> Access:
    """A teacher's own classes, requests and dashboard: the teacher named by `param` (a teacher
    or a school admin), or an admin."""
    return Access(
        roles=frozenset({*STAFF_ROLES, "admin"}),
        owner_param=param,
        owner="teacher",
        refusal="You may only see your own classes.",
    )


def student_self(param: str) -> Access:
    """What only a student does for themself (joining a class): the student named by `param`."""
    return Access(roles=frozenset({"student"}), owner_param=param, owner="student")


@dataclass
class Response:
    """An answer other than a plain 200 with a model: a status, a body, headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Streamed:
    """A 200 whose JSON body is sent while it is made, so memory stays bounded whatever its size
    (the data export). The route's declared response model describes the whole body; the
    producer builds each part from that model. Firestore operations made while streaming are
    counted into the request's meter and logged when the stream ends (the `X-Firestore-Ops`
    header, sent before the body, counts only those made before it)."""

    chunks: Iterable[str]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call(Generic[B, Q]):
    """What a handler receives: the validated body and query, path params and the caller."""

    request: flask.Request
    body: B
    query: Q
    params: dict[str, str]
    principal: Principal | None
    now: datetime
    ip: str
    user_agent: str
    request_id: str

    @property
    def user(self) -> Principal:
        if self.principal is None:
            raise Unauthorized()
        return self.principal

    @property
    def client(self) -> Client:
        """Where the request came from, for sessions and the audit trail."""
        return Client(ip=self.ip, user_agent=self.user_agent)


@dataclass(frozen=True)
class Upload:
    """What an upload route takes: a multipart form's `file` field, or the file as the body in one
    of `media_types`; never empty; `pattern`, what its text must match (the document states it)."""

    media_types: tuple[str, ...]
    pattern: str | None = None


@dataclass
class Method:
    verb: str
    handler: Callable[[Call[Any, Any]], Any]
    access: Access
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None  # a model, or a union of models (`A | B`)
    status: int = 200
    # Other success statuses answered with the same body (an enrolment again: 200 rather than 201).
    also: tuple[int, ...] = ()
    # An upload route: the file, read by the handler (shared/uploads.py) rather than parsed as JSON.
    raw_body: Upload | None = None
    before: tuple[Callable[[Call[Any, Any]], None], ...] = ()
    summary: str = ""
    # The statuses the business rules answer beyond those the declaration implies (derived_errors):
    # `errors=(409, 415)`. Listed per operation in docs/openapi.json, held outside production.
    errors: tuple[int, ...] = ()


def _client_ip(request: flask.Request) -> str:
    config = settings()
    return client_address(
        request.headers.get("X-Forwarded-For", ""),
        request.remote_addr,
        config.trusted_proxy_hops,
        config.trusted_proxies,
    )


def _json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> flask.Response:
    data = "" if body is None else json.dumps(body, default=str, separators=(",", ":"))
    response = flask.Response(data, status=status, mimetype="application/json")
    if body is None:
        del response.headers["Content-Type"]
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, store.Page):
        return {**value.body(), "items": [_dump(item) for item in value.items]}
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


class HttpFunction:
    """One route, one deployed function, the methods it serves."""

    def __init__(self, name: str, path: str, *, memory: str = "256Mi", timeout_seconds: int = 60, **deploy: Any):
        self.path = path
        self.param_names = _PARAM.findall(path)
        pattern = _PARAM.sub(
            lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(path).replace(r"\{", "{").replace(r"\}", "}")
        )
        self._pattern = re.compile(f"^{pattern}/?$")
        self.methods: dict[str, Method] = {}
        self.spec: FunctionSpec = register(
            FunctionSpec(
                name=name,
                kind="http",
                area=name.split("-")[0],
                handler=self.handle,
                path=path,
                memory=memory,
                timeout_seconds=timeout_seconds,
                spec=self,
                **deploy,
            )
        )

    # Declaring methods ------------------------------------------------------------------------

    def _method(self, verb: str, access: Access, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
            if verb in self.methods:
                raise ValueError(f"{self.spec.name} declares {verb} twice")
            for param in (access.student_param, access.owner_param, access.school_param):
                if param is not None and param not in self.param_names:
                    raise ValueError(f"{self.spec.name}: the access of {verb} names no path parameter {param!r}")
            summary = options.pop("summary", None) or (handler.__doc__ or "").strip().split("\n")[0]
            errors = tuple(options.pop("errors", ()))
            if not all(isinstance(s, int) and 400 <= s <= 599 and s != 405 for s in errors):
                raise ValueError(f"{self.spec.name}: errors of {verb} must be 4xx/5xx statuses (405 is implied)")
            options["errors"] = tuple(sorted(set(errors)))
            self.methods[verb] = Method(verb=verb, handler=handler, access=access, summary=summary, **options)
            self.spec.methods = sorted(self.methods)
            return handler

        return decorate

    def get(self, access: Access = SIGNED_IN, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._method("GET", access, **options)

    def post(self, access: Access = SIGNED_IN, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._method("POST", access, **options)

    def put(self, access: Access = SIGNED_IN, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._method("PUT", access, **options)

    def patch(self, access: Access = SIGNED_IN, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._method("PATCH", access, **options)

    def delete(self, access: Access = SIGNED_IN, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._method("DELETE", access, **options)

    def derived_errors(self, method: Method) -> set[int]:
        """The error statuses a method's declaration implies: 422 always (a query parameter it does
        not declare, or one that does not fit), 401/403 when it needs a caller, 404 with a path
        parameter, 400/413 with a body, 404 when it pages (a cursor this list did not issue names
        no page), 429 with a `before=` rate limit."""
        statuses: set[int] = {422}  # a query parameter the route does not declare
        if not method.access.public:
            statuses |= {401, 403}
        if self.param_names:
            statuses.add(404)
        if method.body is not None or method.raw_body:
            statuses |= {400, 413}
        if method.query is not None and "cursor" in method.query.model_fields:
            statuses.add(404)  # store.paginate: a cursor of another list names no page here
        if method.before:
            statuses.add(429)
        return statuses

    def error_statuses(self, method: Method) -> list[int]:
        """The error statuses the method documents: derived and declared (docs/openapi.json)."""
        return sorted(self.derived_errors(method) | set(method.errors))

    def _holds(self, method: Method, status: int, code: str = "") -> None:
        """Outside production an error answer the route neither implies nor declares is a mismatch:
        a 500 with a log naming the route and the status (like shared/conformance.py for bodies).
        5xx and 405 need no declaration."""
        if settings().env == "production" or status >= 500 or status == 405:
            return
        if status in method.errors or status in self.derived_errors(method):
            return
        log.error(
            "error status not declared by its route",
            extra=log_fields(
                function=self.spec.name,
                problem=f"{method.verb} {self.path} answers {status}{f' ({code})' if code else ''}, "
                "which its declaration neither implies nor lists in errors=",
            ),
        )
        raise ApiError() from None

    # Serving ------------------------------------------------------------------------------------

    def match(self, path: str) -> dict[str, str] | None:
        found = self._pattern.match(path)
        if found is None:
            return None
        params = found.groupdict()
        if not all(_PARAM_VALUE.fullmatch(v) for v in params.values()):
            return None
        return params

    def handle(self, request: flask.Request) -> flask.Response:
        started = time.perf_counter()
        incoming_id = request.headers.get("X-Request-Id", "")
        request_id = incoming_id if _REQUEST_ID.match(incoming_id) else uuid.uuid4().hex
        request_id_var.set(request_id)
        trace_var.set(self._trace(request))
        meter = store.start_metering()
        cors = self._cors_headers(request)
        principal: Principal | None = None
        try:
            if request.method == "OPTIONS":
                response = self._preflight(request, cors)
            else:
                response, principal = self._dispatch(request, request_id)
        except ApiError as error:
            response = _json_response(error.status, error.body(), error.headers)
        except gexc.InvalidArgument:
            # Firestore refused an identifier taken from the request (a reserved or malformed id).
            log.warning("firestore rejected an identifier", extra=log_fields(function=self.spec.name))
            response = _json_response(404, NotFound().body())
        except Exception:
            log.exception("unhandled error", extra=log_fields(function=self.spec.name))
            response = _json_response(500, ApiError().body())
        response.headers["X-Request-Id"] = request_id
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.update(cors)
        if settings().expose_ops:
            response.headers["X-Firestore-Ops"] = meter.header()
        log.info(
            f"{request.method} {self.path} {response.status_code}",
            extra=log_fields(
                httpRequest={
                    "requestMethod": request.method,
                    "requestUrl": request.path,
                    "status": response.status_code,
                    "latency": f"{time.perf_counter() - started:.4f}s",
                    "userAgent": request.headers.get("User-Agent", "")[:200],
                },
                function=self.spec.name,
                user_id=principal.user_id if principal else None,
                firestore_reads=meter.reads,
                firestore_writes=meter.writes + meter.deletes,
            ),
        )
        return response

    def _dispatch(self, request: flask.Request, request_id: str) -> tuple[flask.Response, Principal | None]:
        params = self.match(request.path)
        if params is None:
            raise NotFound("No such route.")
        method = self.methods.get(request.method) or (self.methods.get("GET") if request.method == "HEAD" else None)
        if method is None:
            raise MethodNotAllowed(headers={"Allow": ", ".join(self._allowed())})
        self._check_size(request, method)  # any route, like 405: not the declaration's story
        try:
            return self._serve(request, request_id, method, params)
        except ServiceUnavailable:
            raise  # an outage, or a write that lost its race after every retry (Contention, 409)
        except ApiError as error:
            self._holds(method, error.status, error.code)
            raise
        except gexc.InvalidArgument:
            self._holds(method, NotFound.status, NotFound.code)
            raise

    def _serve(
        self, request: flask.Request, request_id: str, method: Method, params: dict[str, str]
    ) -> tuple[flask.Response, Principal | None]:
        now = store.now()
        access = method.access
        authorization = request.headers.get("Authorization")
        principal = None if access.public else authenticate(authorization, now, with_account=access.with_account)
        if principal is not None and access.roles is not None:
            require_role(principal, access.roles)
        if principal is not None:
            access.require_owner(principal, params)  # before the body is read
        body = self._parse_body(request, method)
        query: BaseModel | None = validate_query(method.query or NoQuery, request.args)
        if method.query is None:
            query = None  # checked empty: the handler takes no query
        if principal is not None and access.student_param:
            require_student_access(principal, params[access.student_param])
        call: Call[Any, Any] = Call(
            request=request,
            body=body,
            query=query,
            params=params,
            principal=principal,
            now=now,
            ip=_client_ip(request),
            user_agent=request.headers.get("User-Agent", "")[:256],
            request_id=request_id,
        )
        for check in method.before:
            check(call)
        result = method.handler(call)
        return self._answer(result, method), principal

    def _answer(self, result: Any, method: Method) -> flask.Response:
        if isinstance(result, Streamed):
            body = self._streamed(result.chunks, store.current_meter())
            return flask.Response(body, status=200, mimetype="application/json", headers=result.headers)
        if isinstance(result, flask.Response):
            if result.status_code >= 400:
                self._holds(method, result.status_code)
            return result
        if isinstance(result, Response):
            if result.status >= 400:
                self._holds(method, result.status)
            return _json_response(result.status, self._checked(method, result.body), result.headers)
        if result is None:
            return _json_response(204, None)
        return _json_response(method.status, self._checked(method, result))

    def _streamed(self, chunks: Iterable[str], meter: store.OpMeter | None) -> Iterator[bytes]:
        """The chunks as bytes, counted into the request's meter (the server iterates the body
        after `handle` returns); a failure mid-stream is logged, and the cut body is not JSON."""
        if meter is not None:
            store.resume_metering(meter)
        try:
            for chunk in chunks:
                yield chunk.encode()
        except Exception:
            log.exception("streamed response failed", extra=log_fields(function=self.spec.name))
            raise
        finally:
            if meter is not None:
                log.info(
                    "streamed response ended",
                    extra=log_fields(
                        function=self.spec.name,
                        firestore_reads=meter.reads,
                        firestore_writes=meter.writes + meter.deletes,
                    ),
                )

    def _checked(self, method: Method, result: Any) -> Any:
        """The JSON body of `result`; outside production, held to the declared response model."""
        body = _dump(result)
        if settings().env != "production" and method.response is not None:
            paged = isinstance(result, store.Page) and not any(
                "items" in m.model_fields for m in conformance.members(method.response)
            )
            try:
                conformance.check(f"{method.verb} {self.path}", method.response, body, paged=paged)
            except conformance.ResponseMismatch as exc:
                log.error(
                    "response does not match its declared model",
                    extra=log_fields(function=self.spec.name, problem=str(exc)),
                )
                raise ApiError() from None
        return body

    def _check_size(self, request: flask.Request, method: Method) -> None:
        limit = settings().max_upload_bytes if method.raw_body else settings().max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")

    def _parse_body(self, request: flask.Request, method: Method) -> Any:
        if method.body is None:
            return None
        mimetype = request.mimetype or ""
        if mimetype != "application/json" and not mimetype.endswith("+json"):
            raise BadRequest("Send the body as application/json.")
        limit = settings().max_body_bytes
        raw = request.stream.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        return validate(method.body, parse_json_body(raw))

    def _allowed(self) -> list[str]:
        verbs = set(self.methods) | {"OPTIONS"}
        if "GET" in verbs:
            verbs.add("HEAD")
        return sorted(verbs)

    @staticmethod
    def _trace(request: flask.Request) -> str | None:
        header = request.headers.get("X-Cloud-Trace-Context", "")
        trace_id = header.split("/")[0]
        if not re.fullmatch(r"[0-9a-f]{32}", trace_id):
            return None
        return f"projects/{settings().project_id}/traces/{trace_id}"

    @staticmethod
    def _cors_headers(request: flask.Request) -> dict[str, str]:
        origin = request.headers.get("Origin")
        if origin and origin in settings().allowed_origins:
            return {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Expose-Headers": "X-Request-Id, Retry-After",
                "Vary": "Origin",
            }
        return {"Vary": "Origin"}

    def _preflight(self, request: flask.Request, cors: dict[str, str]) -> flask.Response:
        if "Access-Control-Allow-Origin" not in cors:
            raise Forbidden("This origin is not allowed.")
        if self.match(request.path) is None:
            raise NotFound("No such route.")
        wanted = request.headers.get("Access-Control-Request-Method", "")
        if wanted and wanted not in self._allowed():
            raise MethodNotAllowed(headers={"Allow": ", ".join(self._allowed())})
        response = _json_response(204, None)
        response.headers["Access-Control-Allow-Methods"] = ", ".join(self._allowed())
        response.headers["Access-Control-Allow-Headers"] = _ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
        return response


def all_methods(functions: Iterable[FunctionSpec]) -> list[tuple[FunctionSpec, Method]]:
    """Every (function, method) pair: for OpenAPI and tests."""
    pairs: list[tuple[FunctionSpec, Method]] = []
    for spec in functions:
        route: HttpFunction = spec.spec
        pairs.extend((spec, route.methods[verb]) for verb in sorted(route.methods))
    return pairs
