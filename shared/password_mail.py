"""Password mails: a single-use, expiring token (stored hashed) and the mail that carries it.

"reset" is the forgotten-password mail (auth); "welcome" invites someone whose account was
created for them (classes) to set a first password. Both spend the token through auth's
confirm route.
"""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from typing import Any

from shared import store
from shared.auth import hash_token, new_id, new_secret
from shared.config import settings
from shared.registry import expires
from shared.userdata import array_field, field, personal

# Mail bodies carry live links (tokens): the export keeps who and what, not the text.
MAIL = personal("mail", array_field("to", email=True), omit=("message.text", "message.html"))
PASSWORD_RESETS = personal(expires("password_resets"), field("user_id"), hide_id=True)

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
    # shared/schools.py: a school's invitation, accepted at sign-up or once signed in.
    "school_invitation": (
        "Join {school} on Studyhall",
        "/join",
        "join {school}",
        "It is meant for this address only; if you did not expect it, ignore this mail.",
    ),
}


def _reset_mail(email: str, link: str, purpose: str, ttl: timedelta, **names: str) -> dict[str, Any]:
    """A `mail` document in the shape of the Firebase "Trigger Email" extension. `names` fill
    the purpose's placeholders (`school`), escaped in the HTML part."""
    subject, _, action, closing = _MAILS[purpose]
    hours = max(1, int(ttl.total_seconds() // 3600))
    span = f"{hours // 24} days" if hours >= 48 else f"{hours} hour{'s' if hours != 1 else ''}"
    expiry = f"The link works once and expires in {span}."
    text = f"Hello,\n\nOpen this link to {action.format(**names)}:\n{link}\n\n{expiry} {closing}\n\nStudyhall"
    html_action = action.format(**{k: html.escape(v) for k, v in names.items()})
    html_body = (
        f'<p>Hello,</p><p><a href="{html.escape(link)}">Open this link to {html_action}</a>.</p>'
        f"<p>{expiry} {closing}</p><p>Studyhall</p>"
    )
    return {"to": [email], "message": {"subject": subject.format(**names), "text": text, "html": html_body}}


def queue_mail(writer: Any, email: str, link: str, purpose: str, ttl: timedelta, **names: str) -> None:
    """Add the `mail` document of `purpose` to `writer` (a batch or a transaction): one write."""
    writer.create(store.db().collection(MAIL).document(new_id()), _reset_mail(email, link, purpose, ttl, **names))


def create_password_reset(
    user_id: str, email: str, now: datetime, *, purpose: str = "reset", writer: Any = None
) -> str:
    """Store a single-use, expiring token (only its hash) and queue the mail that carries it.

    `purpose` is "reset" (forgotten password, expires after `password_reset_ttl_seconds`) or
    "welcome" (an account created for someone, who sets a first password; expires after
    `invitation_ttl_seconds`). Two writes, no read; through `writer` (the transaction of the
    change that asks for the mail, so that both commit or neither does), else in their own batch.
    Returns the token for internal use only: never put it in an HTTP response or a log.
    """
    if purpose not in ("reset", "welcome"):
        raise ValueError(f"unknown password mail purpose {purpose!r}")
    cfg = settings()
    ttl = timedelta(seconds=cfg.password_reset_ttl_seconds if purpose == "reset" else cfg.invitation_ttl_seconds)
    token = new_secret()
    link = f"{cfg.app_url.rstrip('/')}{_MAILS[purpose][1]}?token={token}"
    client_db = store.db()
    batch = writer if writer is not None else client_db.batch()
    batch.create(
        client_db.collection(PASSWORD_RESETS).document(hash_token(token)),
        {
            "user_id": user_id,
            "email": email,  # spending the token proves control of this address (email verification)
            "purpose": purpose,
            "created_at": now,
            "expires_at": now + ttl,
            "used_at": None,
        },
    )
    queue_mail(batch, email, link, purpose, ttl)
    if writer is None:
        batch.commit()
    return token
