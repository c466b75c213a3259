"""Replay dead letters: pull `dead-letter-store` and republish each message to its original topic.

    python -m infra.replay_dead_letters [--project ID] [--max N] [--dry-run]

A message lands in the dead-letter topic after a subscription's bounded retries failed. Once
the cause is fixed, replaying republishes it (same body, same attributes, so the same event
id) to the topic it came from; every consumer of that topic sees it again, and `run_once`
makes the ones that had already processed it do nothing. The original topic is found from the
subscription Pub/Sub names in `CloudPubSubDeadLetterSourceSubscription` (infra/pubsub.json maps
it to its topic), or else from the `event_type` attribute our publishers set. A message whose
topic cannot be told is left in the store (not acknowledged) and reported.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from infra.manifest import DEAD_LETTER_SUBSCRIPTION

SOURCE_SUBSCRIPTION = "CloudPubSubDeadLetterSourceSubscription"
_PUBSUB_ATTRIBUTE_PREFIX = "CloudPubSubDeadLetter"


@dataclass
class ReplayReport:
    replayed: dict[str, int] = field(default_factory=dict)
    unroutable: int = 0

    @property
    def total(self) -> int:
        return sum(self.replayed.values())


def original_topic(attributes: dict[str, str], subscriptions: dict[str, str]) -> str | None:
    source = attributes.get(SOURCE_SUBSCRIPTION, "").rsplit("/", 1)[-1]
    if source in subscriptions:
        return subscriptions[source]
    topic = attributes.get("event_type")
    return topic if topic in set(subscriptions.values()) else None


def replay(project: str, *, max_messages: int = 10_000, dry_run: bool = False) -> ReplayReport:
    from google.cloud import pubsub_v1

    from infra.local.pubsub import manifest

    subscriptions = {s["name"]: s["topic"] for s in manifest()["subscriptions"] if s["function"]}
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(project, DEAD_LETTER_SUBSCRIPTION)
    report = ReplayReport()
    try:
        while report.total + report.unroutable < max_messages:
            response = subscriber.pull(
                request={"subscription": path, "max_messages": 100, "return_immediately": True}, timeout=30
            )
            if not response.received_messages:
                break
            done: list[str] = []
            for received in response.received_messages:
                message: Any = received.message
                attributes = dict(message.attributes)
                topic = original_topic(attributes, subscriptions)
                if topic is None:
                    report.unroutable += 1
                    continue
                if not dry_run:
                    kept = {k: v for k, v in attributes.items() if not k.startswith(_PUBSUB_ATTRIBUTE_PREFIX)}
                    publisher.publish(publisher.topic_path(project, topic), message.data, **kept).result(timeout=30)
                    done.append(received.ack_id)
                report.replayed[topic] = report.replayed.get(topic, 0) + 1
            if done:
                subscriber.acknowledge(request={"subscription": path, "ack_ids": done})
            if dry_run or len(done) < len(response.received_messages):
                break  # what is left will be pulled again: stop rather than loop on it
    finally:
        subscriber.close()
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", default=os.environ.get("GOOGLE_CLOUD_PROJECT", "studyhall-dev"))
    parser.add_argument("--max", type=int, default=10_000, help="replay at most this many messages")
    parser.add_argument("--dry-run", action="store_true", help="count, do not republish or acknowledge")
    args = parser.parse_args()
    report = replay(args.project, max_messages=args.max, dry_run=args.dry_run)
    for topic, count in sorted(report.replayed.items()):
        print(f"{'would replay' if args.dry_run else 'replayed'} {count} to {topic}")
    if report.unroutable:
        print(f"{report.unroutable} message(s) with no known topic left in {DEAD_LETTER_SUBSCRIPTION}", file=sys.stderr)
    return 1 if report.unroutable else 0


if __name__ == "__main__":
    sys.exit(main())
