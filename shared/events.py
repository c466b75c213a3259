"""Domain events on Pub/Sub: publish, consume once, and storage-object triggers.

Delivery is at least once and unordered, so a consumer does its work through `run_once`,
which records the event id in the same Firestore transaction as the work itself.

    @subscriber("progress-on-exam-completed", topic="exam.completed")
    def on_exam_completed(event: Event) -> None:
        run_once("progress-on-exam-completed", event, lambda txn: apply(txn, event.data))
"""

from __future__ import annotations

import base64
import binascii
import builtins
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from cloudevents.http.event import CloudEvent
from google.cloud.firestore_v1.base_query import FieldFilter
from pydantic import ValidationError

from shared import store
from shared.event_types import MODELS, EventData
from shared.logging import get_logger, log_fields, request_id_var
from shared.outbound import PUBLISH_TIMEOUT
from shared.pubsub import publisher, topic_path
from shared.registry import FunctionSpec, expires, register
from shared.userdata import not_personal

log = get_logger("events")
T = TypeVar("T")
D = TypeVar("D", bound=EventData)

PROCESSED = not_personal(expires("processed_events"), "markers of events handled: consumer and event id")
PROCESSED_TTL = timedelta(days=30)
# Events not (yet) on Pub/Sub, flushed by a scheduled job: written in the same transaction as
# their change (`publish_in`), or parked when a `publish` after the commit failed.
OUTBOX = not_personal(expires("event_outbox"), "events awaiting a publish: copies of state held elsewhere")
OUTBOX_TTL = timedelta(days=7)
# A staged event is the flush's only once its request had time to publish it itself.
OUTBOX_SETTLE = timedelta(seconds=5)


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    occurred_at: datetime
    data: dict[str, Any]
    message_id: str = ""
    # `data` validated against its topic's model (shared.event_types) by `subscriber`.
    parsed: EventData | None = field(default=None, compare=False, repr=False)

    def data_as(self, model: builtins.type[D]) -> D:
        """The data as `model`: the subscriber's parse, or (an event built by hand) parsed now.
        Raises MalformedEvent when it does not fit."""
        parsed = self.parsed
        if isinstance(parsed, model):
            return parsed
        return parse_data(model, self.data)

    def envelope(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "occurred_at": self.occurred_at.isoformat(),
            "data": self.data,
        }


class MalformedEvent(ValueError):
    """A message that no retry can make sense of."""


def parse_data(model: type[D], data: dict[str, Any]) -> D:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # The fields at fault, not their values (which may be personal).
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        raise MalformedEvent(f"{model.__name__}: invalid {', '.join(fields)}") from exc


def _data(data: EventData | dict[str, Any]) -> dict[str, Any]:
    return data.model_dump(mode="json") if isinstance(data, EventData) else data


# Publishing ---------------------------------------------------------------------------------


def publish(
    event_type: str,
    data: EventData | dict[str, Any],
    *,
    occurred_at: datetime | None = None,
    event_id: str | None = None,
) -> str:
    """Publish `event_type` (its topic has the same name) and wait for the server's ack.

    The caller's state change is already committed, so a Pub/Sub failure must not turn it into
    an error: the event is parked in the outbox instead, and `flush_outbox` (a scheduled job)
    publishes it later. Consumers are idempotent on the event id, so a late or repeated
    delivery is harmless."""
    from shared.auth import new_id

    event = Event(
        id=event_id or new_id(),
        type=event_type,
        occurred_at=occurred_at or store.now(),
        data=_data(data),
    )
    payload, attributes = _wire(event)
    try:
        _send(event.type, payload, attributes)
    except Exception as exc:  # Pub/Sub unreachable or too slow: park the event, keep the request
        store.db().collection(OUTBOX).document(event.id).set(_parked(event.type, payload, attributes, due=store.now()))
        log.error(
            "publish failed; event parked in the outbox",
            extra=log_fields(event_type=event.type, event_id=event.id, error=type(exc).__name__),
        )
    return event.id


def _wire(event: Event) -> tuple[str, dict[str, str]]:
    attributes = {"event_type": event.type, "event_id": event.id}
    if request_id := request_id_var.get():
        attributes["request_id"] = request_id
    return json.dumps(event.envelope(), default=str), attributes


def _parked(topic: str, payload: str, attributes: dict[str, str], *, due: datetime) -> dict[str, Any]:
    now = store.now()
    return {
        "topic": topic,
        "payload": payload,
        "attributes": attributes,
        "parked_at": now,
        "due_at": due,
        "expires_at": now + OUTBOX_TTL,
    }


