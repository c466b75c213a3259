"""Pub/Sub on the emulator: the topics and subscriptions of infra/pubsub.json, and a
deterministic drain that pulls pending messages and delivers them exactly as a push would."""

from __future__ import annotations

import base64
import contextlib
import json
from pathlib import Path
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1
from google.protobuf import duration_pb2

ROOT = Path(__file__).resolve().parents[2]


def manifest() -> dict[str, Any]:
    return dict(json.loads((ROOT / "infra" / "pubsub.json").read_text()))


def apply(project: str, *, push_base: str | None, push_query: str = "") -> None:
    """Create every topic and subscription. With `push_base` the event subscriptions push to
    `<push_base><push_path>?<push_query>` (the local gateway, `push_query` carrying its secret);
    without it they are pull subscriptions that `drain` empties (the tests)."""
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    data = manifest()
    for topic in data["topics"]:
        with contextlib.suppress(gexc.AlreadyExists):
            publisher.create_topic(name=publisher.topic_path(project, topic))
    for sub in data["subscriptions"]:
        request: dict[str, Any] = {
            "name": subscriber.subscription_path(project, sub["name"]),
            "topic": publisher.topic_path(project, sub["topic"]),
            "ack_deadline_seconds": sub["ack_deadline_seconds"],
        }
        if sub["push_path"] and push_base:
            endpoint = push_base + sub["push_path"].format(project=project)
            request["push_config"] = {"push_endpoint": f"{endpoint}?{push_query}" if push_query else endpoint}
        if sub["dead_letter_topic"]:
            request["dead_letter_policy"] = {
                "dead_letter_topic": publisher.topic_path(project, sub["dead_letter_topic"]),
                "max_delivery_attempts": sub["max_delivery_attempts"],
            }
        if sub["retry_policy"]:
            request["retry_policy"] = {
                "minimum_backoff": duration_pb2.Duration(seconds=1),
                "maximum_backoff": duration_pb2.Duration(seconds=5),
            }
        try:
            subscriber.create_subscription(request=request)
        except gexc.AlreadyExists:
            subscriber.delete_subscription(subscription=request["name"])
            subscriber.create_subscription(request=request)
    subscriber.close()


def push_body(project: str, subscription: str, message: Any) -> dict[str, Any]:
    """The JSON body Pub/Sub push sends for `message`."""
    return {
        "message": {
            "data": base64.b64encode(message.data).decode(),
            "attributes": dict(message.attributes),
            "messageId": message.message_id,
            "publishTime": message.publish_time.isoformat().replace("+00:00", "Z"),
        },
        "subscription": f"projects/{project}/subscriptions/{subscription}",
    }


def drain(project: str, deliver: Any, *, subscriptions: list[str] | None = None, rounds: int = 50) -> int:
    """Pull and deliver until every event subscription is empty (events may publish events).

    `deliver(function_name, path, body) -> int` posts a push body to a function and returns the
    HTTP status; a 2xx acks the message, anything else nacks it for redelivery.
    """
    subscriber = pubsub_v1.SubscriberClient()
    subs = [s for s in manifest()["subscriptions"] if s["function"]]
    if subscriptions is not None:
        subs = [s for s in subs if s["name"] in subscriptions]
    delivered = 0
    try:
        for _ in range(rounds):
            moved = 0
            for sub in subs:
                path = subscriber.subscription_path(project, sub["name"])
                response = subscriber.pull(
                    request={"subscription": path, "max_messages": 100, "return_immediately": True}, timeout=10
                )
                for received in response.received_messages:
                    status = deliver(
                        sub["function"],
                        sub["push_path"].format(project=project).removeprefix(f"/{sub['function']}"),
                        push_body(project, sub["name"], received.message),
                    )
                    if 200 <= status < 300:
                        subscriber.acknowledge(request={"subscription": path, "ack_ids": [received.ack_id]})
                        delivered += 1
                    else:
                        subscriber.modify_ack_deadline(
                            request={"subscription": path, "ack_ids": [received.ack_id], "ack_deadline_seconds": 0}
                        )
                    moved += 1
            if moved == 0:
                return delivered
    finally:
        subscriber.close()
    return delivered
