"""Accounts: register, login, logout; plain values in and out (recovery.py: passwords,
sessions.py: the signed-in user's sessions, lockout.py: failed logins).

Firestore layout:
  users/{id}            the account (email lower-cased, bcrypt hash, role, status)
  user_emails/{key}     uniqueness of the email (key: shared.emails.email_key), created with the user
  sessions/{id}         one login: the refresh token's hash and generation, device, IP, and
                        the role and status that every authenticated request reads
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc

from functions.auth.lockout import failures_ref, locked_for, record_failure
from functions.auth.models import TokensOut
from shared import audit, firebase, store
from shared.accounts import (
    find_user_by_email,
    new_user,
    revoke_sessions,
    user_out,
)
from shared.audit import Client
from shared.auth import (
    SESSIONS,
    hash_password,
    hash_token,
    issue_access_token,
    new_id,
    new_secret,
    verify_password,
)
from shared.collections import USERS
from shared.config import settings
from shared.errors import (
    AccountLocked,
    AccountSuspended,
    Conflict,
    InvalidCredentials,
    ServiceUnavailable,
    ValidationFailed,
)
from shared.events import StagedEvent
from shared.logging import get_logger, log_fields
from shared.passwords import password_problem
from shared.registration import create_account
from shared.schools import count_members, read_invitation, spend_invitation

log = get_logger("auth")

SPENT_HASHES_KEPT = 20


def describe_device(user_agent: str) -> str:
    ua = user_agent.lower()
    browser = next(
        (
            name
            for key, name in (
                ("edg/", "Edge"),
                ("firefox", "Firefox"),
                ("chrome", "Chrome"),
                ("safari", "Safari"),
                ("curl", "curl"),
                ("python", "Python"),
            )
            if key in ua
        ),
        "Unknown browser",
    )
    system = next(
        (
            name
            for key, name in (
                ("android", "Android"),
                ("iphone", "iOS"),
                ("ipad", "iPadOS"),
                ("windows", "Windows"),
                ("mac os", "macOS"),
                ("linux", "Linux"),
            )
            if key in ua
        ),
        "unknown system",
    )
    return f"{browser} on {system}"


def check_password(password: str, email: str) -> None:
    problem = password_problem(password, email=email)
    if problem:
        raise ValidationFailed("The password is not acceptable.", details=[{"field": "password", "message": problem}])


def _new_session(
    user_id: str, role: str, client: Client, now: datetime, *, school_id: str | None = None
) -> tuple[str, str, dict[str, Any]]:
    """A session document and the refresh token that opens it (returned once, stored hashed).
    It carries the role and the school (shared.auth.Principal): a refresh keeps both."""
    session_id = new_id()
    secret = new_secret()
    doc: dict[str, Any] = {
        "user_id": user_id,
        "role": role,
        "school_id": school_id,
        "user_status": "active",
        "created_at": now,
        "last_used_at": now,
        "expires_at": now + timedelta(seconds=settings().refresh_token_ttl_seconds),
        "ip": client.ip,
        "user_agent": client.user_agent,
        "device": describe_device(client.user_agent),
        "refresh_gen": 1,
        "refresh_hash": hash_token(secret),
        "spent_hashes": [],
        "revoked_at": None,
    }
    return session_id, f"{session_id}.1.{secret}", doc


def _tokens(user_id: str, user: dict[str, Any], session_id: str, refresh_token: str, now: datetime) -> TokensOut:
    access_token, ttl = issue_access_token(user_id, user["role"], session_id, now)
    return TokensOut(
        access_token=access_token, refresh_token=refresh_token, expires_in=ttl, user=user_out(user_id, user)
    )


def register(
    *,
    email: str,
    password: str,
    first_name: str,
    last_name: str,
    role: str,
    grade_level: int | None,
    client: Client,
    now: datetime,
    created_by: str | None = None,
    timezone: str = "UTC",
    invitation_token: str | None = None,
) -> TokensOut:
    """Create the account and its first session, in one transaction. `created_by`: the admin
    who creates an admin account (audited as `user.created_by_admin`). `invitation_token`: a
    school's invitation to this email (shared/schools.py), spent in the same transaction; the
    account gets its role and school (422 and nothing written when it cannot be used)."""
    check_password(password, email)
    password_hash = hash_password(password)  # outside the transaction: retries stay cheap
    user_id = new_id()
    user = new_user(
        email=email,
        first_name=first_name,
        last_name=last_name,
        role=role,
        grade_level=grade_level,
        password_hash=password_hash,
        now=now,
        timezone=timezone,
    )
    user["last_login_at"] = now
    session_id, refresh_token, session = _new_session(user_id, role, client, now)
    event_id = new_id()  # the same event whichever attempt of the transaction commits
    staged: list[StagedEvent] = []

    def create(txn: store.Transaction) -> None:
        invitation = read_invitation(txn, invitation_token, email, now) if invitation_token else None
        if invitation is not None:
            # The token came by mail to this very address: it is verified, no second mail.
            user.update(role=invitation.role, school_id=invitation.school_id, email_verified=True)
            session.update(role=invitation.role, school_id=invitation.school_id)
        # user.registered commits with the account: no crash can lose it (shared.events.publish_in).
        staged[:] = [create_account(txn, user_id, user, now, event_id=event_id)]
        txn.create(store.db().collection(SESSIONS).document(session_id), session)
        if invitation is not None:  # writes only, after create_account's read
            spend_invitation(txn, invitation, user_id, now)
            count_members(txn, invitation.school_id, {invitation.role: 1}, now)
        audit.record(
            "user.created_by_admin" if created_by else "auth.register",
            actor_id=created_by or user_id,
            target_id=user_id,
            client=client,
            details={"role": user["role"], "session_id": session_id, "school_id": user["school_id"]},
            at=now,
            writer=txn,
        )

    for attempt in range(3):
        try:
            store.run_transaction(create)
            break
        except gexc.AlreadyExists as exc:
            raise Conflict("An account with this email already exists.") from exc
        except ServiceUnavailable:
            # A race for this email beyond the transaction's retries (a twin request holds it):
            # wait for the twin to finish, then try again, which then sees the claimed email.
            if attempt == 2:
                raise
            time.sleep(0.2 * (attempt + 1) + random.random() * 0.2)
    staged[0].send()
    log.info("user registered", extra=log_fields(user_id=user_id, role=user["role"]))
    return _tokens(user_id, user, session_id, refresh_token, now)


def login(*, email: str, password: str, client: Client, now: datetime) -> TokensOut:
    """Check the lockout (1 read), find the user (1 read), verify, open a session.

    A locked login answers 429 before the password is even checked: the right password waits
    too. Failures are counted per email, existing or not."""
    failures_doc = failures_ref(email)
    failures = failures_doc.get().to_dict()
    wait = locked_for(failures, now)
    if wait:
        raise AccountLocked(wait)
    found = find_user_by_email(email)
    user_id, user = found if found else ("", {})
    # Same bcrypt work whether or not the account exists: timing tells nothing.
    if not verify_password(password, user.get("password_hash")) or user.get("status") == "archived":
        wait = record_failure(email, now)
        log.info("login failed", extra=log_fields(user_id=user_id or None))
        batch = store.db().batch()
        reason = "archived" if user.get("status") == "archived" else ("wrong_password" if user_id else "unknown_email")
        events: list[tuple[str, dict[str, Any]]] = [("auth.login_failed", {"reason": reason})]
        if wait:
            events.append(("auth.lockout", {"seconds": wait, "reason": "failed_logins"}))
        for action, details in events:
            audit.record(
                action,
                actor_id=None,
                target_id=user_id or None,
                client=client,
                details=details,
                at=now,
                writer=batch,
            )
        batch.commit()
        if wait:
            raise AccountLocked(wait)
        raise InvalidCredentials()
    if user.get("status") == "suspended":
        audit.record(
            "auth.login_failed",
            actor_id=user_id,
            target_id=user_id,
            client=client,
            details={"reason": "suspended"},
            at=now,
        )
        raise AccountSuspended()
    session_id, refresh_token, session = _new_session(
        user_id, user["role"], client, now, school_id=user.get("school_id")
    )
    user["last_login_at"] = now
    batch = store.db().batch()
    batch.create(store.db().collection(SESSIONS).document(session_id), session)
    batch.update(store.db().collection(USERS).document(user_id), {"last_login_at": now})
    if failures is not None:
        batch.delete(failures_doc)
    audit.record(
        "auth.login",
        actor_id=user_id,
        target_id=user_id,
        client=client,
        details={"session_id": session_id},
        at=now,
        writer=batch,
    )
    batch.commit()
    log.info("login", extra=log_fields(user_id=user_id, session_id=session_id))
    return _tokens(user_id, user, session_id, refresh_token, now)


def logout(*, user_id: str, session_id: str, all_devices: bool, client: Client | None = None, now: datetime) -> int:
    """End this session (1 write) or every session of the user (a query, 1 write each), and the
    user's Firebase sign-ins (1 write: the moment the rules compare with)."""
    # The session's end, the sign-out moment and the audit entry commit together: a retry never
    # finds one without the others.
    batch = store.db().batch()
    if all_devices:
        count = revoke_sessions(user_id, now, reason="logout_all")
        action = "auth.logout_all"
    else:
        batch.update(
            store.db().collection(SESSIONS).document(session_id), {"revoked_at": now, "revoked_reason": "logout"}
        )
        count = 1
        action = "auth.logout"
    batch.update(store.db().collection(USERS).document(user_id), firebase.signed_out(now))
    audit.record(
        action,
        actor_id=user_id,
        target_id=user_id,
        client=client or Client(ip="", user_agent=""),
        details={"session_id": session_id, "sessions_revoked": count},
        at=now,
        writer=batch,
    )
    batch.commit()
    firebase.revoke_sign_ins(user_id)
    return count
