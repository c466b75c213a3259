"""The Pub/Sub client, shared by every publisher in the process, and topic names.

Apart from `shared.events` (envelopes and typed payloads) so that a function that only probes
Pub/Sub, such as the readiness check, loads no event models on its cold start.
"""

from __future__ import annotations

import threading
from typing import Any

from shared.config import settings

_publisher: Any = None
_publisher_lock = threading.Lock()


def publisher() -> Any:
    """The process's one PublisherClient, created on first use (its import is paid then)."""
    global _publisher
    if _publisher is None:
        with _publisher_lock:
            if _publisher is None:
                from google.cloud import pubsub_v1

                from shared.outbound import publisher_options

                _publisher = pubsub_v1.PublisherClient(publisher_options=publisher_options())
    return _publisher


def topic_path(topic: str) -> str:
    return f"projects/{settings().project_id}/topics/{topic}"