@dataclass(frozen=True)
class StagedEvent:
    """An event written to the outbox with its change; `send()` it once the change committed."""

    id: str
    topic: str
    payload: str
    attributes: dict[str, str]

    def send(self) -> None:
        """Publish now and take the event out of the outbox. If Pub/Sub fails, or the process dies
        before this runs, the outbox still holds it and the flush job publishes it. Never raises:
        the change has committed, and whatever fails here the flush mends (a second publish of
        the same event id is counted once), so the caller's answer stays a success."""
        ref = store.db().collection(OUTBOX).document(self.id)
        try:
            _send(self.topic, self.payload, self.attributes)
        except Exception as exc:
            log.error(
                "publish failed; the staged event waits in the outbox",
                extra=log_fields(event_type=self.topic, event_id=self.id, error=type(exc).__name__),
            )
            with contextlib.suppress(Exception):  # else it falls due OUTBOX_SETTLE after staging
                ref.update({"due_at": store.now()})  # due now: no request is publishing it any more
            return
        try:
            ref.delete()
        except Exception as exc:  # published: the flush publishes it again, consumers count it once
            log.warning(
                "published, but the outbox entry stays until the flush",
                extra=log_fields(event_type=self.topic, event_id=self.id, error=type(exc).__name__),
            )


def publish_in(
    writer: Any,
    event_type: str,
    data: EventData | dict[str, Any],
    *,
    occurred_at: datetime | None = None,
    event_id: str | None = None,
) -> StagedEvent:
    """The transactional variant of `publish`: write the event into the outbox through `writer`
    (the transaction or batch of the change itself), so the event exists exactly when the
    change does. Call `.send()` on the result after the commit; whatever is not sent (a crash
    between commit and publish) the flush job publishes once OUTBOX_SETTLE has passed.
    Consumers are idempotent on the event id, so a late duplicate costs nothing.

    Give a fixed `event_id` when the transaction may be retried, so a retry writes the same event."""
    from shared.auth import new_id

    event = Event(id=event_id or new_id(), type=event_type, occurred_at=occurred_at or store.now(), data=_data(data))
    payload, attributes = _wire(event)
    writer.set(
        store.db().collection(OUTBOX).document(event.id),
        _parked(event.type, payload, attributes, due=store.now() + OUTBOX_SETTLE),
    )
    return StagedEvent(event.id, event.type, payload, attributes)


def _send(topic: str, payload: str, attributes: dict[str, str]) -> None:
    publisher().publish(topic_path(topic), payload.encode(), **attributes).result(timeout=PUBLISH_TIMEOUT)


def flush_outbox(limit: int = 500) -> int:
    """Publish the events that are due, oldest first; each leaves the outbox once Pub/Sub has it.
    Returns how many were published; one that still fails stays for the next run."""
    published = 0
    due = store.db().collection(OUTBOX).where(filter=FieldFilter("due_at", "<=", store.now())).order_by("due_at")
    for snapshot in due.limit(limit).stream():
        parked = snapshot.to_dict() or {}
        try:
            _send(parked["topic"], parked["payload"], parked["attributes"])
        except Exception as exc:
            log.error("outbox: publish failed again", extra=log_fields(event_id=snapshot.id, error=type(exc).__name__))
            break
        snapshot.reference.delete()
        published += 1
    return published


# Consuming ------------------------------------------------------------------------------------


def event_from_cloud_event(cloud_event: CloudEvent) -> Event:
    """The domain event inside a Pub/Sub CloudEvent (as functions-framework hands it over).

    Our publishers send an envelope `{id, type, occurred_at, data}`; Cloud Scheduler sends its
    fixed job body, which takes its id and time from the Pub/Sub message instead.
    """
    try:
        message = cloud_event.data["message"]
        message_id = str(message.get("messageId") or message.get("message_id") or "")
        payload = json.loads(base64.b64decode(message["data"]))
        if not isinstance(payload, dict):
            raise ValueError("the message is not a JSON object")
        attributes = message.get("attributes") or {}
        if "id" in payload and "data" in payload:
            return Event(
                id=str(payload["id"]),
                type=str(payload["type"]),
                occurred_at=datetime.fromisoformat(payload["occurred_at"]),
                data=dict(payload["data"]),
                message_id=message_id,
            )
        published = str(message.get("publishTime") or cloud_event["time"]).replace("Z", "+00:00")
        return Event(
            id=message_id,
            type=str(attributes.get("event_type") or cloud_event["source"].rsplit("/", 1)[-1]),
            occurred_at=datetime.fromisoformat(published),
            data=payload,
            message_id=message_id,
        )
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise MalformedEvent(str(exc)) from exc


