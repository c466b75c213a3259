"""Accounts and sessions: the business rules behind the auth routes, plain values in and out.

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
from google.cloud.firestore_v1.base_query import FieldFilter

from functions.auth.models import SessionOut, TokensOut, UserOut
from shared import audit, store
from shared.audit import Client
from shared.auth import (
    SESSIONS,
    hash_password,
    hash_token,
    issue_access_token,
    new_id,
    new_secret,
    session_is_live,
    verify_password,
)
from shared.collections import USERS
from shared.config import settings
from shared.emails import email_key
from shared.errors import (
    AccountLocked,
    AccountSuspended,
    Conflict,
    InvalidCredentials,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    ValidationFailed,
)
from shared.events import StagedEvent, publish, publish_in
from shared.logging import get_logger, log_fields
from shared.passwords import password_problem
from shared.ratelimit import Limit, hit
from shared.registry import composite_index, expires
from shared.userdata import array_field, field, personal

log = get_logger("auth")

USER_EMAILS = personal("user_emails", field("user_id"))
# Mail bodies carry live links (tokens): the export keeps who and what, not the text.
MAIL = personal("mail", array_field("to", email=True), omit=("message.text", "message.html"))
PASSWORD_RESETS = personal(expires("password_resets"), field("user_id"), hide_id=True)
LOGIN_FAILURES = expires("login_failures")
FAILURES_FORGOTTEN_AFTER = timedelta(days=1)
# At most this many reset mails per email address per hour, whether or not it has an account.
RESET_MAILS_PER_EMAIL = Limit(name="reset-mail", max_hits=3, window_seconds=3600)
SPENT_HASHES_KEPT = 20


def user_out(user_id: str, data: dict[str, Any]) -> UserOut:
    # A field the document lacks (an account older than it) takes the model's default.
    return UserOut(id=user_id, **{k: data[k] for k in UserOut.model_fields if k != "id" and k in data})


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
    timezone: str = "UTC",
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
        "timezone": timezone,
        "created_at": now,
        "updated_at": now,
        "last_login_at": None,
        "email_verified": False,
    }


def create_account(txn: store.Transaction, user_id: str, user: dict[str, Any], now: datetime) -> None:
    """Claim the email and create the user inside `txn` (which has done no writes yet).

    Email uniqueness holds under races: `user_emails/{key}` is created in the same
    transaction as the user, so of two concurrent registrations exactly one commits.
    Raises Conflict when the email is taken. The caller publishes `user.registered` after commit.
    """
    client_db = store.db()
    email_ref = client_db.collection(USER_EMAILS).document(email_key(user["email"]))
    if email_ref.get(transaction=txn).exists:
        raise Conflict("An account with this email already exists.")
    txn.create(email_ref, {"user_id": user_id, "created_at": now})
    txn.create(client_db.collection(USERS).document(user_id), user)


def account_event(user_id: str, user: dict[str, Any]) -> dict[str, Any]:
    """The `user.registered` payload."""
    return {"user_id": user_id, "role": user["role"], "email_domain": user["email"].split("@")[-1]}


def announce_account(user_id: str, user: dict[str, Any], now: datetime) -> None:
    publish("user.registered", account_event(user_id, user), occurred_at=now)


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
) -> TokensOut:
    """Create the account and its first session, in one transaction. `created_by`: the admin
    who creates an admin account (audited as `user.created_by_admin`)."""
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
        create_account(txn, user_id, user, now)
        txn.create(store.db().collection(SESSIONS).document(session_id), session)
        # user.registered commits with the account: no crash can lose it (shared.events.publish_in).
        staged[:] = [
            publish_in(txn, "user.registered", account_event(user_id, user), occurred_at=now, event_id=event_id)
        ]
        audit.record(
            "user.created_by_admin" if created_by else "auth.register",
            actor_id=created_by or user_id,
            target_id=user_id,
            client=client,
            details={"role": role, "session_id": session_id},
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
    log.info("user registered", extra=log_fields(user_id=user_id, role=role))
    return _tokens(user_id, user, session_id, refresh_token, now)


def find_user_by_email(email: str) -> tuple[str, dict[str, Any]] | None:
    """One read: the user with this (lower-cased) email."""
    found = list(store.db().collection(USERS).where(filter=FieldFilter("email", "==", email)).limit(1).stream())
    if not found:
        return None
    return found[0].id, found[0].to_dict() or {}


def _failures_ref(email: str) -> Any:
    # Keyed by the email's hash, account or not: a lockout tells nothing about existence.
    return store.db().collection(LOGIN_FAILURES).document(hash_token("login:" + email))


def _locked_for(failures: dict[str, Any] | None, now: datetime) -> int:
    """Seconds the login still has to wait, 0 when it may try."""
    locked_until = (failures or {}).get("locked_until")
    if locked_until is None or locked_until <= now:
        return 0
    return max(1, int((locked_until - now).total_seconds() + 0.999))


def _record_failure(email: str, now: datetime) -> int:
    """Count a failed login. From the `lockout_threshold`-th failure in a row the login waits
    `lockout_base_seconds`, doubling with every further failure up to `lockout_max_seconds`.
    Returns the wait now imposed (0: none).

    An atomic increment whose new value the commit returns (1 write; +1 when it locks):
    concurrent failures are all counted, each learns its own count, and none aborts on
    contention, the way a transaction would under a burst."""
    cfg = settings()
    ref = _failures_ref(email)
    written = ref.set(
        {"failures": store.Increment(1), "last_failure_at": now, "expires_at": now + FAILURES_FORGOTTEN_AFTER},
        merge=True,
    )
    failures = int(written.transform_results[0].integer_value)
    if failures < cfg.lockout_threshold:
        return 0
    wait = int(min(cfg.lockout_max_seconds, cfg.lockout_base_seconds * 2 ** (failures - cfg.lockout_threshold)))
    locked_until = now + timedelta(seconds=wait)
    ref.update({"locked_until": locked_until, "expires_at": max(now + FAILURES_FORGOTTEN_AFTER, locked_until)})
    return wait


def login(*, email: str, password: str, client: Client, now: datetime) -> TokensOut:
    """Check the lockout (1 read), find the user (1 read), verify, open a session.

    A locked login answers 429 before the password is even checked: the right password waits
    too. Failures are counted per email, existing or not."""
    failures_ref = _failures_ref(email)
    failures = failures_ref.get().to_dict()
    wait = _locked_for(failures, now)
    if wait:
        raise AccountLocked(wait)
    found = find_user_by_email(email)
    user_id, user = found if found else ("", {})
    # Same bcrypt work whether or not the account exists: timing tells nothing.
    if not verify_password(password, user.get("password_hash")) or user.get("status") == "archived":
        wait = _record_failure(email, now)
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
    session_id, refresh_token, session = _new_session(user_id, user["role"], client, now)
    user["last_login_at"] = now
    batch = store.db().batch()
    batch.create(store.db().collection(SESSIONS).document(session_id), session)
    batch.update(store.db().collection(USERS).document(user_id), {"last_login_at": now})
    if failures is not None:
        batch.delete(failures_ref)
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


def logout(*, user_id: str, session_id: str, all_devices: bool, client: Client | None = None, now: datetime) -> int:
    """End this session (1 write) or every session of the user (a query, 1 write each)."""
    if all_devices:
        count = revoke_sessions(user_id, now, reason="logout_all")
        action = "auth.logout_all"
    else:
        store.db().collection(SESSIONS).document(session_id).update({"revoked_at": now, "revoked_reason": "logout"})
        count = 1
        action = "auth.logout"
    audit.record(
        action,
        actor_id=user_id,
        target_id=user_id,
        client=client or Client(ip="", user_agent=""),
        details={"session_id": session_id, "sessions_revoked": count},
        at=now,
    )
    return count


def get_user(user_id: str) -> UserOut:
    data = store.db().collection(USERS).document(user_id).get().to_dict()
    if data is None:
        raise NotFound("No such user.")
    return user_out(user_id, data)


# Password reset and invitation mails ---------------------------------------------------------

_MAILS: dict[str, tuple[str, str, str, str]] = {
    # purpose: (subject, path of the frontend page, what the link does, the closing line)
    "reset": (
        "Reset your Studyhall password",
        "/reset-password",
        "choose a new password",
        "If you did not ask for it, ignore this mail: nothing changes.",
    ),
    "welcome": (
        "Welcome to Studyhall: set your password",
        "/set-password",
        "set your password",
        "Your teacher asked for this account for you; ask them if you did not expect it.",
    ),
}


def _reset_mail(email: str, link: str, purpose: str, ttl: timedelta) -> dict[str, Any]:
    """A `mail` document in the shape of the Firebase "Trigger Email" extension."""
    subject, _, action, closing = _MAILS[purpose]
    hours = max(1, int(ttl.total_seconds() // 3600))
    expiry = f"The link works once and expires in {hours} hour{'s' if hours != 1 else ''}."
    text = f"Hello,\n\nOpen this link to {action}:\n{link}\n\n{expiry} {closing}\n\nStudyhall"
    html = (
        f'<p>Hello,</p><p><a href="{link}">Open this link to {action}</a>.</p><p>{expiry} {closing}</p><p>Studyhall</p>'
    )
    return {"to": [email], "message": {"subject": subject, "text": text, "html": html}}


def create_password_reset(user_id: str, email: str, now: datetime, *, purpose: str = "reset") -> str:
    """Store a single-use, expiring token (only its hash) and queue the mail that carries it.

    `purpose` is "reset" (forgotten password, expires after `password_reset_ttl_seconds`) or
    "welcome" (an account created for someone, who sets a first password; expires after
    `invitation_ttl_seconds`). Two writes, no read. Returns the token for internal use only:
    never put it in an HTTP response or a log.
    """
    if purpose not in _MAILS:
        raise ValueError(f"unknown password mail purpose {purpose!r}")
    cfg = settings()
    ttl = timedelta(seconds=cfg.password_reset_ttl_seconds if purpose == "reset" else cfg.invitation_ttl_seconds)
    token = new_secret()
    link = f"{cfg.app_url.rstrip('/')}{_MAILS[purpose][1]}?token={token}"
    client_db = store.db()
    batch = client_db.batch()
    batch.create(
        client_db.collection(PASSWORD_RESETS).document(hash_token(token)),
        {"user_id": user_id, "purpose": purpose, "created_at": now, "expires_at": now + ttl, "used_at": None},
    )
    batch.create(client_db.collection(MAIL).document(new_id()), _reset_mail(email, link, purpose, ttl))
    batch.commit()
    return token


def request_password_reset(*, email: str, client: Client, now: datetime) -> None:
    """Queue a reset mail if the email belongs to an account that may sign in; answer the same
    either way. Per email at most RESET_MAILS_PER_EMAIL, account or not (no mail bombing)."""
    try:
        hit(RESET_MAILS_PER_EMAIL, email, now)
    except RateLimited:
        log.info("password reset mail limit reached")
        return
    found = find_user_by_email(email)
    user_id = None
    if found and found[1].get("status") in ("active", "suspended"):
        user_id = found[0]
        create_password_reset(user_id, email, now)
    audit.record(
        "auth.password_reset_requested",
        actor_id=None,
        target_id=user_id,
        client=client,
        details={"mail_queued": user_id is not None},
        at=now,
    )


def _bad_reset_token() -> ValidationFailed:
    return ValidationFailed(
        "The link is invalid or has expired; ask for a new one.",
        details=[{"field": "token", "message": "Invalid or expired."}],
    )


def confirm_password_reset(*, token: str, new_password: str, client: Client, now: datetime) -> int:
    """Set a new password with a single-use token; every session of the user ends.

    The token is spent in the same transaction as the password change, so two concurrent
    confirmations cannot both succeed. A token older than the last password change is dead.
    Returns the number of sessions revoked."""
    ref = store.db().collection(PASSWORD_RESETS).document(hash_token(token))
    password_hash = hash_password(new_password)  # outside the transaction: retries stay cheap

    def spend(txn: store.Transaction) -> str:
        reset = ref.get(transaction=txn).to_dict()
        if reset is None or reset.get("used_at") is not None or reset["expires_at"] <= now:
            raise _bad_reset_token()
        user_ref = store.db().collection(USERS).document(reset["user_id"])
        user = user_ref.get(transaction=txn).to_dict()
        changed = (user or {}).get("password_changed_at")
        if user is None or user.get("status") == "archived" or (changed is not None and changed > reset["created_at"]):
            raise _bad_reset_token()
        problem = password_problem(new_password, email=user["email"])
        if problem:
            raise ValidationFailed(
                "The password is not acceptable.", details=[{"field": "new_password", "message": problem}]
            )
        txn.update(ref, {"used_at": now})
        txn.update(user_ref, {"password_hash": password_hash, "password_changed_at": now, "updated_at": now})
        return str(reset["user_id"])

    user_id = store.run_transaction(spend)
    revoked = revoke_sessions(user_id, now, reason="password_reset")
    audit.record(
        "auth.password_reset",
        actor_id=user_id,
        target_id=user_id,
        client=client,
        details={"sessions_revoked": revoked},
        at=now,
    )
    return revoked


def change_password(
    *, user_id: str, session_id: str, current_password: str, new_password: str, client: Client, now: datetime
) -> int:
    """Needs the current password; the other sessions end, this one stays. Returns how many ended."""
    user_ref = store.db().collection(USERS).document(user_id)
    user = user_ref.get().to_dict()
    if user is None:
        raise NotFound("No such user.")
    # Wrong current passwords count toward the login lockout: a stolen access token cannot be
    # used to guess the password at leisure.
    wait = _locked_for(_failures_ref(user["email"]).get().to_dict(), now)
    if wait:
        raise AccountLocked(wait)
    if not verify_password(current_password, user.get("password_hash")):
        wait = _record_failure(user["email"], now)
        audit.record(
            "auth.password_change_failed",
            actor_id=user_id,
            target_id=user_id,
            client=client,
            details={"locked_seconds": wait},
            at=now,
        )
        if wait:
            raise AccountLocked(wait)
        # API.md: wrong credentials are 401 invalid_credentials (the code tells a frontend that
        # the session itself is fine).
        raise InvalidCredentials(
            "The current password is incorrect.",
            details=[{"field": "current_password", "message": "Incorrect."}],
        )
    problem = password_problem(new_password, email=user["email"])
    if problem:
        raise ValidationFailed(
            "The password is not acceptable.", details=[{"field": "new_password", "message": problem}]
        )
    user_ref.update({"password_hash": hash_password(new_password), "password_changed_at": now, "updated_at": now})
    revoked = revoke_sessions(user_id, now, reason="password_changed", keep=session_id)
    audit.record(
        "auth.password_changed",
        actor_id=user_id,
        target_id=user_id,
        client=client,
        details={"sessions_revoked": revoked},
        at=now,
    )
    return revoked


# Sessions of the signed-in user ------------------------------------------------------------

SESSION_ORDER = [("created_at", store.DESCENDING)]
composite_index(SESSIONS, ("user_id", "ASCENDING"), ("revoked_at", "ASCENDING"), ("created_at", "DESCENDING"))


def session_out(session_id: str, data: dict[str, Any], current: str) -> SessionOut:
    return SessionOut(
        id=session_id,
        device=data.get("device", ""),
        ip=data.get("ip", ""),
        user_agent=data.get("user_agent", ""),
        created_at=data["created_at"],
        last_used_at=data.get("last_used_at") or data["created_at"],
        expires_at=data.get("expires_at"),
        current=session_id == current,
    )


def list_sessions(*, user_id: str, current: str, limit: int, cursor: str | None, now: datetime) -> store.Page:
    """The live sessions of the user, newest first: one query (limit + 1 reads)."""
    page = store.paginate(
        live_sessions(user_id), store.db().collection(SESSIONS), SESSION_ORDER, limit, cursor, lambda snap: snap
    )
    page.items = [
        session_out(snap.id, snap.to_dict() or {}, current)
        for snap in page.items
        if session_is_live(snap.to_dict(), now)
    ]
    return page


def revoke_session(*, user_id: str, session_id: str, client: Client, now: datetime) -> None:
    """End one of the caller's own sessions. Another user's session, or one already ended, is
    not found (1 read, 2 writes)."""
    ref = store.db().collection(SESSIONS).document(session_id)
    data = ref.get().to_dict()
    if data is None or data.get("user_id") != user_id or not session_is_live(data, now):
        raise NotFound("No such session.")
    batch = store.db().batch()
    batch.update(ref, {"revoked_at": now, "revoked_reason": "revoked_by_user"})
    audit.record(
        "auth.session_revoked",
        actor_id=user_id,
        target_id=user_id,
        client=client,
        details={"session_id": session_id},
        at=now,
        writer=batch,
    )
    batch.commit()
