"""The demo school for the local stack: teacher@studyhall.dev is its verified teacher and
student@studyhall.dev one of its students, so the demo class is the school's (seed 000's users
and classes carry their school). Idempotent: a second run changes nothing."""

from __future__ import annotations

from typing import Any

from functions.schools import service as schools
from shared import accounts, store
from shared.audit import Client
from shared.collections import SCHOOLS, USERS
from shared.schools import change_membership, read_live_sessions
from shared.store import eq

DEMO_SCHOOL = "Studyhall Demo School"
DEMO_MEMBERS = {"teacher@studyhall.dev": "teacher", "student@studyhall.dev": "student"}
DEMO_CLIENT = Client(ip="127.0.0.1", user_agent="studyhall demo data")


def demo_school_id() -> str | None:
    found = store.db().collection(SCHOOLS).where(filter=eq("name", DEMO_SCHOOL)).limit(1).get()
    return found[0].id if found else None


def _join(user_id: str, school_id: str, role: str) -> None:
    ref = store.db().collection(USERS).document(user_id)
    now = store.now()

    def apply(txn: store.Transaction) -> Any:
        user = ref.get(transaction=txn).to_dict() or {}
        sessions = read_live_sessions(txn, user_id)
        return change_membership(txn, user_id, user, school_id=school_id, role=role, sessions=sessions, now=now)

    store.run_transaction(apply)


def load() -> str:
    admin = accounts.find_user_by_email("admin@studyhall.dev")
    if admin is None:
        return "skipped (demo accounts missing)"
    school_id = demo_school_id()
    if school_id is None:
        school_id = schools.create_school(name=DEMO_SCHOOL, actor_id=admin[0], client=DEMO_CLIENT, now=store.now()).id
    for email, role in DEMO_MEMBERS.items():
        found = accounts.find_user_by_email(email)
        if found is not None and found[1].get("school_id") != school_id:
            _join(found[0], school_id, role)
    return f"'{DEMO_SCHOOL}' (id {school_id}): teacher@studyhall.dev is its verified teacher"
