"""Email confirmation: the mailed link, a new one on request, the first one on registration."""

from __future__ import annotations

from functions.auth import verification
from functions.auth.models import EmailVerifiedOut, MessageOut, VerifyEmailIn
from shared.event_types import USER_REGISTERED
from shared.events import Event, subscriber
from shared.http import PUBLIC, SIGNED_IN, Call, HttpFunction
from shared.ratelimit import per_ip

verify_email_route = HttpFunction("auth-verify-email", "/api/v1/auth/verify-email")
verify_resend_route = HttpFunction("auth-verify-email-resend", "/api/v1/auth/verify-email/resend")

# Per-IP limit (production default; the setting ip_limit_verify_email overrides it).
VERIFY_LIMIT = per_ip("verify_email", default=30, window_seconds=3600)


@verify_email_route.post(PUBLIC, body=VerifyEmailIn, response=EmailVerifiedOut, before=(VERIFY_LIMIT,), errors=(404,))
def verify_email(call: Call[VerifyEmailIn, None]) -> EmailVerifiedOut:
    """Confirm the email address with the mailed single-use token."""
    verification.verify(token=call.body.token, client=call.client, now=call.now)
    return EmailVerifiedOut(message="Your email address is confirmed.", email_verified=True)


@verify_resend_route.post(SIGNED_IN, response=MessageOut, status=202, before=(VERIFY_LIMIT,))
def resend_verification(call: Call[None, None]) -> MessageOut:
    """Mail a new confirmation link (nothing when the address is confirmed already)."""
    sent = verification.resend(user_id=call.user.user_id, now=call.now)
    return MessageOut(message="A new link is on its way." if sent else "Your email address is already confirmed.")


@subscriber(verification.CONSUMER, topic=USER_REGISTERED)
def on_user_registered(event: Event) -> None:
    """A new account gets its verification mail, once however often the event arrives."""
    verification.on_user_registered(event)
