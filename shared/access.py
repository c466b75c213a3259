"""Who may see a student's learning data: the student, an admin, or a teacher of an active
class the student is in. Classes own the memberships; every area that shows a student's
progress, sessions or analytics asks here."""

from __future__ import annotations

from google.cloud.firestore_v1.base_query import FieldFilter

from shared import store
from shared.auth import Principal
from shared.collections import MEMBERSHIPS
from shared.errors import Forbidden


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
    if principal.role == "teacher" and teaches(principal.user_id, student_id):
        return
    raise Forbidden("You may only see your own learning data or your students'.")
