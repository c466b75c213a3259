"""Every outbound call's time limit and retry bound, in one place (issue 22).

Firestore needs nothing here: its client gives each RPC a 60 s timeout and retries the
transient errors (UNAVAILABLE, DEADLINE_EXCEEDED, ...) with backoff within that 60 s
(google.cloud.firestore_v1 transports' defaults), and `shared.store.run_transaction` retries a
lost race at most 5 times. Pub/Sub and Cloud Storage take their bounds from here; the tutor's
model providers and its index snapshot keep their own (functions/chat).
"""

from __future__ import annotations

from typing import Any

# Pub/Sub: one publish waits at most PUBLISH_TIMEOUT for the server's ack, its RPC retries end
# within PUBLISH_RETRY_DEADLINE (the client's default would keep retrying for 600 s).
PUBLISH_TIMEOUT = 30.0
PUBLISH_RPC_TIMEOUT = 10.0
PUBLISH_RETRY_DEADLINE = 20.0
# Cloud Storage: (connect, read) seconds per HTTP request, and every retry over within
# STORAGE_RETRY_DEADLINE (the library's default is 120 s, longer than an HTTP function's life).
STORAGE_TIMEOUT = (5.0, 30.0)
STORAGE_RETRY_DEADLINE = 30.0


def publisher_options() -> Any:
    """PublisherOptions bounding each publish RPC and its retries."""
    from google.api_core import exceptions, retry
    from google.cloud.pubsub_v1 import types

    transient = retry.if_exception_type(
        exceptions.ServiceUnavailable, exceptions.DeadlineExceeded, exceptions.InternalServerError, exceptions.Aborted
    )
    bounded = retry.Retry(predicate=transient, initial=0.1, maximum=4.0, multiplier=2.0, timeout=PUBLISH_RETRY_DEADLINE)
    return types.PublisherOptions(retry=bounded, timeout=PUBLISH_RPC_TIMEOUT)


def storage_retry() -> Any:
    """The Storage library's retry of transient errors, ended within STORAGE_RETRY_DEADLINE."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_timeout(STORAGE_RETRY_DEADLINE)
