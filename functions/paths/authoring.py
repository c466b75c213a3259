"""Learning paths as content: authoring (whole path at once), reading, listing. See docs/paths.md.

Firestore layout:
  paths/{id}   title, subject, subject_key (case-folded, for the filter), description,
               interests, author_id, created_at, updated_at, modules [{id, title, lessons
               [{id, title, kind, topic, duration_seconds, body?, video_url?, exercise_id?,
               exam_type?, pass_score?}]}], and what lists and lookups need without reading
               the modules: module_count, lesson_count, estimated_minutes, lesson_ids (every
               lesson id in path order: `array_contains` finds a lesson's path in one read)
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from functions.paths.models import LessonIn, PathIn, PathOut, PathSummaryOut
from shared import store
from shared.auth import Principal, new_id
from shared.collections import EXAM_TYPES, EXERCISES, PATHS
from shared.errors import Forbidden, NotFound, PayloadTooLarge, ValidationFailed
from shared.logging import get_logger, log_fields
from shared.registry import composite_index
from shared.store import eq

log = get_logger("paths")

# A Firestore document holds at most 1 MiB; keep room for the field names and metadata.
MAX_DOCUMENT_BYTES = 900_000
SUMMARY_FIELDS = [
    "title",
    "subject",
    "description",
    "interests",
    "module_count",
    "lesson_count",
    "estimated_minutes",
    "created_at",
]
LESSON_FIELDS = ("body", "video_url", "exercise_id", "exam_type", "pass_score")

composite_index(PATHS, ("subject_key", "ASCENDING"), ("created_at", "DESCENDING"))
composite_index(PATHS, ("interests", "CONTAINS"), ("created_at", "DESCENDING"))
composite_index(PATHS, ("subject_key", "ASCENDING"), ("interests", "CONTAINS"), ("created_at", "DESCENDING"))


def _col(name: str) -> Any:
    return store.db().collection(name)


def subject_key(subject: str) -> str:
    return " ".join(subject.split()).casefold()


# Reading ---------------------------------------------------------------------------------------


def path_out(path_id: str, data: dict[str, Any]) -> PathOut:
    return PathOut(id=path_id, **{k: v for k, v in data.items() if k in PathOut.model_fields})


def summary_out(path_id: str, data: dict[str, Any]) -> PathSummaryOut:
    return PathSummaryOut(id=path_id, **{k: v for k, v in data.items() if k in PathSummaryOut.model_fields})


def list_paths(subject: str | None, interest: str | None, limit: int, cursor: str | None) -> store.Page:
    """Newest first. The projection keeps lesson bodies out of the list (same reads, less data)."""
    query = _col(PATHS).select(SUMMARY_FIELDS)
    if subject:
        query = query.where(filter=eq("subject_key", subject_key(subject)))
    if interest:
        query = query.where(filter=FieldFilter("interests", "array_contains", interest))
    return store.paginate(
        query,
        _col(PATHS),
        [("created_at", store.DESCENDING)],
        limit,
        cursor,
        lambda s: summary_out(s.id, s.to_dict() or {}),
    )


def find_lesson(path: dict[str, Any], lesson_id: str) -> dict[str, Any] | None:
    for module in path.get("modules") or []:
        for lesson in module.get("lessons") or []:
            if lesson.get("id") == lesson_id:
                return dict(lesson)
    return None


def lessons_of(path: dict[str, Any]) -> list[dict[str, Any]]:
    return [lesson for module in path.get("modules") or [] for lesson in module.get("lessons") or []]


def path_of_lesson(lesson_id: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The path holding the lesson, and the lesson: one query, one read."""
    found = _col(PATHS).where(filter=FieldFilter("lesson_ids", "array_contains", lesson_id)).limit(1).get()
    if not found:
        raise NotFound("No such lesson.")
    data = found[0].to_dict() or {}
    lesson = find_lesson(data, lesson_id)
    if lesson is None:
        raise NotFound("No such lesson.")
    return found[0].id, data, lesson


# Writing ---------------------------------------------------------------------------------------


def _assign_ids(body: PathIn, known_modules: set[str], known_lessons: set[str]) -> list[dict[str, Any]]:
    """The modules as stored, with ids. A given id must name a module or lesson of this path as
    it stands (so progress keyed by it carries over), at most once; new ones get fresh ids."""
    details: list[dict[str, str]] = []
    seen: set[str] = set()
    modules: list[dict[str, Any]] = []
    for m, module in enumerate(body.modules):
        if module.id is not None and (module.id not in known_modules or module.id in seen):
            details.append({"field": f"modules.{m}.id", "message": "Not a module of this path (or given twice)."})
        module_id = module.id or new_id()
        seen.add(module_id)
        lessons = []
        for n, lesson in enumerate(module.lessons):
            if lesson.id is not None and (lesson.id not in known_lessons or lesson.id in seen):
                details.append(
                    {"field": f"modules.{m}.lessons.{n}.id", "message": "Not a lesson of this path (or given twice)."}
                )
            lesson_id = lesson.id or new_id()
            seen.add(lesson_id)
            lessons.append(_lesson_doc(lesson_id, lesson))
        modules.append({"id": module_id, "title": module.title, "lessons": lessons})
    if details:
        # An id that names nothing of this path, or whose one module or lesson is taken already by
        # an earlier use: a reference to something that is not there (404). No schema states
        # "unique across nested lists", so it cannot be a 422 the document announces.
        raise NotFound("Ids must name modules and lessons of this path, each once.", details=details)
    return modules