def subscriber(
    name: str,
    *,
    topic: str,
    schedule: str | None = None,
    max_attempts: int = 5,
    timeout_seconds: int = 60,
    **deploy: Any,
) -> Callable[[Callable[[Event], None]], Callable[[Event], None]]:
    """Declare an event function fed by `topic` (a Cloud Scheduler cron too, with `schedule`).
    `deploy` takes FunctionSpec's deploy options (memory, service_account, max_instances, ...).

    An exception makes the delivery fail, so Pub/Sub retries it; after `max_attempts` it goes
    to the dead-letter topic. A message that cannot be parsed, or whose data does not fit its
    topic's model (shared.event_types.MODELS), is logged and acknowledged: no retry can mend it.
    """
    model = MODELS.get(topic)

    def decorate(handler: Callable[[Event], None]) -> Callable[[Event], None]:
        def handle(cloud_event: CloudEvent) -> None:
            try:
                event = event_from_cloud_event(cloud_event)
                if model is not None:
                    event = replace(event, parsed=parse_data(model, event.data))
            except MalformedEvent as exc:
                log.error("malformed event dropped", extra=log_fields(function=name, topic=topic, error=str(exc)))
                return
            store.start_metering()
            handler(event)
            log.info(
                "event handled",
                extra=log_fields(function=name, event_type=event.type, event_id=event.id),
            )

        register(
            FunctionSpec(
                name=name,
                kind="event",
                area=name.split("-")[0],
                handler=handle,
                topic=topic,
                schedule=schedule,
                max_attempts=max_attempts,
                timeout_seconds=timeout_seconds,
                spec=handler,
                **deploy,
            )
        )
        return handler

    return decorate


def run_once(consumer: str, event: Event, work: Callable[[store.Transaction], T]) -> T | None:
    """Do `work(transaction)` once per (consumer, event id), however often the event arrives.

    `work` must do its reads before its writes (a Firestore transaction's rule); the marker is
    read first and written last, in the same transaction.
    """
    marker = store.db().collection(PROCESSED).document(f"{consumer}:{event.id}")

    def body(txn: store.Transaction) -> T | None:
        if marker.get(transaction=txn).exists:
            return None
        result = work(txn)
        txn.create(
            marker,
            {
                "consumer": consumer,
                "event_type": event.type,
                "processed_at": store.now(),
                "expires_at": store.now() + PROCESSED_TTL,
            },
        )
        return result

    return store.run_transaction(body)


# Storage triggers -----------------------------------------------------------------------------

STORAGE_FINALIZED = "google.cloud.storage.object.v1.finalized"


@dataclass(frozen=True)
class StorageObject:
    bucket: str
    name: str
    generation: str
    size: int
    content_type: str
    event_id: str


def on_object_finalized(
    name: str, *, bucket_setting: str, timeout_seconds: int = 540, memory: str = "512Mi"
) -> Callable[[Callable[[StorageObject], None]], Callable[[StorageObject], None]]:
    """Declare a function fired when an object is finalized in the bucket named by a setting."""

    def decorate(handler: Callable[[StorageObject], None]) -> Callable[[StorageObject], None]:
        def handle(cloud_event: CloudEvent) -> None:
            data = cloud_event.data or {}
            if cloud_event["type"] != STORAGE_FINALIZED or not data.get("name"):
                log.error("unexpected storage event dropped", extra=log_fields(function=name))
                return
            store.start_metering()
            handler(
                StorageObject(
                    bucket=str(data.get("bucket", "")),
                    name=str(data["name"]),
                    generation=str(data.get("generation", "")),
                    size=int(data.get("size") or 0),
                    content_type=str(data.get("contentType", "")),
                    event_id=str(cloud_event["id"]),
                )
            )

        register(
            FunctionSpec(
                name=name,
                kind="storage",
                area=name.split("-")[0],
                handler=handle,
                bucket_setting=bucket_setting,
                event_type=STORAGE_FINALIZED,
                timeout_seconds=timeout_seconds,
                memory=memory,
                spec=handler,
            )
        )
        return handler

    return decorate
