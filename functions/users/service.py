"""Accounts as admins and their owners see them: list, read, edit, suspend, archive.

The account documents belong to the auth area (`users/{id}`, see shared/accounts.py).
A change of role or status is copied onto the user's live sessions in the same request, because
every authenticated request reads its session (not the user): the change bites at once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from shared import audit, firebase, store
from shared.accounts import UserOut, edit_account, revoke_sessions, update_sessions, user_out
from shared.audit import Client
from shared.auth import SESSIONS, Principal
from shared.collections import USERS
from shared.errors import Conflict, Forbidden, NotFound
from shared.registry import composite_index

LIST_ORDER = [("created_at", store.DESCENDING)]
composite_index(USERS, ("role", "ASCENDING"), ("created_at", "DESCENDING"))
composite_index(USERS, ("status", "ASCENDING"), ("created_at", "DESCENDING"))
composite_index(USERS, ("role", "ASCENDING"), ("status", "ASCENDING"), ("created_at", "DESCENDING"))


def _ref(user_id: str) -> Any:
    return store.db().collection(USERS).document(user_id)


def list_users(*, role: str | None, status: str | None, limit: int, cursor: str | None) -> store.Page:
    """Newest first, filtered by role and status: one query, limit + 1 reads."""
    users = store.db().collection(USERS)
    query: Any = users
    if role:
        query = query.where(filter=FieldFilter("role", "==", role))
    if status:
        query = query.where(filter=FieldFilter("status", "==", status))
    return store.paginate(query, users, LIST_ORDER, limit, cursor, lambda snap: user_out(snap.id, snap.to_dict()))


def update_user(*, actor: Principal, user_id: str, changes: dict[str, Any], client: Client, now: datetime) -> UserOut:
    """Edit names, grade, bio and time zone (self or admin) or the role (admin, not their own),
    through the one write path of an account (shared/accounts.py).

    1 read, 2 writes (user, audit); a role change adds one write per live session, a student's
    name or grade change one query and a write per class membership (the roster copies).
    Access to the account: the route's guard (shared.http.self_or_admin); the role rules here."""
    if "role" in changes:
        if not actor.is_admin:
            raise Forbidden("Only an admin changes a role.")
        if actor.user_id == user_id:
            raise Conflict("An admin cannot change their own role; ask another admin.")
    data, delta = edit_account(
        user_id, changes, actor_id=actor.user_id, client=client, now=now, check=_role_outside_school(changes)
    )
    new_role = delta.get("role")
    if new_role is not None:
        update_sessions(user_id, {"role": new_role})
    return user_out(user_id, data)


def _role_outside_school(changes: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """A school member's role is the school's to change (its members route keeps its counts)."""

    def check(stored: dict[str, Any]) -> None:
        if changes.get("role") not in (None, stored.get("role")) and stored.get("school_id"):
            raise Conflict("This user belongs to a school: change their role there, or remove them first.")

    return check


def set_status(
    *, actor: Principal, user_id: str, status: str, reason: str | None, client: Client, now: datetime
) -> UserOut:
    """Suspend or reactivate (admin). Suspension ends every session at once, and their access
    tokens answer 403 account_suspended. 1 read, 2 writes, plus the user's live sessions."""
    if actor.user_id == user_id:
        raise Conflict("An admin cannot change the status of their own account.")
    ref = _ref(user_id)

    def apply(txn: store.Transaction) -> tuple[dict[str, Any], bool]:
        data = ref.get(transaction=txn).to_dict()
        if data is None:
            raise NotFound("No such user.")
        if data.get("status") == "archived":
            raise Conflict("This account is archived.")
        if data.get("status") == status:
            return data, False
        ended = firebase.signed_out(now) if status == "suspended" else {}
        txn.update(ref, {"status": status, "updated_at": now, **ended})
        audit.record(
            "user.status_changed",
            actor_id=actor.user_id,
            target_id=user_id,
            client=client,
            details={"from": data.get("status"), "to": status, "reason": reason},
            at=now,
            writer=txn,
        )
        data["status"] = status
        return data, True

    data, _changed = store.run_transaction(apply)
    # Unchanged too: a request that failed after its commit is sent again, and must still end
    # (or restore) the sessions, or a suspended account would keep its live sessions.
    if status == "suspended":
        revoke_sessions(user_id, now, reason="suspended", extra={"user_status": "suspended"})
        firebase.revoke_sign_ins(user_id)
    else:
        # The sessions that suspension ended stay ended; their tokens now answer "sign in again".
        suspended = (
            store.db()
            .collection(SESSIONS)
            .where(filter=FieldFilter("user_id", "==", user_id))
            .where(filter=FieldFilter("user_status", "==", "suspended"))
        )
        update_sessions(user_id, {"user_status": "active"}, sessions=suspended)
    return user_out(user_id, data)


def archive_user(*, actor_id: str, user_id: str, client: Client, now: datetime) -> None:
    """Archive: the account can no longer sign in and every session ends. The document stays
    (history and other areas' references); archiving again changes nothing.
    Access: the route's guard (shared.http.self_or_admin)."""
    ref = _ref(user_id)

    def apply(txn: store.Transaction) -> bool:
        data = ref.get(transaction=txn).to_dict()
        if data is None:
            raise NotFound("No such user.")
        if data.get("status") == "archived":
            return False
        txn.update(ref, {"status": "archived", "archived_at": now, "updated_at": now, **firebase.signed_out(now)})
        audit.record(
            "user.archived",
            actor_id=actor_id,
            target_id=user_id,
            client=client,
            details={"from": data.get("status")},
            at=now,
            writer=txn,
        )
        return True

    store.run_transaction(apply)
    # Again when already archived: a retry after a failure between the commit and this must
    # still end the sessions (and the Firebase sign-ins).
    revoke_sessions(user_id, now, reason="archived")
    firebase.revoke_sign_ins(user_id)
