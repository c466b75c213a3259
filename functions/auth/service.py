"""Accounts and sessions: the business rules behind the auth routes, plain values in and out.

Firestore layout:
  users/{id}            the account (email lower-cased, bcrypt hash, role, status)
  user_emails/{email}   uniqueness of the email, created in the same transaction as the user
  sessions/{id}         one login: the refresh token's hash and generation, device, IP, and
                        the role and status that every authenticated request reads
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc

from functions.auth.models import TokensOut, UserOut
from shared import store
from shared.auth import (
    SESSIONS,
    hash_password,
    hash_token,
    issue_access_token,
    new_id,
    new_secret,
    verify_password,
)
from shared.config import settings
from shared.errors import (
    AccountSuspended,
    Conflict,
    InvalidCredentials,
    NotFound,
    Unauthorized,
    ValidationFailed,
)
from shared.events import publish
from shared.logging import get_logger, log_fields
from shared.passwords import password_problem

log = get_logger("auth")

USERS = "users"
USER_EMAILS = "user_emails"
SPENT_HASHES_KEPT = 20


@dataclass(frozen=True)
class Client:
    """Where a request came from, for sessions and the audit trail."""

    ip: str
    user_agent: str


def user_out(user_id: str, data: dict[str, Any]) -> UserOut:
    return UserOut(id=user_id, **{k: data.get(k) for k in UserOut.model_fields if k != "id"})


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


def _new_session(user_id: str, role: str, client: Client, now: datetime) -> tuple[str, str, dict[str, Any]]:
    """A session document and the refresh token that opens it (returned once, stored hashed)."""
    session_id = new_id()
    secret = new_secret()
    doc = {
        "user_id": user_id,
        "role": role,
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


def new_user(
    *,
    email: str,
    first_name: str,
    last_name: str,
    role: str,
    grade_level: int | None,
    password_hash: str | None,
    now: datetime,
) -> dict[str, Any]:
    """A user document. `password_hash` None: the account must set a password before login."""
    return {
        "email": email,
        "first_name": first_name,
        "last_name": last_name,
        "role": role,
        "status": "active",
        "grade_level": grade_level,
        "password_hash": password_hash,
        "timezone": "UTC",
        "created_at": now,
        "updated_at": now,
        "last_login_at": None,
    }


def create_account(txn: store.Transaction, user_id: str, user: dict[str, Any], now: datetime) -> None:
    """Claim the email and create the user inside `txn` (which has done no writes yet).

    Email uniqueness holds under races: `user_emails/{email}` is created in the same
    transaction as the user, so of two concurrent registrations exactly one commits.
    Raises Conflict when the email is taken. The caller publishes `user.registered` after commit.
    """
    client_db = store.db()
    email_ref = client_db.collection(USER_EMAILS).document(user["email"])
    if email_ref.get(transaction=txn).exists:
        raise Conflict("An account with this email already exists.")
    txn.create(email_ref, {"user_id": user_id, "created_at": now})
    txn.create(client_db.collection(USERS).document(user_id), user)


def announce_account(user_id: str, user: dict[str, Any], now: datetime) -> None:
    publish(
        "user.registered",
        {"user_id": user_id, "role": user["role"], "email_domain": user["email"].split("@")[-1]},
        occurred_at=now,
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
) -> TokensOut:
    """Create the account and its first session, in one transaction."""
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
    )
    user["last_login_at"] = now
    session_id, refresh_token, session = _new_session(user_id, role, client, now)

    def create(txn: store.Transaction) -> None:
        create_account(txn, user_id, user, now)
        txn.create(store.db().collection(SESSIONS).document(session_id), session)

    try:
        store.run_transaction(create)
    except gexc.AlreadyExists as exc:
        raise Conflict("An account with this email already exists.") from exc
    announce_account(user_id, user, now)
    log.info("user registered", extra=log_fields(user_id=user_id, role=role))
    return _tokens(user_id, user, session_id, refresh_token, now)


def find_user_by_email(email: str) -> tuple[str, dict[str, Any]] | None:
    """One read: the user with this (lower-cased) email."""
    found = list(store.db().collection(USERS).where("email", "==", email).limit(1).stream())
    if not found:
        return None
    return found[0].id, found[0].to_dict() or {}


def login(*, email: str, password: str, client: Client, now: datetime) -> TokensOut:
    found = find_user_by_email(email)
    user_id, user = found if found else ("", {})
    # Same bcrypt work whether or not the account exists: timing tells nothing.
    if not verify_password(password, user.get("password_hash")) or user.get("status") == "archived":
        log.info("login failed", extra=log_fields(user_id=user_id or None))
        raise InvalidCredentials()
    if user.get("status") == "suspended":
        raise AccountSuspended()
    session_id, refresh_token, session = _new_session(user_id, user["role"], client, now)
    user["last_login_at"] = now
    batch = store.db().batch()
    batch.create(store.db().collection(SESSIONS).document(session_id), session)
    batch.update(store.db().collection(USERS).document(user_id), {"last_login_at": now})
    batch.commit()
    log.info("login", extra=log_fields(user_id=user_id, session_id=session_id))
    return _tokens(user_id, user, session_id, refresh_token, now)


def _parse_refresh_token(token: str) -> tuple[str, int, str]:
    parts = token.split(".")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[0].isalnum() or len(parts[0]) > 64:
        raise Unauthorized("The refresh token is invalid.")
    return parts[0], int(parts[1]), parts[2]


class RefreshReuse(Unauthorized):
    message = "The refresh token was already used; every session of that login has ended."


def refresh(*, refresh_token: str, client: Client, now: datetime) -> TokensOut:
    """Rotate: the presented token is spent and a new pair issued. A spent token presented
    again revokes the whole login (RFC 9700 reuse detection)."""
    session_id, generation, secret = _parse_refresh_token(refresh_token)
    presented = hash_token(secret)
    ref = store.db().collection(SESSIONS).document(session_id)
    new_secret_value = new_secret()

    def rotate(txn: store.Transaction) -> tuple[dict[str, Any], int] | None:
        snapshot = ref.get(transaction=txn)
        session = snapshot.to_dict()
        if session is None:
            raise Unauthorized("The refresh token is invalid.")
        if presented in session.get("spent_hashes", []):
            if session.get("revoked_at") is None:
                txn.update(ref, {"revoked_at": now, "revoked_reason": "refresh_token_reuse"})
            return None
        if presented != session.get("refresh_hash") or generation != session.get("refresh_gen"):
            raise Unauthorized("The refresh token is invalid.")
        if session.get("revoked_at") is not None or session.get("expires_at", now) <= now:
            raise Unauthorized("The session has ended; sign in again.")
        if session.get("user_status", "active") != "active":
            raise AccountSuspended()
        next_gen = generation + 1
        spent = [*session.get("spent_hashes", []), presented][-SPENT_HASHES_KEPT:]
        txn.update(
            ref,
            {
                "refresh_gen": next_gen,
                "refresh_hash": hash_token(new_secret_value),
                "spent_hashes": spent,
                "last_used_at": now,
                "ip": client.ip,
            },
        )
        return session, next_gen

    outcome = store.run_transaction(rotate)
    if outcome is None:
        log.warning("refresh token reuse: session revoked", extra=log_fields(session_id=session_id))
        raise RefreshReuse()
    session, next_gen = outcome
    user_id = session["user_id"]
    user = store.db().collection(USERS).document(user_id).get().to_dict()
    if user is None:
        raise Unauthorized("The session has ended; sign in again.")
    return _tokens(user_id, user, session_id, f"{session_id}.{next_gen}.{new_secret_value}", now)


def revoke_sessions(user_id: str, now: datetime, *, reason: str, keep: str | None = None) -> int:
    """End every live session of a user (but `keep`); their access tokens stop at once."""
    sessions = store.db().collection(SESSIONS)
    live = sessions.where("user_id", "==", user_id).where("revoked_at", "==", None).stream()
    batch = store.db().batch()
    count = 0
    for snapshot in live:
        if snapshot.id == keep:
            continue
        batch.update(snapshot.reference, {"revoked_at": now, "revoked_reason": reason})
        count += 1
        if count % 400 == 0:
            batch.commit()
            batch = store.db().batch()
    if count % 400:
        batch.commit()
    return count


def logout(*, user_id: str, session_id: str, all_devices: bool, now: datetime) -> None:
    if all_devices:
        revoke_sessions(user_id, now, reason="logout_all")
        return
    store.db().collection(SESSIONS).document(session_id).update({"revoked_at": now, "revoked_reason": "logout"})


def get_user(user_id: str) -> UserOut:
    data = store.db().collection(USERS).document(user_id).get().to_dict()
    if data is None:
        raise NotFound("No such user.")
    return user_out(user_id, data)
