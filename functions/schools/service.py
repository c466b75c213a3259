"""Schools: create and rename them, invite by mail, accept, list, re-role and remove members.

Who may act is the route's (`shared.http.school_admin_or_admin`: a school admin of that very
school, from their session, or an admin); the rules below take plain values. Every change of a
membership goes through `shared.schools.change_membership`, in one transaction with the user,
the school's counts and the user's live sessions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from functions.schools.models import InvitationOut, SchoolOut
from shared import store
from shared.accounts import UserOut, user_out
from shared.audit import Client
from shared.auth import new_id
from shared.collections import SCHOOLS, USERS
from shared.errors import NotFound, ValidationFailed
from shared.ratelimit import Limit, hit
from shared.registry import composite_index
from shared.schools import (
    INVITATIONS,
    audit_school,
    change_membership,
    create_invitation,
    read_invitation,
    read_live_sessions,
    spend_invitation,
)

# A mailbox is not to be flooded (as reset mails), nor the mail quota spent by one school.
INVITES_PER_ADDRESS = Limit(name="school-invite-mail", max_hits=3, window_seconds=3600)
INVITES_PER_SCHOOL = Limit(name="school-invites", max_hits=500, window_seconds=3600)

SCHOOL_ORDER = [("created_at", store.DESCENDING)]
MEMBER_ORDER = [("created_at", store.DESCENDING)]
INVITATION_ORDER = [("expires_at", store.ASCENDING)]
composite_index(USERS, ("school_id", "ASCENDING"), ("created_at", "DESCENDING"))
composite_index(USERS, ("school_id", "ASCENDING"), ("role", "ASCENDING"), ("created_at", "DESCENDING"))
composite_index(INVITATIONS, ("school_id", "ASCENDING"), ("status", "ASCENDING"), ("expires_at", "ASCENDING"))


def _schools() -> Any:
    return store.db().collection(SCHOOLS)


def school_out(school_id: str, data: dict[str, Any]) -> SchoolOut:
    return SchoolOut(id=school_id, **{k: data[k] for k in SchoolOut.model_fields if k != "id" and k in data})


def invitation_out(invitation_id: str, data: dict[str, Any]) -> InvitationOut:
    # The model names what is shown: never the token's hash.
    return InvitationOut(id=invitation_id, **{k: data[k] for k in InvitationOut.model_fields if k != "id"})


def _read_school(school_id: str) -> dict[str, Any]:
    data = _schools().document(school_id).get().to_dict()
    if data is None:
        raise NotFound("No such school.")
    return dict(data)


# Schools -----------------------------------------------------------------------------------------


def create_school(*, name: str, actor_id: str, client: Client, now: datetime) -> SchoolOut:
    """A school with no member yet: 2 writes (school, audit), no read."""
    school_id = new_id()
    data = {
        "name": name,
        "counts": {"student": 0, "teacher": 0, "school_admin": 0},
        "class_count": 0,
        "created_by": actor_id,
        "created_at": now,
        "updated_at": now,
    }
    batch = store.db().batch()
    batch.create(_schools().document(school_id), data)
    audit_school(
        batch,
        "school.created",
        school_id,
        actor_id=actor_id,
        client=client,
        now=now,
    )
    batch.commit()
    return school_out(school_id, data)


def list_schools(*, limit: int, cursor: str | None) -> store.Page:
    """Newest first: one query, limit + 1 reads."""
    return store.paginate(_schools(), _schools(), SCHOOL_ORDER, limit, cursor, lambda s: school_out(s.id, s.to_dict()))


def get_school(school_id: str) -> SchoolOut:
    return school_out(school_id, _read_school(school_id))


def rename_school(school_id: str, *, name: str, actor_id: str, client: Client, now: datetime) -> SchoolOut:
    """1 read, 2 writes (school, audit) in one transaction."""
    ref = _schools().document(school_id)

    def apply(txn: store.Transaction) -> dict[str, Any]:
        data = ref.get(transaction=txn).to_dict()
        if data is None:
            raise NotFound("No such school.")
        if data["name"] != name:
            txn.update(ref, {"name": name, "updated_at": now})
            audit_school(
                txn,
                "school.renamed",
                school_id,
                actor_id=actor_id,
                client=client,
                now=now,
            )
            data.update(name=name, updated_at=now)
        return dict(data)

    return school_out(school_id, store.run_transaction(apply))


# Invitations -------------------------------------------------------------------------------------


def invite(school_id: str, *, email: str, role: str, actor_id: str, client: Client, now: datetime) -> InvitationOut:
    """Invite `email` into the school as `role`: 1 read (the school), 5 writes (two rate
    counters, invitation, mail, audit). The token travels only in the mail. 429 past 3 mails to
    one address or 500 invitations of one school in an hour (nothing else written)."""
    school = _read_school(school_id)
    hit(INVITES_PER_ADDRESS, f"{school_id}:{email}", now)
    hit(INVITES_PER_SCHOOL, school_id, now)
    invitation_id, data = create_invitation(
        school_id=school_id,
        school_name=school["name"],
        email=email,
        role=role,
        invited_by=actor_id,
        client=client,
        now=now,
    )
    return invitation_out(invitation_id, data)


def pending_invitations(school_id: str, *, limit: int, cursor: str | None, now: datetime) -> store.Page:
    """The invitations still open, soonest to expire first: one query, limit + 1 reads."""
    col = store.db().collection(INVITATIONS)
    query = (
        col.where(filter=FieldFilter("school_id", "==", school_id))
        .where(filter=FieldFilter("status", "==", "pending"))
        .where(filter=FieldFilter("expires_at", ">", now))
    )
    return store.paginate(query, col, INVITATION_ORDER, limit, cursor, lambda s: invitation_out(s.id, s.to_dict()))


def withdraw_invitation(school_id: str, invitation_id: str, *, actor_id: str, client: Client, now: datetime) -> None:
    """Delete a pending invitation of this school (1 read, 1 delete, 1 audit write); its token
    then answers 422. Another school's, a used or an unknown one: 404."""
    ref = store.db().collection(INVITATIONS).document(invitation_id)

    def apply(txn: store.Transaction) -> None:
        data = ref.get(transaction=txn).to_dict()
        if data is None or data.get("school_id") != school_id or data.get("status") != "pending":
            raise NotFound("No such pending invitation.")
        txn.delete(ref)
        audit_school(
            txn,
            "school.invitation_withdrawn",
            school_id,
            actor_id=actor_id,
            client=client,
            now=now,
            invitation_id=invitation_id,
        )

    store.run_transaction(apply)


