"""A handler that keeps failing: Pub/Sub (the emulator honours dead_letter_policy) retries it a
bounded number of times, then moves the message to the dead-letter topic; once the fault is
gone, `python -m infra.replay_dead_letters` republishes it and it counts exactly once."""

from __future__ import annotations

import time
from collections.abc import Callable

# google-cloud-pubsub ships no type information (no py.typed).
from google.cloud import pubsub_v1
from pytest_mock import MockerFixture

from infra.manifest import DEAD_LETTER_SUBSCRIPTION
from infra.replay_dead_letters import replay
from tests.support import Api, Stack
from tests.test_progress import completed, days_ago, stats_of, student

SUBSCRIPTION = "progress-on-exam-completed--exam.completed"


def dead_letters(project: str) -> list[dict[str, str]]:
    """Peek at the dead-letter store: pull, then hand the messages straight back."""
    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(project, DEAD_LETTER_SUBSCRIPTION)
    try:
        response = subscriber.pull(request={"subscription": path, "max_messages": 10, "return_immediately": True})
        if response.received_messages:
            subscriber.modify_ack_deadline(
                request={
                    "subscription": path,
                    "ack_ids": [m.ack_id for m in response.received_messages],
                    "ack_deadline_seconds": 0,
                }
            )
        return [dict(m.message.attributes) for m in response.received_messages]
    finally:
        subscriber.close()


def test_failing_handler_is_retried_then_dead_lettered_then_replayed(
    api: Api, stack: Stack, drain: Callable[..., int], mocker: MockerFixture
) -> None:
    user_id, token = student(api, "unlucky@example.com")
    drain()
    fault = mocker.patch("functions.progress.service.award_badges", side_effect=RuntimeError("injected fault"))
    event_id = completed(user_id, days_ago(0), score=100, correct=10, total=10)

    found: list[dict[str, str]] = []
    deadline = time.monotonic() + 60
    while not found and time.monotonic() < deadline:
        drain(subscriptions=[SUBSCRIPTION])  # each failed delivery is nacked; Pub/Sub backs off
        found = dead_letters(stack.project)
        time.sleep(0.5)
    assert len(found) == 1, "the message never reached the dead-letter topic"
    assert found[0]["event_id"] == event_id
    assert found[0]["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
    assert fault.call_count == 5  # max_delivery_attempts of infra/pubsub.json
    assert stats_of(user_id)["exams_completed"] == 0  # every failed attempt rolled back

    mocker.stopall()
    report = replay(stack.project)
    assert report.replayed == {"exam.completed": 1}
    drain()
    body = api.get(f"/api/v1/students/{user_id}/progress", token=token).json
    assert body["exams_completed"] == 1
    assert body["xp"] == 100
    assert [b["id"] for b in body["badges"]] == ["first-exam", "perfect-score"]

    # The store is empty now; a second replay does nothing, and a replayed duplicate counts once.
    assert replay(stack.project).total == 0
    completed(user_id, days_ago(0), score=100, correct=10, total=10, event_id=event_id)
    drain()
    assert stats_of(user_id)["exams_completed"] == 1
