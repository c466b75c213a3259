"""Passwords: the forgotten-password reset (a mailed single-use token) and the change of a
known password; both end the other sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from functions.auth.lockout import failures_ref, locked_for, record_failure
from shared import audit, firebase, store
from shared.accounts import (
    find_user_by_email,
    revoke_sessions,
)
from shared.audit import Client
from shared.auth import (
    hash_password,
    hash_token,
    verify_password,
)
from shared.collections import USERS
from shared.errors import (
    AccountLocked,
    InvalidCredentials,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from shared.logging import get_logger
from shared.password_mail import PASSWORD_RESETS, create_password_reset
from shared.passwords import password_problem
from shared.ratelimit import Limit, hit

log = get_logger("auth")

# At most this many reset mails per email address per hour, whether or not it has an account.
RESET_MAILS_PER_EMAIL = Limit(name="reset-mail", max_hits=3, window_seconds=3600)


# Password reset ------------------------------------------------------------------------------


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
    batch = store.db().batch()  # the mail, its token and the audit entry: all or nothing
    if found and found[1].get("status") in ("active", "suspended"):
        user_id = found[0]
        create_password_reset(user_id, email, now, writer=batch)
    audit.record(
        "auth.password_reset_requested",
        actor_id=None,
        target_id=user_id,
        client=client,
        details={"mail_queued": user_id is not None},
        at=now,
        writer=batch,
    )
    batch.commit()


def _bad_reset_token() -> NotFound:
    # A token that names no live link: a reference to something that does not exist (404).
    return NotFound(
        "The link is invalid or has expired; ask for a new one.",
        details=[{"field": "token", "message": "Invalid or expired."}],
    )


def confirm_password_reset(*, token: str, new_password: str, client: Client, now: datetime) -> int:
    """Set a new password with a single-use token; every session of the user ends.

    The token is spent in the same transaction as the password change and its audit entry, so
    two concurrent confirmations cannot both succeed. A token older than the last password
    change is dead. The sessions end before that commit (once the token and password are
    judged good): a failure in between leaves the token unspent and the request can be sent
    again, never a new password with the old sessions alive. Returns the sessions revoked."""
    ref = store.db().collection(PASSWORD_RESETS).document(hash_token(token))
    password_hash = hash_password(new_password)  # outside the transaction: retries stay cheap

    def judged(reader: Any) -> tuple[dict[str, Any], Any, dict[str, Any]]:
        """The reset, its user's reference and the user, if the token may set this password."""
        reset = ref.get(transaction=reader).to_dict()
        if reset is None or reset.get("used_at") is not None or reset["expires_at"] <= now:
            raise _bad_reset_token()
        user_ref = store.db().collection(USERS).document(reset["user_id"])
        user = user_ref.get(transaction=reader).to_dict()
        changed = (user or {}).get("password_changed_at")
        if user is None or user.get("status") == "archived" or (changed is not None and changed > reset["created_at"]):
            raise _bad_reset_token()
        problem = password_problem(new_password, email=user["email"])
        if problem:
            raise ValidationFailed(
                "The password is not acceptable.", details=[{"field": "new_password", "message": problem}]
            )
        return reset, user_ref, user

    reset, _, _ = judged(None)
    revoked = revoke_sessions(str(reset["user_id"]), now, reason="password_reset")

    def spend(txn: store.Transaction) -> str:
        reset, user_ref, user = judged(txn)
        txn.update(ref, {"used_at": now})
        changes = {"password_hash": password_hash, "password_changed_at": now, "updated_at": now}
        if reset.get("email") == user["email"] and not user.get("email_verified"):
            # The link reached this address: no separate confirmation mail is needed any more.
            changes |= {"email_verified": True, "email_verified_at": now}
        changes |= firebase.signed_out(now)
        txn.update(user_ref, changes)
        audit.record(
            "auth.password_reset",
            actor_id=reset["user_id"],
            target_id=reset["user_id"],
            client=client,
            details={"sessions_revoked": revoked},
            at=now,
            writer=txn,
        )
        return str(reset["user_id"])

    store.run_transaction(spend)
    firebase.revoke_sign_ins(str(reset["user_id"]))
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
    wait = locked_for(failures_ref(user["email"]).get().to_dict(), now)
    if wait:
        raise AccountLocked(wait)
    if not verify_password(current_password, user.get("password_hash")):
        wait = record_failure(user["email"], now)
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
    # Other sessions end first; the new password and its audit entry then commit together, last:
    # a failure before that leaves the old password, so the request can simply be sent again.
    revoked = revoke_sessions(user_id, now, reason="password_changed", keep=session_id)
    batch = store.db().batch()
    batch.update(
        user_ref,
        {"password_hash": hash_password(new_password), "password_changed_at": now, "updated_at": now}
        | firebase.signed_out(now),
    )
    audit.record(
        "auth.password_changed",
        actor_id=user_id,
        target_id=user_id,
        client=client,
        details={"sessions_revoked": revoked},
        at=now,
        writer=batch,
    )
    batch.commit()
    firebase.revoke_sign_ins(user_id)  # this session stays, but its Firebase sign-in must be renewed
    return revoked
