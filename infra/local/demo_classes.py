"""Demo classes for the local stack: a class owned by teacher@studyhall.dev that
student@studyhall.dev has joined, and the student's interests. Idempotent: a second run
changes nothing."""

from __future__ import annotations

from functions.classes import service as classes
from functions.students import service as students
from shared import accounts, store
from shared.collections import CLASSES, MEMBERSHIPS, USERS
from shared.store import eq

DEMO_CLASS = {"name": "Security+ Study Group", "subject": "Security", "description": "Demo class: practice together."}
DEMO_INTERESTS = ["cybersecurity", "computer-networking", "programming"]


def load() -> str:
    teacher = accounts.find_user_by_email("teacher@studyhall.dev")
    student = accounts.find_user_by_email("student@studyhall.dev")
    if teacher is None or student is None:
        return "skipped (demo accounts missing)"
    teacher_id, student_id = teacher[0], student[0]
    now = store.now()
    existing = [
        s
        for s in store.db().collection(CLASSES).where(filter=eq("teacher_id", teacher_id)).stream()
        if (s.to_dict() or {}).get("name") == DEMO_CLASS["name"]
    ]
    if existing:
        class_id, code = existing[0].id, (existing[0].to_dict() or {})["class_code"]
    else:
        school_id = teacher[1].get("school_id")  # the demo school's (infra/local/demo_schools.py)
        created = classes.create_class(
            teacher_id=teacher_id, grade_levels=[10, 11], now=now, school_id=school_id, **DEMO_CLASS
        )
        class_id, code = created.id, created.class_code
    member = store.db().collection(MEMBERSHIPS).document(classes.membership_id(class_id, student_id)).get()
    if not member.exists:
        classes.join_class(student_id, code, now)
    if not student[1].get("interest_ids"):
        known = [i for i in DEMO_INTERESTS if i in students.catalogue_by_id()]
        store.db().collection(USERS).document(student_id).update({"interest_ids": known})
    return f"class '{DEMO_CLASS['name']}' (join code {code}), student@studyhall.dev enrolled"
