"""The transactional outbox: an event is written with its change, so a process that dies between
the commit and the publish loses nothing; the flush job publishes it once it has settled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pytest_mock import MockerFixture

from shared import events, store
from shared.auth import new_id
from tests.support import Stack, fields


def _outbox() -> list[dict[str, Any]]:
    return [fields(d) for d in store.db().collection("event_outbox").stream()]


def _register_user_in(txn: store.Transaction, user_id: str) -> events.StagedEvent:
    """A change and its event in one transaction (the shape of a real route)."""
    txn.create(store.db().collection("users").document(user_id), {"email": f"{user_id}@example.com", "role": "student"})
    data = {"user_id": user_id, "role": "student", "email_domain": "example.com"}
    return events.publish_in(txn, "user.registered", data, event_id=f"evt-{user_id}")


def test_an_event_staged_with_its_change_survives_a_crash_before_the_publish(
    stack: Stack, drain: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "OUTBOX_SETTLE", events.OUTBOX_SETTLE * 0)  # settled at once
    user_id = new_id()
    store.run_transaction(lambda txn: _register_user_in(txn, user_id))
    # The process "dies" here: .send() never runs. The change and its event are both committed.
    assert [e["topic"] for e in _outbox()] == ["user.registered"]
    assert drain() == 0  # nothing reached Pub/Sub yet

    assert events.flush_outbox() == 1
    assert _outbox() == []
    assert drain() >= 1
    stats = store.db().collection("user_stats").document(user_id).get().to_dict()
    assert stats is not None and stats["user_id"] == user_id


def test_a_fresh_staged_event_is_left_to_its_own_request(stack: Stack, drain: Callable[..., int]) -> None:
    user_id = new_id()
    staged = store.run_transaction(lambda txn: _register_user_in(txn, user_id))
    assert events.flush_outbox() == 0  # not settled: its request may be publishing it right now
    staged.send()
    assert _outbox() == []
    assert drain() >= 1
    assert store.db().collection("user_stats").document(user_id).get().exists


def test_a_rolled_back_change_leaves_no_event(stack: Stack) -> None:
    user_id = new_id()

    def fails(txn: store.Transaction) -> None:
        _register_user_in(txn, user_id)
        raise RuntimeError("the change is refused")

    with pytest.raises(RuntimeError):
        store.run_transaction(fails)
    assert _outbox() == []
    assert store.db().collection("users").document(user_id).get().exists is False


def test_a_failed_send_is_due_at_once(stack: Stack, mocker: MockerFixture) -> None:
    user_id = new_id()
    staged = store.run_transaction(lambda txn: _register_user_in(txn, user_id))
    broken = mocker.patch("shared.events.publisher")
    broken.return_value.publish.side_effect = RuntimeError("pubsub unavailable")
    staged.send()
    assert events.flush_outbox() == 0  # still broken: kept
    mocker.stopall()
    assert events.flush_outbox() == 1  # due now, not after the settle time
    assert _outbox() == []
