"""Email verification: a single-use, expiring link mailed to a new account's address.

Every new account (a registration, an account an admin approved, the first admin) announces
itself with `user.registered`; `auth-on-user-registered` queues the mail once per event. The
token is 256 random bits; only its SHA-256 is stored, in `email_verifications/{hash}` with the
address it was sent to, so a link for an address the account no longer has is dead.

    email_verifications/{sha256(token)}   {user_id, email, created_at, expires_at, used_at}
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared import audit, store
from shared.audit import Client
from shared.auth import hash_token, new_id, new_secret
from shared.collections import USERS
from shared.config import settings
from shared.errors import NotFound
from shared.event_types import UserRegistered
from shared.events import Event, run_once
from shared.logging import get_logger, log_fields
from shared.password_mail import MAIL
from shared.ratelimit import Limit, hit
from shared.registry import expires
from shared.userdata import field, personal

log = get_logger("auth.verification")

EMAIL_VERIFICATIONS = personal(expires("email_verifications"), field("user_id"), hide_id=True)
# Resends per account per hour (a mailbox is not to be flooded from a stolen session either).
RESENDS_PER_ACCOUNT = Limit(name="verify-mail", max_hits=3, window_seconds=3600)
CONSUMER = "auth-on-user-registered"


def verification_mail(email: str, link: str, ttl: timedelta) -> dict[str, Any]:
    """A `mail` document in the shape of the Firebase "Trigger Email" extension."""
    hours = max(1, int(ttl.total_seconds() // 3600))
    expiry = f"The link works once and expires in {hours} hour{'s' if hours != 1 else ''}."
    closing = "If you did not create a Studyhall account, ignore this mail."
    text = f"Hello,\n\nOpen this link to confirm your email address:\n{link}\n\n{expiry} {closing}\n\nStudyhall"
    html = (
        f'<p>Hello,</p><p><a href="{link}">Confirm your email address</a>.</p><p>{expiry} {closing}</p><p>Studyhall</p>'
    )
    return {"to": [email], "message": {"subject": "Confirm your Studyhall email address", "text": text, "html": html}}


def queue_verification(writer: Any, user_id: str, email: str, now: datetime) -> str:
    """Add to `writer` (a transaction or batch) the hashed token and the mail that carries it:
    two writes. Returns the token for internal use only: never in a response or a log."""
    cfg = settings()
    ttl = timedelta(seconds=cfg.email_verification_ttl_seconds)
    token = new_secret()
    link = f"{cfg.app_url.rstrip('/')}/verify-email?token={token}"
    client_db = store.db()
    writer.create(
        client_db.collection(EMAIL_VERIFICATIONS).document(hash_token(token)),
        {"user_id": user_id, "email": email, "created_at": now, "expires_at": now + ttl, "used_at": None},
    )
    writer.create(client_db.collection(MAIL).document(new_id()), verification_mail(email, link, ttl))
    return token


def needs_verification(user: dict[str, Any] | None) -> bool:
    if not user or user.get("email_verified") or user.get("status") == "archived":
        return False
    # An account created for someone (no password yet) is confirmed by the welcome mail's link,
    # with which its owner sets a first password: a second mail would only confuse them.
    return user.get("password_hash") is not None


def on_user_registered(event: Event) -> None:
    """Queue the verification mail of a new account, once per event (2 reads, 3 writes)."""
    user_id = event.data_as(UserRegistered).user_id
    ref = store.db().collection(USERS).document(user_id)

    def send(txn: store.Transaction) -> bool:
        user = ref.get(transaction=txn).to_dict()
        if user is None or not needs_verification(user):
            return False
        queue_verification(txn, user_id, user["email"], event.occurred_at)
        return True

    if run_once(CONSUMER, event, send):
        log.info("verification mail queued", extra=log_fields(user_id=user_id))


def resend(*, user_id: str, now: datetime) -> bool:
    """Queue a new link unless the address is verified already (then nothing). At most
    RESENDS_PER_ACCOUNT per hour: 429 beyond. 1 read, 1 write (+2 when a mail is queued)."""
    hit(RESENDS_PER_ACCOUNT, user_id, now)
    user = store.db().collection(USERS).document(user_id).get().to_dict()
    if not needs_verification(user):
        return False
    batch = store.db().batch()
    queue_verification(batch, user_id, user["email"], now)  # type: ignore[index]
    batch.commit()
    return True


def _bad_token() -> NotFound:
    # A token that names no live link: a reference to something that does not exist (404).
    return NotFound(
        "The link is invalid or has expired; ask for a new one.",
        details=[{"field": "token", "message": "Invalid or expired."}],
    )


def verify(*, token: str, client: Client, now: datetime) -> str:
    """Spend the token and mark the address verified, in one transaction (two concurrent
    confirmations cannot both spend it). A used, expired or unknown token, or one sent to an
    address the account no longer has, is a 422. Returns the user id. 2 reads, 3 writes."""
    ref = store.db().collection(EMAIL_VERIFICATIONS).document(hash_token(token))

    def spend(txn: store.Transaction) -> str:
        pending = ref.get(transaction=txn).to_dict()
        if pending is None or pending.get("used_at") is not None or pending["expires_at"] <= now:
            raise _bad_token()
        user_ref = store.db().collection(USERS).document(pending["user_id"])
        user = user_ref.get(transaction=txn).to_dict()
        if user is None or user.get("status") == "archived" or user.get("email") != pending["email"]:
            raise _bad_token()
        txn.update(ref, {"used_at": now})
        txn.update(user_ref, {"email_verified": True, "email_verified_at": now, "updated_at": now})
        audit.record(
            "auth.email_verified",
            actor_id=pending["user_id"],
            target_id=pending["user_id"],
            client=client,
            at=now,
            writer=txn,
        )
        return str(pending["user_id"])

    return store.run_transaction(spend)


def email_changed_fields(new_email: str) -> dict[str, Any]:
    """What a change of address writes on the user: the new address is unverified, and links
    sent to the old one die (they name their address). For any future route that changes it."""
    return {"email": new_email, "email_verified": False, "email_verified_at": None}
