"""`user.registered` reaches its event function both ways DESIGN.md asks for: a real push from
the Pub/Sub emulator, and the deterministic drain; a redelivery changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.local.pubsub import push_body
from shared import store
from tests.support import Api, PushEndpoint, Stack, eventually, fields


def _stats(user_id: str) -> dict[str, Any] | None:
    return store.db().collection("user_stats").document(user_id).get().to_dict()


def _stored_stats(user_id: str) -> dict[str, Any]:
    return fields(store.db().collection("user_stats").document(user_id).get())


def test_registration_creates_stats_through_the_drain(api: Api, drain: Callable[..., int]) -> None:
    user = api.register("drained@example.com")["user"]
    assert _stats(user["id"]) is None  # asynchronous: nothing before delivery
    assert drain() >= 1
    stats = _stats(user["id"])
    assert stats is not None
    assert stats["xp"] == 0 and stats["role"] == "student"


def test_registration_creates_stats_through_a_real_push(api: Api, stack: Stack) -> None:
    with PushEndpoint(stack, "progress-on-user-registered", "user.registered"):
        user = api.register("pushed@example.com")["user"]
        stats = eventually(lambda: _stats(user["id"]))
    assert stats["user_id"] == user["id"]


def test_the_same_event_delivered_twice_is_processed_once(api: Api, stack: Stack) -> None:
    # google-cloud-pubsub ships no type information (no py.typed).
    from google.cloud import pubsub_v1

    user = api.register("twice@example.com")["user"]
    subscriber = pubsub_v1.SubscriberClient()
    name = "progress-on-user-registered--user.registered"
    path = subscriber.subscription_path(stack.project, name)
    pulled = subscriber.pull(request={"subscription": path, "max_messages": 10, "return_immediately": True})
    subscriber.close()
    message = pulled.received_messages[0].message
    body = push_body(stack.project, name, message)
    route = f"/projects/{stack.project}/topics/user.registered"
    assert stack.gateway.deliver("progress-on-user-registered", route, body) == 200
    first = _stats(user["id"])
    store.db().collection("user_stats").document(user["id"]).update({"xp": 5})
    assert stack.gateway.deliver("progress-on-user-registered", route, body) == 200
    assert _stored_stats(user["id"])["xp"] == 5  # not reset by the redelivery
    assert first is not None
    markers = list(store.db().collection("processed_events").stream())
    assert len(markers) == 1


def test_a_malformed_message_is_dropped_not_retried_forever(stack: Stack) -> None:
    body = {
        "message": {
            "data": "bm90IGpzb24=",
            "attributes": {},
            "messageId": "m-1",
            "publishTime": "2026-11-24T00:00:00Z",
        },
        "subscription": f"projects/{stack.project}/subscriptions/x",
    }
    status = stack.gateway.deliver(
        "progress-on-user-registered", f"/projects/{stack.project}/topics/user.registered", body
    )
    assert status == 200
    assert list(store.db().collection("user_stats").stream()) == []


def test_a_failed_delivery_waiting_out_its_backoff_does_not_outlive_the_purge_between_tests(stack: Stack) -> None:
    """The purge of `clean_state` empties a subscription of a message Pub/Sub holds back for its
    retry backoff too (a pull does not see it), or the next test would get its redeliveries."""
    import time

    from google.cloud import pubsub_v1

    from shared.events import publish

    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(stack.project, "progress-on-user-registered--user.registered")

    def pull() -> list[Any]:
        request = {"subscription": path, "max_messages": 10, "return_immediately": True}
        return list(subscriber.pull(request=request).received_messages)

    try:
        publish("user.registered", {"user_id": "u-retried", "role": "student", "email_domain": "example.com"})
        for _ in range(2):  # two failed deliveries: the next one waits out a backoff of seconds
            [received] = eventually(pull)
            nack = {"subscription": path, "ack_ids": [received.ack_id], "ack_deadline_seconds": 0}
            subscriber.modify_ack_deadline(request=nack)
        assert pull() == []  # held back, out of a pull's sight
        stack.purge()
        deadline = time.monotonic() + 3  # past the backoff
        while time.monotonic() < deadline:
            assert pull() == []
            time.sleep(0.2)
    finally:
        subscriber.close()