def _lesson_doc(lesson_id: str, lesson: LessonIn) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": lesson_id,
        "title": lesson.title,
        "kind": lesson.kind,
        "topic": lesson.topic,
        "duration_seconds": lesson.duration_seconds,
    }
    for name in LESSON_FIELDS:
        value = getattr(lesson, name)
        if value is not None:
            doc[name] = value
    return doc


def check_references(body: PathIn) -> None:
    """Every exercise and exam type a lesson names must exist (one read per distinct name)."""
    wanted: dict[tuple[str, str], list[str]] = {}
    for m, module in enumerate(body.modules):
        for n, lesson in enumerate(module.lessons):
            if lesson.exercise_id is not None:
                wanted.setdefault((EXERCISES, lesson.exercise_id), []).append(f"modules.{m}.lessons.{n}.exercise_id")
            if lesson.exam_type is not None:
                wanted.setdefault((EXAM_TYPES, lesson.exam_type), []).append(f"modules.{m}.lessons.{n}.exam_type")
    if not wanted:
        return
    refs = [_col(collection).document(doc_id) for collection, doc_id in wanted]
    found = {(s.reference.parent.id, s.id) for s in store.db().get_all(refs) if s.exists}
    details = [
        {"field": field, "message": "Unknown exercise." if collection == EXERCISES else "Unknown exam type."}
        for (collection, doc_id), fields in wanted.items()
        if (collection, doc_id) not in found
        for field in fields
    ]
    if details:
        details.sort(key=lambda d: d["field"])
        # API.md: a lesson naming an unknown exercise or exam type is a 422 (the body's own fault).
        raise ValidationFailed("A lesson names an exercise or exam type that does not exist.", details=details)


def _document(body: PathIn, modules: list[dict[str, Any]]) -> dict[str, Any]:
    lessons = [lesson for module in modules for lesson in module["lessons"]]
    doc = {
        "title": body.title,
        "subject": body.subject,
        "subject_key": subject_key(body.subject),
        "description": body.description,
        "interests": body.interests,
        "modules": modules,
        "module_count": len(modules),
        "lesson_count": len(lessons),
        "estimated_minutes": math.ceil(sum(lesson["duration_seconds"] for lesson in lessons) / 60),
        "lesson_ids": [lesson["id"] for lesson in lessons],
    }
    if len(json.dumps(doc, default=str).encode()) > MAX_DOCUMENT_BYTES:
        raise PayloadTooLarge(
            "The path is too large to store; split it into several paths.",
            details=[{"field": "modules", "message": "Too large."}],
        )
    return doc


def create_path(author_id: str, body: PathIn, now: datetime, *, path_id: str | None = None) -> PathOut:
    """A new path (`path_id` only for fixed demo ids; `create` refuses an existing one)."""
    modules = _assign_ids(body, set(), set())
    check_references(body)
    path_id = path_id or new_id()
    doc = {**_document(body, modules), "author_id": author_id, "created_at": now, "updated_at": now}
    _col(PATHS).document(path_id).create(doc)
    log.info("path created", extra=log_fields(path_id=path_id, lessons=doc["lesson_count"]))
    return path_out(path_id, doc)


def _owned(path_id: str, data: dict[str, Any] | None, principal: Principal) -> dict[str, Any]:
    """Paths are visible to every signed-in user, so a stranger's edit is 403, not 404."""
    if data is None:
        raise NotFound("No such path.")
    if not (principal.is_admin or data.get("author_id") == principal.user_id):
        raise Forbidden("Only the path's author or an admin may change it.")
    return data


def update_path(path_id: str, principal: Principal, body: PathIn, now: datetime) -> PathOut:
    """Replace the whole path. Lessons sent with their id keep it (and every learner's progress
    on them); lessons left out are gone, and so is their weight in everyone's percent."""
    ref = _col(PATHS).document(path_id)

    def work(txn: store.Transaction) -> dict[str, Any]:
        current = _owned(path_id, ref.get(transaction=txn).to_dict(), principal)
        known_lessons = set(current.get("lesson_ids") or [])
        known_modules = {m.get("id") for m in current.get("modules") or []}
        modules = _assign_ids(body, {m for m in known_modules if m}, known_lessons)
        check_references(body)
        doc = {
            **_document(body, modules),
            "author_id": current["author_id"],
            "created_at": current["created_at"],
            "updated_at": now,
        }
        txn.set(ref, doc)
        return doc

    doc = store.run_transaction(work)
    log.info("path updated", extra=log_fields(path_id=path_id, lessons=doc["lesson_count"]))
    return path_out(path_id, doc)


def delete_path(path_id: str, principal: Principal) -> None:
    """The path goes; learners' enrolments stay behind and drop out of their lists."""
    ref = _col(PATHS).document(path_id)

    def work(txn: store.Transaction) -> None:
        _owned(path_id, ref.get(transaction=txn, field_paths=["author_id"]).to_dict(), principal)
        txn.delete(ref)

    store.run_transaction(work)
    log.info("path deleted", extra=log_fields(path_id=path_id))
