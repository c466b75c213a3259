"""Learning events: the per-user stats that the progress pipeline keeps."""

from __future__ import annotations

from functions.progress import service
from shared.events import Event, run_once, subscriber


@subscriber("progress-on-user-registered", topic="user.registered")
def on_user_registered(event: Event) -> None:
    """A new account gets its stats document, once however often the event arrives."""
    run_once(
        "progress-on-user-registered",
        event,
        lambda txn: service.create_stats(
            txn, event.data["user_id"], event.data.get("role", "student"), event.occurred_at
        ),
    )
