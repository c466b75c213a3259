"""Firestore: the one client, transactions, cursor paging and per-request operation metering.

The client is created on first use, not at import, so a cold start pays for it only when the
request needs it. Every read and write passes through a meter (counted from the RPC responses,
as Firestore bills them) so tests can hold each endpoint to its budget.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.config import settings
from shared.errors import Contention, NotFound

T = TypeVar("T")

SERVER_TIMESTAMP = firestore.SERVER_TIMESTAMP
Increment = firestore.Increment
ArrayUnion = firestore.ArrayUnion
ArrayRemove = firestore.ArrayRemove
DESCENDING = firestore.Query.DESCENDING
ASCENDING = firestore.Query.ASCENDING
Transaction = firestore.Transaction
transactional = firestore.transactional


@dataclass
class OpMeter:
    reads: int = 0
    writes: int = 0
    deletes: int = 0

    def header(self) -> str:
        return f"reads={self.reads};writes={self.writes};deletes={self.deletes}"


_meter: ContextVar[OpMeter | None] = ContextVar("firestore_meter", default=None)


def start_metering() -> OpMeter:
    meter = OpMeter()
    _meter.set(meter)
    return meter


def resume_metering(meter: OpMeter) -> None:
    """Count into `meter` again (a streamed body is made after its request's handler returned)."""
    _meter.set(meter)


def current_meter() -> OpMeter | None:
    return _meter.get()


def _count(reads: int = 0, writes: int = 0, deletes: int = 0) -> None:
    meter = _meter.get()
    if meter is not None:
        meter.reads += reads
        meter.writes += writes
        meter.deletes += deletes


def _metered_stream(stream: Iterator[Any], attr: str) -> Iterator[Any]:
    """Count reads as responses arrive: a caller may stop early (a single get takes one)."""
    seen = 0
    try:
        for response in stream:
            # A lookup is billed whether the document exists or not; a query per document.
            if attr == "found" or response._pb.HasField("document"):
                seen += 1
                _count(reads=1)
            yield response
    finally:
        if seen == 0 and attr != "found":
            _count(reads=1)  # a query that matches nothing is still billed one read


def _install_meter(client: firestore.Client) -> None:
    api = client._firestore_api

    def wrap_stream(name: str, attr: str) -> None:
        original = getattr(api, name)

        def call(*args: Any, **kwargs: Any) -> Iterator[Any]:
            return _metered_stream(original(*args, **kwargs), attr)

        setattr(api, name, call)

    wrap_stream("batch_get_documents", "found")
    wrap_stream("run_query", "document")

    original_aggregation = api.run_aggregation_query

    def aggregation(*args: Any, **kwargs: Any) -> Any:
        _count(reads=1)
        return original_aggregation(*args, **kwargs)

    api.run_aggregation_query = aggregation

    def count_writes(writes: Any) -> None:
        writes = list(writes or [])
        deletes = sum(1 for w in writes if _write_kind(w) == "delete")
        _count(writes=len(writes) - deletes, deletes=deletes)

    original_commit = api.commit

    def commit(*args: Any, **kwargs: Any) -> Any:
        request = kwargs.get("request") or {}
        count_writes(request.get("writes") if isinstance(request, dict) else request.writes)
        return original_commit(*args, **kwargs)

    api.commit = commit

    original_batch_write = api.batch_write

    def batch_write(*args: Any, **kwargs: Any) -> Any:
        request = kwargs.get("request") or {}
        count_writes(request.get("writes") if isinstance(request, dict) else request.writes)
        return original_batch_write(*args, **kwargs)

    api.batch_write = batch_write


def _write_kind(write: Any) -> str:
    pb = getattr(write, "_pb", write)
    try:
        return str(pb.WhichOneof("operation"))
    except (AttributeError, TypeError):
        return "update"


_client: firestore.Client | None = None
_client_lock = threading.Lock()


def db() -> firestore.Client:
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                client = firestore.Client(project=settings().project_id)
                _install_meter(client)
                _client = client
    return _client


def reset_client() -> None:
    """Forget the client (tests that switch projects or inject faults)."""
    global _client
    _client = None


def eq(field: str, value: Any) -> FieldFilter:
    """An equality filter: `query.where(filter=eq("teacher_id", uid))`."""
    return FieldFilter(field, "==", value)


def now() -> datetime:
    return datetime.now(UTC)


# A read inside a transaction that waited too long for a lock (ABORTED "Transaction lock
# timeout") is not retried by the client, which retries only an aborted commit: run it again.
READ_ABORT_ATTEMPTS = 3


def run_transaction(work: Callable[[firestore.Transaction], T], *, max_attempts: int = 5) -> T:
    """Run `work(transaction)` in a Firestore transaction, retried on contention."""

    @firestore.transactional
    def body(txn: firestore.Transaction) -> T:
        return work(txn)

    for _ in range(READ_ABORT_ATTEMPTS):
        try:
            result: T = body(db().transaction(max_attempts=max_attempts))
            return result
        except gexc.Aborted:
            continue
        except ValueError as exc:
            # The client gives up on contention with a bare ValueError: a lost race is a 409, not a 500.
            if isinstance(exc.__cause__, gexc.Aborted):
                raise Contention(headers={"Retry-After": "1"}) from exc
            raise
    raise Contention(headers={"Retry-After": "1"})


BATCH_LIMIT = 400  # writes per batch, under Firestore's 500


def update_all(updates: Iterable[tuple[Any, dict[str, Any]]]) -> int:
    """Apply each (reference, fields) update, BATCH_LIMIT to a batch (not atomic as a whole:
    for changes that may land one batch at a time). Returns how many were applied."""
    batch, pending, done = db().batch(), 0, 0
    for ref, fields in updates:
        batch.update(ref, fields)
        pending += 1
        done += 1
        if pending == BATCH_LIMIT:
            batch.commit()
            batch, pending = db().batch(), 0
    if pending:
        batch.commit()
    return done


# Optimistic writes ---------------------------------------------------------------------------

GUARDED_ATTEMPTS = 10


def guarded_write(
    ref: Any,
    decide: Callable[[dict[str, Any] | None], tuple[dict[str, Any] | None, T]],
    stage: Callable[[Any, T], Any] | None = None,
) -> tuple[T, Any]:
    """Read the document, let `decide(current)` say what to write (None: nothing) and what to
    answer, and write only if the document is still as read: `create` when it was missing, else
    an update on the condition of its update time. A racing writer makes the loser read again
    (and `decide` sees the winner's write). `stage(batch, answer)` may add an event to the same
    atomic batch (shared.events.publish_in); the caller sends what it returns after this.

    Optimistic, not a transaction: requests racing on one document (a double click, two tabs)
    would otherwise wait on each other's locks and may all abort; here one wins and the others
    see its result. Each attempt is one read, and a write only when something changes."""
    for _ in range(GUARDED_ATTEMPTS):
        snapshot = ref.get()
        current = snapshot.to_dict() if snapshot.exists else None
        changes, result = decide(current)
        if changes is None:
            return result, None
        batch = db().batch()
        if current is None:
            batch.create(ref, changes)
        else:
            batch.update(ref, changes, option=db().write_option(last_update_time=snapshot.update_time))
        staged = stage(batch, result) if stage is not None else None
        try:
            batch.commit()
            return result, staged
        except (gexc.AlreadyExists, gexc.FailedPrecondition):
            continue
    raise Contention(headers={"Retry-After": "1"})


# Cursor paging -------------------------------------------------------------------------------


@dataclass
class Page:
    items: list[Any]
    next_cursor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor, **self.extra}


