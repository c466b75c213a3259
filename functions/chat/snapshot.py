"""The retrieval index shared through Cloud Storage, so that a new instance of the reply
function starts from the last built index (one object read, then a refresh of what changed
since) instead of reading every content document again.

`STUDYHALL_TUTOR_INDEX_BUCKET` names the bucket (empty: no snapshots, every instance builds
its own: the local stack and most tests). The object `chat/index.sqlite` is a SQLite database
image; its metadata holds when the content was read (`since`). The scheduled job
`chat-index-rebuild` writes it; replies only read it. Every call has a time limit per attempt
(`ATTEMPT_SECONDS`) and a bounded retry (`RETRY`, at most `RETRY_SECONDS` in all); a failure
to read it is a missing snapshot, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.config import settings
from shared.logging import get_logger, log_fields
from shared.registry import published

if TYPE_CHECKING:
    from functions.chat.retrieval import Index

log = get_logger("chat")

OBJECT = "chat/index.sqlite"
REBUILD_JOB = "chat-index-rebuild"  # the scheduled job that writes the snapshot
REBUILD_TOPIC = published(f"jobs.{REBUILD_JOB}")  # a new reply instance with none asks for it here
ATTEMPT_SECONDS = 10.0  # one request to Cloud Storage
RETRY_SECONDS = 20.0  # all attempts of one call, backoff included


def _retry() -> Any:
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_timeout(RETRY_SECONDS)


@dataclass(frozen=True)
class Snapshot:
    index: Index
    since: datetime


def _bucket() -> Any | None:
    name = settings().tutor_index_bucket
    if not name:
        return None
    from google.cloud import storage

    return storage.Client(project=settings().project_id).bucket(name)


def load() -> Snapshot | None:
    """The last saved index, or None (none saved, snapshots off, or unreadable)."""
    from functions.chat.retrieval import Index

    try:
        bucket = _bucket()
        blob = bucket.get_blob(OBJECT, timeout=ATTEMPT_SECONDS, retry=_retry()) if bucket is not None else None
        if blob is None:
            return None
        # Metadata first, then the image: the image is as new or newer than `since` says, so
        # the refresh after it can only read more than needed, never miss a change.
        image = blob.download_as_bytes(timeout=ATTEMPT_SECONDS, retry=_retry())
        since = datetime.fromisoformat(str((blob.metadata or {})["since"]))
        return Snapshot(index=Index.from_bytes(image), since=since)
    except Exception as exc:  # missing, corrupt, unreachable: build instead
        log.info("no usable index snapshot", extra=log_fields(reason=type(exc).__name__))
        return None


def shared() -> bool:
    """Whether instances share one index through a snapshot (a bucket is configured)."""
    return bool(settings().tutor_index_bucket)


def save(index: Index, since: datetime) -> None:
    """Write the snapshot (the rebuild job; a failure raises, so Pub/Sub runs the job again).
    The whole object is replaced at once, so a retried upload is harmless."""
    bucket = _bucket()
    if bucket is None:
        return
    blob = bucket.blob(OBJECT)
    blob.metadata = {"since": since.isoformat(), "passages": str(len(index))}
    blob.upload_from_string(
        index.to_bytes(), content_type="application/vnd.sqlite3", timeout=ATTEMPT_SECONDS, retry=_retry()
    )


def rebuild() -> int:
    """The rebuild job: every content document read once, indexed and shared. Returns the number
    of passages (0 when no bucket is configured: each instance then builds its own)."""
    from functions.chat.retrieval import build

    if _bucket() is None:
        log.info("no index bucket configured: nothing to share")
        return 0
    index, since = build()
    save(index, since)
    return len(index)
