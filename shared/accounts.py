"""Accounts as every area sees them: the user document, its public shape, its creation, and
the sessions that a change of role, status or password must reach.

Firestore layout:
  users/{id}            the account (email lower-cased, bcrypt hash, role, status)
  user_emails/{key}     uniqueness of the email (key: shared.emails.email_key), created with the user
  sessions/{id}         one login (shared.auth.SESSIONS): authenticate reads its role and status

The auth area opens and ends sessions; users edits accounts; classes creates students' accounts.
They share these pieces here rather than import one another.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any, Literal

from google.cloud.firestore_v1.base_query import FieldFilter
from pydantic import Field, StringConstraints

from shared import audit, store
from shared.answers import is_verified_teacher
from shared.audit import Client
from shared.auth import SESSIONS, Principal, Role
from shared.collections import MEMBERSHIPS, USERS
from shared.errors import Conflict, NotFound
from shared.userdata import field, personal
from shared.validation import OneOf, Out

USER_EMAILS = personal("user_emails", field("user_id"))

Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
GradeLevel = Annotated[int, Field(ge=9, le=12)]


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    """The IANA zones of the pinned `tzdata` package: the same list on every machine, so the
    document's enum and the check agree wherever they run (the system's zoneinfo varies)."""
    text = resources.files("tzdata").joinpath("zones").read_text("utf-8")
    return frozenset(text.split())


# Streak days follow the user's zone: an IANA name.
TimeZone = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    OneOf(zone_names, "Use an IANA time zone such as Europe/Paris."),
]


class UserOut(Out):
    id: str
    email: str
    first_name: str
    last_name: str
    role: Role
    status: Literal["active", "suspended", "archived"]
    grade_level: int | None = None
    # The school the user belongs to (shared/schools.py); staff of a school are verified teachers.
    school_id: str | None = None
    teacher_verified: bool = False
    timezone: str = "UTC"
    created_at: datetime
    last_login_at: datetime | None = None
    email_verified: bool = False
    bio: str | None = None
    avatar_url: str | None = None


def user_out(user_id: str, data: dict[str, Any]) -> UserOut:
    # A field the document lacks (an account older than it) takes the model's default.
    stored = {k: data[k] for k in UserOut.model_fields if k not in ("id", "teacher_verified") and k in data}
    verified = is_verified_teacher(str(data.get("role")), data.get("school_id"))
    return UserOut(id=user_id, **stored, teacher_verified=verified)


def new_user(
    *,
    email: str,
    first_name: str,
    last_name: str,
    role: str,
    grade_level: int | None,
    password_hash: str | None,
    now: datetime,
    timezone: str = "UTC",
    school_id: str | None = None,
) -> dict[str, Any]:
    """A user document. `password_hash` None: the account must set a password before login.
    `school_id`: the school it joins (shared/schools.py), None for none."""
    return {
        "email": email,
        "first_name": first_name,
        "last_name": last_name,
        "role": role,
        "status": "active",
        "grade_level": grade_level,
        "password_hash": password_hash,
        "timezone": timezone,
        "created_at": now,
        "updated_at": now,
        "last_login_at": None,
        "email_verified": False,
        "school_id": school_id,
    }


def account_of(principal: Principal) -> UserOut:
    """The caller as the API shows them, from the document read with their session
    (`shared.http.SIGNED_IN_WITH_ACCOUNT`): no read of its own."""
    if principal.account is None:
        raise NotFound("No such user.")
    return user_out(principal.user_id, principal.account)


def get_user(user_id: str) -> UserOut:
    """The user as the API shows it; NotFound for an unknown id. One read."""
    data = store.db().collection(USERS).document(user_id).get().to_dict()
    if data is None:
        raise NotFound("No such user.")
    return user_out(user_id, data)


def find_user_by_email(email: str) -> tuple[str, dict[str, Any]] | None:
    """One read: the user with this (lower-cased) email."""
    found = list(store.db().collection(USERS).where(filter=FieldFilter("email", "==", email)).limit(1).stream())
    if not found:
        return None
    return found[0].id, found[0].to_dict() or {}


# Sessions a change to the account must reach ----------------------------------------------


def live_sessions(user_id: str) -> Any:
    """The query of a user's sessions that have not been revoked."""
    return (
        store.db()
        .collection(SESSIONS)
        .where(filter=FieldFilter("user_id", "==", user_id))
        .where(filter=FieldFilter("revoked_at", "==", None))
    )


def update_sessions(user_id: str, fields: dict[str, Any], *, keep: str | None = None, sessions: Any = None) -> int:
    """Write `fields` onto every live session of the user (or the `sessions` query), but `keep`,
    so the next request of each of their access tokens sees it (authenticate reads the session).
    One query (a read per session, at least one) and one write per session."""
    batch = store.db().batch()
    count = 0
    for snapshot in (sessions if sessions is not None else live_sessions(user_id)).stream():
        if snapshot.id == keep:
            continue
        batch.update(snapshot.reference, fields)
        count += 1
        if count % 400 == 0:
            batch.commit()
            batch = store.db().batch()
    if count % 400:
        batch.commit()
    return count


def revoke_sessions(
    user_id: str, now: datetime, *, reason: str, keep: str | None = None, extra: dict[str, Any] | None = None
) -> int:
    """End every live session of a user (but `keep`); their access tokens stop at once."""
    return update_sessions(user_id, {"revoked_at": now, "revoked_reason": reason, **(extra or {})}, keep=keep)


# The user's fields that class rosters copy onto a student's memberships.
ROSTER_FIELDS = ("first_name", "last_name", "grade_level")


def edit_account(
    user_id: str,
    changes: dict[str, Any],
    *,
    actor_id: str,
    client: Client,
    now: datetime,
    check: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The one write path of a user's own fields (names, grade, bio, time zone, role), whichever
    route asks: in one transaction, `check` on the stored account, the fields that change and
    their audit entry; then a student's roster copies follow. Returns (account, what changed).

    1 read, 2 writes when something changes (none when nothing does); a change of a roster
    field adds one query and a write per membership."""
    ref = store.db().collection(USERS).document(user_id)

    def apply(txn: store.Transaction) -> tuple[dict[str, Any], dict[str, Any]]:
        data = ref.get(transaction=txn).to_dict()
        if data is None:
            raise NotFound("No such user.")
        if check is not None:
            check(data)
        if data.get("status") == "archived":
            raise Conflict("This account is archived.")
        delta = {k: v for k, v in changes.items() if data.get(k) != v}
        if delta:
            txn.update(ref, {**delta, "updated_at": now})
            details: dict[str, Any] = {"fields": sorted(delta)}
            if "role" in delta:
                details.update({"from": data.get("role"), "to": delta["role"]})
            action = "user.role_changed" if "role" in delta else "user.updated"
            audit.record(
                action, actor_id=actor_id, target_id=user_id, client=client, details=details, at=now, writer=txn
            )
        data.update(delta)
        return data, delta

    data, delta = store.run_transaction(apply)
    roster = {k: v for k, v in delta.items() if k in ROSTER_FIELDS}
    if roster and data.get("role") == "student":
        _sync_rosters(user_id, roster)
    return data, delta


def _sync_rosters(student_id: str, fields: dict[str, Any]) -> None:
    memberships = store.db().collection(MEMBERSHIPS).where(filter=FieldFilter("student_id", "==", student_id))
    store.update_all((snapshot.reference, fields) for snapshot in memberships.stream())
