"""Who may see what: a student's learning data (the student, an admin, or a teacher of an
active class the student is in) and a class (its teacher or an admin). Classes own the classes
and memberships; every area that shows a student's data or a class's asks here."""

from __future__ import annotations

from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from shared import store
from shared.auth import Principal
from shared.collections import CLASSES, MEMBERSHIPS
from shared.errors import Forbidden, NotFound


def teaches(teacher_id: str, student_id: str) -> bool:
    """Whether the student is active in one of the teacher's classes (one query, one read)."""
    found = (
        store.db()
        .collection(MEMBERSHIPS)
        .where(filter=FieldFilter("student_id", "==", student_id))
        .where(filter=FieldFilter("teacher_id", "==", teacher_id))
        .where(filter=FieldFilter("status", "==", "active"))
        .limit(1)
        .get()
    )
    return bool(found)


def require_student_access(principal: Principal, student_id: str) -> None:
    """The student, an admin, or one of the student's teachers (a teacher pays one read)."""
    if principal.is_self_or_admin(student_id):
        return
    if principal.is_staff and teaches(principal.user_id, student_id):
        return
    raise Forbidden("You may only see your own learning data or your students'.")


def class_of_teacher(principal: Principal, class_id: str, *, txn: Any = None) -> dict[str, Any] | None:
    """The class document when the caller teaches it or is an admin (one read), else None."""
    data = store.db().collection(CLASSES).document(class_id).get(transaction=txn).to_dict()
    if data is None or not (principal.is_admin or data.get("teacher_id") == principal.user_id):
        return None
    return dict(data)


def require_class_teacher(principal: Principal, class_id: str, *, txn: Any = None) -> dict[str, Any]:
    """The class, for its teacher or an admin. Another teacher's class is a 404, like an unknown
    one: nobody learns which classes exist."""
    data = class_of_teacher(principal, class_id, txn=txn)
    if data is None:
        raise NotFound("No such class.")
    return data