def accept_invitation(*, user_id: str, token: str, client: Client, now: datetime) -> UserOut:
    """The signed-in user joins the school of an invitation sent to their address, with its role
    (leaving any school they were in). Reads: the user, the invitation, their live sessions;
    writes: the invitation, the user, the schools' counts, each session, the audit entry."""
    user_ref = store.db().collection(USERS).document(user_id)

    def apply(txn: store.Transaction) -> dict[str, Any]:
        user = user_ref.get(transaction=txn).to_dict()
        if user is None:
            raise NotFound("No such user.")
        invitation = read_invitation(txn, token, str(user.get("email")), now, token_field="token")
        if user.get("role") == "admin":
            raise ValidationFailed(
                "A platform admin does not join a school.",
                details=[{"field": "token", "message": "Accept it with another account."}],
            )
        sessions = read_live_sessions(txn, user_id)
        spend_invitation(txn, invitation, user_id, now)
        changes = change_membership(
            txn, user_id, user, school_id=invitation.school_id, role=invitation.role, sessions=sessions, now=now
        )
        audit_school(
            txn,
            "school.joined",
            invitation.school_id,
            actor_id=user_id,
            client=client,
            now=now,
            target_id=user_id,
            role=invitation.role,
            invitation_id=invitation.id,
        )
        return {**user, **changes}

    return user_out(user_id, store.run_transaction(apply))


# Members -----------------------------------------------------------------------------------------


def list_members(school_id: str, *, role: str | None, limit: int, cursor: str | None) -> store.Page:
    """The school's members (users with its `school_id`), newest first, by role: one query,
    limit + 1 reads. An unknown school lists nothing."""
    users = store.db().collection(USERS)
    query: Any = users.where(filter=FieldFilter("school_id", "==", school_id))
    if role:
        query = query.where(filter=FieldFilter("role", "==", role))
    return store.paginate(query, users, MEMBER_ORDER, limit, cursor, lambda s: user_out(s.id, s.to_dict()))


def set_member_role(
    school_id: str, user_id: str, *, role: str | None, actor_id: str, client: Client, now: datetime
) -> UserOut:
    """Give a member another role of the school (`None` changes nothing): reads the user and
    their live sessions; writes the user, the school's counts, each session and the audit entry."""
    return _change_member(school_id, user_id, role=role, actor_id=actor_id, client=client, now=now)


def remove_member(school_id: str, user_id: str, *, actor_id: str, client: Client, now: datetime) -> None:
    """The member leaves the school and keeps their account; a school admin stays a teacher (a
    self-registered one, unverified). Costs as `set_member_role`."""
    _change_member(school_id, user_id, role=None, remove=True, actor_id=actor_id, client=client, now=now)


def _change_member(
    school_id: str,
    user_id: str,
    *,
    role: str | None,
    actor_id: str,
    client: Client,
    now: datetime,
    remove: bool = False,
) -> UserOut:
    user_ref = store.db().collection(USERS).document(user_id)

    def apply(txn: store.Transaction) -> dict[str, Any]:
        user = user_ref.get(transaction=txn).to_dict()
        if user is None or user.get("school_id") != school_id:
            raise NotFound("No such member of this school.")
        old_role = str(user["role"])
        new_role = ("teacher" if old_role == "school_admin" else old_role) if remove else (role or old_role)
        if not remove and new_role == old_role:
            return user
        sessions = read_live_sessions(txn, user_id)
        changes = change_membership(
            txn, user_id, user, school_id=None if remove else school_id, role=new_role, sessions=sessions, now=now
        )
        audit_school(
            txn,
            "school.member_removed" if remove else "school.member_role_changed",
            school_id,
            actor_id=actor_id,
            client=client,
            now=now,
            target_id=user_id,
            **{"from": old_role, "to": new_role},  # as user.role_changed
        )
        return {**user, **changes}

    return user_out(user_id, store.run_transaction(apply))