def _encode_value(value: Any) -> list[Any]:
    if isinstance(value, datetime):
        return ["dt", value.isoformat()]
    return ["v", value]


def _decode_value(pair: Any) -> Any:
    if not isinstance(pair, list) or len(pair) != 2 or pair[0] not in ("dt", "v"):
        raise ValueError("bad cursor value")
    kind, value = pair
    if kind == "dt":
        return datetime.fromisoformat(value)
    if not isinstance(value, str | int | float | bool) and value is not None:
        raise ValueError("bad cursor value")
    return value


def encode_cursor(fields: list[str], snapshot: Any) -> str:
    data = snapshot.to_dict() or {}
    payload = {"v": [_encode_value(data.get(f)) for f in fields], "id": snapshot.id}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, fields: list[str]) -> tuple[list[Any], str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        values = [_decode_value(v) for v in payload["v"]]
        doc_id = payload["id"]
        if len(values) != len(fields) or not isinstance(doc_id, str) or "/" in doc_id:
            raise ValueError("cursor does not fit this list")
        return values, doc_id
    except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        # Well-formed (the query's pattern held) but not one this list issued: no such page.
        raise NotFound("No such page: the cursor was not issued by this list.") from exc


def stream_in_pages(query: Any, page_size: int = 500) -> Iterator[Any]:
    """Every document of `query`, in document-id order, a page at a time: no more than one page
    is held, and no single server stream stays open for the whole result (a long export).
    Reads: one per document, plus one for the empty page after a last page that was full."""
    ordered = query.order_by("__name__")
    last = None
    while True:
        page = list((ordered.start_after(last) if last is not None else ordered).limit(page_size).stream())
        yield from page
        if len(page) < page_size:
            return
        last = page[-1]


def paginate(
    query: Any,
    collection: Any,
    order: list[tuple[str, str]],
    limit: int,
    cursor: str | None,
    to_item: Callable[[Any], Any],
) -> Page:
    """One page of `query`, ordered by `order` then document id, `limit` items at most.

    Reads `limit + 1` documents so that `next_cursor` is null on the last page.
    """
    return paginate_union([query], collection, order, limit, cursor, to_item)


def paginate_union(
    queries: list[Any],
    collection: Any,
    order: list[tuple[str, str]],
    limit: int,
    cursor: str | None,
    to_item: Callable[[Any], Any],
) -> Page:
    """One page of the union of `queries`, whose results are disjoint (say, the chunks of an
    `in` filter longer than Firestore's 30 values), in one order as `paginate` gives it. Each
    query reads `limit + 1` documents past the cursor: the page's items are among them."""
    fields = [name for name, _ in order]
    direction = order[-1][1] if order else ASCENDING
    if any(dirn != direction for _, dirn in order):
        raise ValueError("paginate orders every field in one direction")
    start: dict[str, Any] | None = None
    if cursor:
        values, doc_id = decode_cursor(cursor, fields)
        start = dict(zip(fields, values, strict=True))
        start["__name__"] = collection.document(doc_id)
    snapshots = []
    for query in queries:
        for name, dirn in order:
            query = query.order_by(name, direction=dirn)
        query = query.order_by("__name__", direction=direction)
        if start is not None:
            query = query.start_after(start)
        snapshots += list(query.limit(limit + 1).stream())
    if len(queries) > 1:
        snapshots.sort(
            key=lambda s: (*((s.to_dict() or {}).get(f) for f in fields), s.id), reverse=direction == DESCENDING
        )
    more = len(snapshots) > limit
    snapshots = snapshots[:limit]
    next_cursor = encode_cursor(fields, snapshots[-1]) if more and snapshots else None
    return Page(items=[to_item(s) for s in snapshots], next_cursor=next_cursor)
