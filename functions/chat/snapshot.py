"""The retrieval index shared through Cloud Storage, so that a new instance of the reply
function starts from the last built index (one object read, then a refresh of what changed
since) instead of reading every content document again.

`STUDYHALL_TUTOR_INDEX_BUCKET` names the bucket (empty: no snapshots, every instance builds
its own). The object `chat/index.sqlite` is a SQLite database image; its metadata holds when
the content was read (`since`). Any failure to read or write it only costs a full build.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.config import settings
from shared.logging import get_logger, log_fields

if TYPE_CHECKING:
    from functions.chat.retrieval import Index

log = get_logger("chat")

OBJECT = "chat/index.sqlite"


@dataclass(frozen=True)
class Snapshot:
    index: Index
    since: datetime


def _bucket() -> Any | None:
    name = settings().tutor_index_bucket
    if not name:
        return None
    from google.cloud import storage  # type: ignore[attr-defined]

    return storage.Client(project=settings().project_id).bucket(name)


def load() -> Snapshot | None:
    """The last saved index, or None (none saved, snapshots off, or unreadable)."""
    from functions.chat.retrieval import Index

    try:
        bucket = _bucket()
        blob = bucket.get_blob(OBJECT) if bucket is not None else None
        if blob is None:
            return None
        # Metadata first, then the image: the image is as new or newer than `since` says, so
        # the refresh after it can only read more than needed, never miss a change.
        image = blob.download_as_bytes()
        since = datetime.fromisoformat(str((blob.metadata or {})["since"]))
        return Snapshot(index=Index.from_bytes(image), since=since)
    except Exception as exc:  # missing, corrupt, unreachable: build instead
        log.info("no usable index snapshot", extra=log_fields(reason=type(exc).__name__))
        return None


def save(index: Index, since: datetime) -> None:
    try:
        bucket = _bucket()
        if bucket is None:
            return
        blob = bucket.blob(OBJECT)
        blob.metadata = {"since": since.isoformat(), "passages": str(len(index))}
        blob.upload_from_string(index.to_bytes(), content_type="application/vnd.sqlite3")
    except Exception as exc:
        log.warning("index snapshot not saved", extra=log_fields(reason=type(exc).__name__))
