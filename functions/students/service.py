"""Student profiles and interests. Plain values in and out; see docs/classes.md.

A profile is the student's `users/{id}` document (the auth area's: first_name, last_name,
grade_level, plus `interest_ids` kept here) and their active `class_memberships`. Who may read
it: the student, an admin, and a teacher with the student in one of their classes.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any

from functions.students.models import EnrolledClass, InterestOut, InterestsOut, ProfileOut
from shared import store
from shared.accounts import edit_account
from shared.audit import Client
from shared.auth import Principal
from shared.collections import CLASSES, MEMBERSHIPS, USERS
from shared.errors import Forbidden, NotFound, ValidationFailed
from shared.logging import get_logger, log_fields
from shared.registry import composite_index
from shared.store import eq

log = get_logger("students")


MAX_LISTED_CLASSES = 50


composite_index(MEMBERSHIPS, ("student_id", "ASCENDING"), ("status", "ASCENDING"), ("joined_at", "ASCENDING"))


# The interest catalogue ------------------------------------------------------------------------


@lru_cache(maxsize=1)
def catalogue() -> tuple[InterestOut, ...]:
    """The shipped catalogue (shared/data/interests.json), read once per process."""
    text = resources.files("shared.data").joinpath("interests.json").read_text("utf-8")
    return tuple(InterestOut.model_validate(item) for item in json.loads(text))


@lru_cache(maxsize=1)
def catalogue_by_id() -> dict[str, InterestOut]:
    return {item.id: item for item in catalogue()}


def resolve(interest_ids: list[str]) -> list[InterestOut]:
    known = catalogue_by_id()
    return [known[i] for i in interest_ids if i in known]


def check_interests(interest_ids: list[str]) -> None:
    known = catalogue_by_id()
    details = [
        {"field": f"interest_ids.{n}", "message": "Unknown interest."}
        for n, value in enumerate(interest_ids)
        if value not in known
    ]
    if details:
        raise ValidationFailed("Choose interests from the catalogue.", details=details)


# Access ------------------------------------------------------------------------------------------


def _active_memberships(student_id: str) -> list[dict[str, Any]]:
    query = (
        store.db()
        .collection(MEMBERSHIPS)
        .where(filter=eq("student_id", student_id))
        .where(filter=eq("status", "active"))
        .order_by("joined_at", direction=store.ASCENDING)
        .limit(MAX_LISTED_CLASSES)
    )
    return [s.to_dict() or {} for s in query.stream()]


def _teaches(teacher_id: str, student_id: str, memberships: list[dict[str, Any]] | None) -> bool:
    if memberships is not None and any(m.get("teacher_id") == teacher_id for m in memberships):
        return True
    if memberships is not None and len(memberships) < MAX_LISTED_CLASSES:
        return False
    query = (
        store.db()
        .collection(MEMBERSHIPS)
        .where(filter=eq("student_id", student_id))
        .where(filter=eq("teacher_id", teacher_id))
        .where(filter=eq("status", "active"))
        .limit(1)
    )
    return bool(list(query.stream()))


def require_reader(principal: Principal, student_id: str, memberships: list[dict[str, Any]] | None = None) -> None:
    """The student, an admin, or a teacher of one of the student's classes; nobody else.
    Everyone else gets the same 403 whether or not the student exists."""
    if principal.is_self_or_admin(student_id):
        return
    if principal.is_staff and _teaches(principal.user_id, student_id, memberships):
        return
    raise Forbidden("You may only see your own profile or those of your students.")


def require_writer(principal: Principal, student_id: str) -> None:
    if not principal.is_self_or_admin(student_id):
        raise Forbidden("You may only change your own profile.")


def _student(student_id: str) -> dict[str, Any]:
    data = store.db().collection(USERS).document(student_id).get().to_dict()
    if data is None or data.get("role") != "student" or data.get("status") == "archived":
        raise NotFound("No such student.")
    return data


# Profile -----------------------------------------------------------------------------------------


def _enrolled(memberships: list[dict[str, Any]]) -> list[EnrolledClass]:
    if not memberships:
        return []
    refs = [store.db().collection(CLASSES).document(m["class_id"]) for m in memberships]
    classes = {s.id: s.to_dict() or {} for s in store.db().get_all(refs) if s.exists}
    return [
        EnrolledClass(
            class_id=m["class_id"],
            name=classes[m["class_id"]].get("name", ""),
            subject=classes[m["class_id"]].get("subject", ""),
            teacher_id=m["teacher_id"],
            status=classes[m["class_id"]].get("status", "active"),
            joined_at=m["joined_at"],
        )
        for m in memberships
        if m["class_id"] in classes
    ]


def _profile(student_id: str, user: dict[str, Any], memberships: list[dict[str, Any]]) -> ProfileOut:
    interest_ids = [i for i in user.get("interest_ids") or [] if i in catalogue_by_id()]
    return ProfileOut(
        id=student_id,
        email=user.get("email", ""),
        first_name=user.get("first_name", ""),
        last_name=user.get("last_name", ""),
        grade_level=user.get("grade_level"),
        interest_ids=interest_ids,
        interests=resolve(interest_ids),
        classes=_enrolled(memberships),
    )


def get_profile(principal: Principal, student_id: str) -> ProfileOut:
    if principal.role == "student":
        require_reader(principal, student_id)  # another student: refused before any read
    memberships = _active_memberships(student_id)
    require_reader(principal, student_id, memberships)
    return _profile(student_id, _student(student_id), memberships)


def update_profile(
    principal: Principal, student_id: str, changes: dict[str, Any], client: Client, now: datetime
) -> ProfileOut:
    """Names and grade level live on `users/{id}`: the one write path of an account
    (shared/accounts.py) writes them, audits them and brings the roster copies along."""
    require_writer(principal, student_id)

    def is_student(account: dict[str, Any]) -> None:
        if account.get("role") != "student" or account.get("status") == "archived":
            raise NotFound("No such student.")

    user, _ = edit_account(student_id, changes, actor_id=principal.user_id, client=client, now=now, check=is_student)
    log.info("profile updated", extra=log_fields(user_id=student_id, fields=sorted(changes)))
    return _profile(student_id, user, _active_memberships(student_id))


# Interests ---------------------------------------------------------------------------------------


def _interests_out(student_id: str, user: dict[str, Any]) -> InterestsOut:
    ids = [i for i in user.get("interest_ids") or [] if i in catalogue_by_id()]
    return InterestsOut(student_id=student_id, interest_ids=ids, interests=resolve(ids))


def get_interests(principal: Principal, student_id: str) -> InterestsOut:
    require_reader(principal, student_id)
    return _interests_out(student_id, _student(student_id))


def set_interests(principal: Principal, student_id: str, interest_ids: list[str], now: datetime) -> InterestsOut:
    require_writer(principal, student_id)
    check_interests(interest_ids)
    user = _student(student_id)
    store.db().collection(USERS).document(student_id).update({"interest_ids": interest_ids, "updated_at": now})
    user["interest_ids"] = interest_ids
    log.info("interests set", extra=log_fields(user_id=student_id, count=len(interest_ids)))
    return _interests_out(student_id, user)
