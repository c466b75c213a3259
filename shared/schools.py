"""Belonging to a school: the one write path of a membership, and the invitations that lead to it.

A user belongs to at most one school: `users/{id}.school_id`, copied onto their live sessions in
the same transaction (the next request of each of their tokens sees it: `shared.answers` decides
a verified teacher from the session, no read). The school keeps its member counts by role
(`schools/{id}.counts`), changed in the same transaction, so analytics reads them, never scans.

Two areas change memberships: auth (registering with an invitation) and schools (accepting one,
re-roling, removing); both come through `change_membership` here.

Firestore layout:
  schools/{id}              {name, counts: {student, teacher, school_admin}, class_count, ...}
  school_invitations/{id}   {school_id, email, role, token_hash, status, expires_at, ...}; the
                            token is "<id>.<secret>", the secret stored only as its hash
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared import audit, store
from shared.accounts import live_sessions
from shared.audit import Client
from shared.auth import hash_token, new_id, new_secret
from shared.collections import SCHOOLS, USERS
from shared.config import settings
from shared.errors import ValidationFailed
from shared.password_mail import queue_mail
from shared.registry import expires
from shared.userdata import field, personal

# The invitee's (by address, then by who accepted) and the inviter's; never the secret's hash.
INVITATIONS = personal(
    expires("school_invitations"),
    field("email", email=True),
    field("accepted_by"),
    field("invited_by"),
    omit=("token_hash",),
)

# The roles a school gives (an invitation's, a re-role's). Never `admin`: that is the platform's.
SCHOOL_ROLES = ("student", "teacher", "school_admin")


@dataclass(frozen=True)
class Invitation:
    id: str
    school_id: str
    email: str
    role: str


def audit_school(
    writer: Any,
    action: str,
    school_id: str,
    *,
    actor_id: str,
    client: Client,
    now: datetime,
    target_id: str | None = None,
    **details: Any,
) -> None:
    """The audit entry of a school's event (`school.*`), in `writer`'s commit: one write."""
    audit.record(
        action,
        actor_id=actor_id,
        target_id=target_id,
        client=client,
        details={"school_id": school_id, **details},
        at=now,
        writer=writer,
    )


def _refused(token_field: str, message: str) -> ValidationFailed:
    # One status for a used, expired, forged or wrong-email token: 422 on the token's field.
    return ValidationFailed("This invitation cannot be used.", details=[{"field": token_field, "message": message}])


def create_invitation(
    *, school_id: str, school_name: str, email: str, role: str, invited_by: str, client: Client, now: datetime
) -> tuple[str, dict[str, Any]]:
    """Store an invitation (only its secret's hash) and queue its mail, in one batch: 3 writes
    (invitation, mail, audit), no read. Returns (id, document)."""
    if role not in SCHOOL_ROLES:
        raise ValueError(f"not a school role: {role!r}")
    cfg = settings()
    invitation_id, secret = new_id(), new_secret()
    ttl = timedelta(seconds=cfg.invitation_ttl_seconds)
    doc = {
        "school_id": school_id,
        "email": email,
        "role": role,
        "token_hash": hash_token(secret),
        "status": "pending",
        "invited_by": invited_by,
        "created_at": now,
        "expires_at": now + ttl,
        "accepted_by": None,
        "accepted_at": None,
    }
    link = f"{cfg.app_url.rstrip('/')}/join?invitation={invitation_id}.{secret}"
    batch = store.db().batch()
    batch.create(store.db().collection(INVITATIONS).document(invitation_id), doc)
    queue_mail(batch, email, link, "school_invitation", ttl, school=school_name)
    audit_school(
        batch,
        "school.invited",
        school_id,
        actor_id=invited_by,
        client=client,
        now=now,
        invitation_id=invitation_id,
        role=role,
    )
    batch.commit()
    return invitation_id, doc


def read_invitation(
    txn: store.Transaction, token: str, email: str, now: datetime, *, token_field: str = "invitation_token"
) -> Invitation:
    """The pending invitation that `token` opens for `email`, read in `txn` (1 read); 422 on
    `field` for a token that is forged, used, withdrawn, expired or meant for another address."""
    invitation_id, _, secret = token.partition(".")
    if not invitation_id.isalnum() or len(invitation_id) > 64 or not secret:
        raise _refused(token_field, "The invitation token is invalid.")
    data = store.db().collection(INVITATIONS).document(invitation_id).get(transaction=txn).to_dict()
    if data is None or not hmac.compare_digest(str(data.get("token_hash")), hash_token(secret)):
        raise _refused(token_field, "The invitation token is invalid.")
    if data.get("status") != "pending":
        raise _refused(token_field, "The invitation was already used or withdrawn.")
    if data["expires_at"] <= now:
        raise _refused(token_field, "The invitation has expired; ask your school for a new one.")
    if data.get("email") != email:
        raise _refused(token_field, "The invitation was sent to another email address.")
    return Invitation(id=invitation_id, school_id=str(data["school_id"]), email=email, role=str(data["role"]))


def spend_invitation(txn: store.Transaction, invitation: Invitation, user_id: str, now: datetime) -> None:
    """Mark the invitation used by `user_id` (1 write): of two accepts, the transaction that
    commits first wins and the other reads it used."""
    ref = store.db().collection(INVITATIONS).document(invitation.id)
    txn.update(ref, {"status": "accepted", "accepted_by": user_id, "accepted_at": now})


def read_live_sessions(txn: store.Transaction, user_id: str) -> list[Any]:
    """The user's live sessions, read in `txn` so a membership change reaches each of them in
    the same commit (a read per session, at least one)."""
    return list(txn.get(live_sessions(user_id)))


def count_members(txn: store.Transaction, school_id: str, deltas: dict[str, int], now: datetime) -> None:
    """Add `deltas` ({role: +1 or -1}) to a school's member counts: one blind write, no read."""
    increments = {f"counts.{role}": store.Increment(n) for role, n in deltas.items() if n}
    if increments:
        ref = store.db().collection(SCHOOLS).document(school_id)
        txn.update(ref, {**increments, "updated_at": now})


def change_membership(
    txn: store.Transaction,
    user_id: str,
    before: dict[str, Any],
    *,
    school_id: str | None,
    role: str,
    sessions: list[Any],
    now: datetime,
) -> dict[str, Any]:
    """Write a user's school and role (`school_id` None: no school), the member counts of the
    schools it leaves and joins, and the same onto `sessions` (read first, `read_live_sessions`).
    Writes only; every read is the caller's, before. Returns the changed fields."""
    old_school, old_role = before.get("school_id"), str(before.get("role"))
    changes = {"school_id": school_id, "role": role}
    if old_school == school_id and old_role == role:
        return {}
    counts: dict[str, dict[str, int]] = {}
    if old_school:
        counts.setdefault(old_school, {})[old_role] = -1
    if school_id:
        counts.setdefault(school_id, {})
        counts[school_id][role] = counts[school_id].get(role, 0) + 1
    for school, deltas in counts.items():
        count_members(txn, school, deltas, now)
    txn.update(store.db().collection(USERS).document(user_id), {**changes, "updated_at": now})
    for session in sessions:
        txn.update(session.reference, changes)
    return changes
