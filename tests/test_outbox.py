"""A Pub/Sub outage after a commit: the request still succeeds, the event waits in the outbox
and reaches its consumers once the scheduled flush runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pytest_mock import MockerFixture

from shared import store
from tests.support import Api, fields


def _outbox() -> list[dict[str, Any]]:
    return [fields(d) for d in store.db().collection("event_outbox").stream()]


def test_an_event_that_cannot_be_published_is_parked_then_delivered(
    api: Api, drain: Callable[..., int], mocker: MockerFixture
) -> None:
    broken = mocker.patch("shared.events.publisher")
    broken.return_value.publish.side_effect = RuntimeError("pubsub unavailable")
    tokens = api.register("parked@example.com")  # 201: the account exists, Pub/Sub or not
    user_id = tokens["user"]["id"]
    mocker.stopall()

    parked = _outbox()
    assert [p["topic"] for p in parked] == ["user.registered"]
    assert drain() == 0  # nothing reached Pub/Sub
    assert store.db().collection("user_stats").document(user_id).get().exists is False

    admin = api.admin()["access_token"]
    assert api.post("/api/v1/admin/jobs/ops-flush-outbox/run", token=admin).status_code == 202
    drain()  # the job runs, publishes the parked event, which is then delivered
    assert _outbox() == []
    stats = store.db().collection("user_stats").document(user_id).get().to_dict()
    assert stats is not None and stats["user_id"] == user_id


def test_a_flush_that_fails_again_keeps_the_event(api: Api, mocker: MockerFixture) -> None:
    from shared.events import flush_outbox

    broken = mocker.patch("shared.events.publisher")
    broken.return_value.publish.side_effect = RuntimeError("pubsub unavailable")
    api.register("still-parked@example.com")
    assert flush_outbox() == 0
    assert len(_outbox()) == 1
