"""A new account: its email claim, its user document and its `user.registered` event, written
in one transaction by every path that creates accounts (registration, class approval, the
first-admin command, demo data).

Apart from `shared.accounts` (reading and editing accounts) so that a function that only reads
users, such as `auth-me`, loads no event machinery on its cold start.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared import store
from shared.accounts import USER_EMAILS
from shared.collections import USERS
from shared.emails import email_key
from shared.errors import Conflict
from shared.event_types import USER_REGISTERED, UserRegistered
from shared.events import StagedEvent, publish_in


def create_account(
    txn: store.Transaction, user_id: str, user: dict[str, Any], now: datetime, *, event_id: str
) -> StagedEvent:
    """Claim the email, create the user (`shared.accounts.new_user`) and stage `user.registered`
    inside `txn`, which has done no writes yet; `.send()` the result after the commit.

    Email uniqueness holds under races: `user_emails/{key}` is created in the same transaction
    as the user, so of two concurrent registrations exactly one commits. Raises Conflict when
    the email is taken. `event_id` is fixed outside the transaction, so every attempt of it
    stages the same event.
    """
    client_db = store.db()
    email_ref = client_db.collection(USER_EMAILS).document(email_key(user["email"]))
    if email_ref.get(transaction=txn).exists:
        raise Conflict("An account with this email already exists.")
    txn.create(email_ref, {"user_id": user_id, "created_at": now})
    txn.create(client_db.collection(USERS).document(user_id), user)
    return publish_in(
        txn, USER_REGISTERED, UserRegistered.of_account(user_id, user), occurred_at=now, event_id=event_id
    )
