"""The one registry of functions, declared next to each handler.

Every deployable function registers here when its area's `handlers` module is imported: its
name, trigger and entry point. `firebase.json`, `cloudbuild.yaml`, `infra/pubsub.json`,
`infra/scheduler.json`, the OpenAPI document and the local gateway are all derived from it.

Names are kebab-case and start with their area (`auth-login` lives in `functions/auth/`); the
entry point is the name in snake_case (`auth_login`). An area declares its functions in
`functions/<area>/handlers.py`, or, where its routes need different code, in the modules of a
`functions/<area>/handlers/` package. `shared/data/entry_points.json` (generated) names the
module that declares each entry point, so a cold start imports that module alone.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import pkgutil
import re
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import functions_framework

Kind = Literal["http", "event", "storage"]

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$")


@dataclass
class FunctionSpec:
    name: str
    kind: Kind
    area: str
    handler: Callable[..., Any]
    # http
    path: str | None = None
    methods: list[str] = field(default_factory=list)
    # event: the Pub/Sub topic it consumes; storage: the bucket setting it watches
    topic: str | None = None
    bucket_setting: str | None = None
    event_type: str | None = None
    # a scheduled event function: the Cloud Scheduler cron it is fired on
    schedule: str | None = None
    memory: str = "256Mi"
    timeout_seconds: int = 60
    max_attempts: int = 5
    spec: Any = None
    # Deploy options for a function unlike the others (the code grader): its own service
    # account (name before the @), instance caps, and a shell command run in a copy of the
    # source before it is deployed from that copy (fetching files kept out of git).
    service_account: str | None = None
    max_instances: int | None = None
    concurrency: int | None = None
    prepare: str | None = None

    @property
    def entry_point(self) -> str:
        return self.name.replace("-", "_")

    @property
    def module(self) -> str:
        """The module that declares this function: all that its cold start must import."""
        methods = getattr(self.spec, "methods", None)  # an HttpFunction: its methods' handlers
        declared = next(iter(methods.values())).handler if methods else self.spec
        return str(declared.__module__)


@dataclass(frozen=True)
class CompositeIndex:
    """A composite index a query needs: real Firestore rejects the query without it."""

    collection: str
    fields: tuple[tuple[str, str], ...]  # (field path, "ASCENDING" | "DESCENDING" | "CONTAINS")


_functions: dict[str, FunctionSpec] = {}
_indexes: set[CompositeIndex] = set()
_ttl_collections: set[str] = set()
_published_topics: set[str] = set()
# Topic -> the areas whose code declares publishing it (infra/iam.py grants publisher per area).
_publishers: dict[str, set[str]] = {}
_unindexed: set[tuple[str, str]] = set()


def expires(collection: str) -> str:
    """Declare that `collection` documents carry an `expires_at` TTL field (Firestore deletes
    them once it has passed). Returns the collection name, so it reads as a constant."""
    _ttl_collections.add(collection)
    return collection


def ttl_collections() -> list[str]:
    load_all()
    return sorted(_ttl_collections)


def published(topic: str, *, by: tuple[str, ...] = ()) -> str:
    """Declare a topic that code publishes to, so it exists even before any function consumes
    it (publishing to a missing topic fails). Returns the name, so it reads as a constant.
    The areas that publish it are `by` (a topic declared in the kernel names them), or the
    declaring area: their accounts get the publisher grant (infra/iam.py)."""
    _published_topics.add(topic)
    areas = _publishers.setdefault(topic, set())
    areas.update(by)
    declaring = sys._getframe(1).f_globals.get("__name__", "")
    if declaring.startswith("functions."):
        areas.add(declaring.split(".")[1])
    return topic


def published_topics() -> list[str]:
    load_all()
    return sorted(_published_topics)


def publishing_areas(topic: str) -> list[str]:
    """The areas whose modules declare publishing `topic` (none: only the shared kernel does)."""
    load_all()
    return sorted(_publishers.get(topic, set()))


def composite_index(collection: str, *fields: tuple[str, str]) -> CompositeIndex:
    """Declare, next to the query that needs it, an index for infra/firestore.indexes.json."""
    index = CompositeIndex(collection, tuple(fields))
    _indexes.add(index)
    return index


def unindexed(collection: str, field: str) -> None:
    """Declare a field exempt from Firestore's automatic single-field indexes (a large array or
    map that no query filters on: indexing it would cost an index entry per element)."""
    _unindexed.add((collection, field))


def unindexed_fields() -> list[tuple[str, str]]:
    load_all()
    return sorted(_unindexed)


def indexes() -> list[CompositeIndex]:
    load_all()
    return sorted(_indexes, key=lambda i: (i.collection, i.fields))


_entry_points: dict[str, types.FunctionType] = {}


def register(spec: FunctionSpec) -> FunctionSpec:
    if not _NAME.match(spec.name):
        raise ValueError(f"function name {spec.name!r} must be kebab-case: <area>-<what>")
    if spec.name.split("-")[0] != spec.area:
        raise ValueError(f"function {spec.name!r} must start with its area {spec.area!r}")
    existing = _functions.get(spec.name)
    if existing is not None and existing.handler is not spec.handler:
        raise ValueError(f"function {spec.name!r} is declared twice")
    _functions[spec.name] = spec

    handler = spec.handler

    def entry(*args: Any) -> Any:
        return handler(*args)

    entry.__name__ = entry.__qualname__ = spec.entry_point
    entry.__doc__ = f"Cloud Function entry point of {spec.name}."
    decorate = functions_framework.http if spec.kind == "http" else functions_framework.cloud_event
    _entry_points[spec.entry_point] = decorate(entry)  # type: ignore[assignment]
    return spec


ENTRY_POINTS = Path(__file__).resolve().parent / "data" / "entry_points.json"


@cache
def _declaring_modules() -> dict[str, str]:
    """Entry point -> declaring module, as generated (empty before the first `make generate`)."""
    try:
        return dict(json.loads(ENTRY_POINTS.read_text()))
    except FileNotFoundError:
        return {}


def entry_point_modules() -> dict[str, str]:
    """What `shared/data/entry_points.json` holds: every entry point and its declaring module."""
    return {spec.entry_point: spec.module for spec in load_all().values()}


def entry_point(target: str) -> types.FunctionType:
    """The entry point `target`, importing only the module that declares it (or, for a target
    the generated table does not know or places wrongly, its whole area)."""
    if target not in _entry_points:
        area = target.split("_")[0]
        if not re.fullmatch(r"[a-z][a-z0-9]*", area):
            raise AttributeError(target)
        module = _declaring_modules().get(target)
        if module is not None and module.startswith(f"functions.{area}.handlers"):
            # A table older than the code names a module that is gone: the area below finds the target.
            with contextlib.suppress(ModuleNotFoundError):
                importlib.import_module(module)
        if target not in _entry_points:
            try:
                _import_area(area)
            except ModuleNotFoundError as exc:
                raise AttributeError(target) from exc
    try:
        return _entry_points[target]
    except KeyError:
        raise AttributeError(target) from None


def _import_area(area: str) -> None:
    """Every module that declares functions of `area`."""
    handlers = importlib.import_module(f"functions.{area}.handlers")
    for module in pkgutil.iter_modules(getattr(handlers, "__path__", [])):
        importlib.import_module(f"{handlers.__name__}.{module.name}")


@dataclass(frozen=True)
class ApiGroup:
    """One group of operations in the API docs (an OpenAPI tag): its line of description and
    the areas whose routes it holds."""

    tag: str
    description: str
    areas: tuple[str, ...]


# Swagger UI's groups, in a reader's order. A new area with routes joins a group here
# (tests/test_api_docs.py fails until it does); a group may be listed before its routes land.
API_GROUPS = (
    ApiGroup(
        "auth",
        "Sign-up, sign-in, tokens and sessions, password recovery, email verification, live (Firebase) tokens.",
        ("auth",),
    ),
    ApiGroup("users", "Accounts: profile, avatar, status, data export.", ("users",)),
    ApiGroup("schools", "Schools, their invitations and members: the staff a school vouches for.", ("schools",)),
    ApiGroup(
        "classes",
        "Classes, rosters and joins; student profiles and interests; student requests; dashboards.",
        ("classes", "students"),
    ),
    ApiGroup("exams", "Practice exams: the question bank, CSV imports, exam sessions, weak areas.", ("exams",)),
    ApiGroup("exercises", "Python coding exercises and their sandbox-graded submissions.", ("exercises",)),
    ApiGroup("paths", "Learning paths: authoring, enrolment, lesson progress.", ("paths",)),
    ApiGroup("chat", "The tutor chat, grounded in the platform's own content.", ("chat",)),
    ApiGroup("progress", "XP, streaks, badges, mastery and leaderboards.", ("progress", "leaderboards")),
    ApiGroup("analytics", "Student, exercise, class and school analytics, read from aggregates.", ("analytics",)),
    ApiGroup("ops", "Health, scheduled jobs run on demand, the audit trail.", ("ops", "health", "audit")),
)


def api_group(area: str) -> ApiGroup:
    for group in API_GROUPS:
        if area in group.areas:
            return group
    raise LookupError(f"area {area!r} has routes but no group in shared.registry.API_GROUPS")


def areas() -> list[str]:
    import functions

    return sorted(m.name for m in pkgutil.iter_modules(functions.__path__) if m.ispkg and not m.name.startswith("_"))


def load_all() -> dict[str, FunctionSpec]:
    """Import every area and return the whole registry, ordered by name."""
    for area in areas():
        _import_area(area)
    return dict(sorted(_functions.items()))


def http_functions() -> list[FunctionSpec]:
    return [f for f in load_all().values() if f.kind == "http"]


def event_functions() -> list[FunctionSpec]:
    return [f for f in load_all().values() if f.kind != "http"]
