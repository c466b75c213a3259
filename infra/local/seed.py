"""Demo data for the local stack only: three accounts and whatever each area contributes.

Never run against a deployed project: `load` refuses unless the Firestore emulator is in use.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from infra.local import demo_classes, demo_exams, demo_exercises, demo_paths, demo_schools
from shared import accounts, store
from shared.auth import hash_password, new_id
from shared.registration import create_account

DEMO_PASSWORD = "studyhall-demo"
DEMO_ACCOUNTS: list[dict[str, Any]] = [
    {"email": "admin@studyhall.dev", "first_name": "Ada", "last_name": "Admin", "role": "admin", "grade_level": None},
    {
        "email": "teacher@studyhall.dev",
        "first_name": "Tom",
        "last_name": "Teacher",
        "role": "teacher",
        "grade_level": None,
    },
    {
        "email": "student@studyhall.dev",
        "first_name": "Sam",
        "last_name": "Student",
        "role": "student",
        "grade_level": 10,
    },
]

# Areas add their own demo loaders here, run in this order after the accounts: name -> loader
# (returns a one-line summary).
EXTRA_LOADERS: dict[str, Callable[[], str]] = {
    "school": demo_schools.load,  # before the class, which is the school's
    "classes": demo_classes.load,
    "question bank": demo_exams.load,
    "coding exercises": demo_exercises.load,
    "learning paths": demo_paths.load,
}


def ensure_account(account: dict[str, Any]) -> str:
    """Create the account if its email is free; return its id either way."""
    found = accounts.find_user_by_email(account["email"])
    if found:
        return found[0]
    now = store.now()
    user_id = new_id()
    user = accounts.new_user(**account, password_hash=hash_password(DEMO_PASSWORD), now=now)
    event_id = new_id()
    store.run_transaction(lambda txn: create_account(txn, user_id, user, now, event_id=event_id)).send()
    return user_id


def load() -> list[str]:
    if not os.environ.get("FIRESTORE_EMULATOR_HOST"):
        raise RuntimeError("demo data is only for the local emulators")
    lines = []
    for account in DEMO_ACCOUNTS:
        user_id = ensure_account(account)
        lines.append(f"  {account['role']:<8} {account['email']:<24} password: {DEMO_PASSWORD}  id: {user_id}")
    for name, loader in EXTRA_LOADERS.items():
        lines.append(f"  {name}: {loader()}")
    return lines
