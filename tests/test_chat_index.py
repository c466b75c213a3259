"""The retrieval index shared through Cloud Storage: a new instance starts from the snapshot
and reads only what changed since, and a broken snapshot costs only a full build."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from google.cloud import storage  # type: ignore[attr-defined]

from functions.chat import snapshot
from functions.chat.retrieval import CONTENT
from shared import store
from shared.collections import EXERCISES
from shared.config import settings
from tests.conftest import PROJECT

BUCKET = f"{PROJECT}-tutor-index"


@pytest.fixture
def shared_index(stack: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[storage.Bucket]:
    client = storage.Client(project=PROJECT)
    bucket = client.lookup_bucket(BUCKET) or client.create_bucket(BUCKET)
    for blob in bucket.list_blobs():
        blob.delete()
    monkeypatch.setattr(settings(), "tutor_index_bucket", BUCKET)
    CONTENT.forget()
    yield bucket
    CONTENT.forget()


def add_exercises(count: int, *, age: timedelta, start: int = 0) -> None:
    written = store.now() - age
    batch = store.db().batch()
    for i in range(start, start + count):
        batch.set(
            store.db().collection(EXERCISES).document(f"ex-{i:03}"),
            {
                "title": f"Exercise {i} on recursion",
                "description": f"Write a recursive function number {i}.",
                "topic": "recursion",
                "difficulty": "beginner",
                "hints": ["Start from the base case."],
                "solution": "SECRET",
                "tests": [],
                "updated_at": written,
            },
        )
    batch.commit()


def test_a_new_instance_starts_from_the_snapshot_and_reads_only_changes(shared_index: storage.Bucket) -> None:
    add_exercises(20, age=timedelta(hours=1))
    meter = store.start_metering()
    built = CONTENT.current()
    assert len(built) == 20 and meter.reads >= 20
    blob = shared_index.get_blob(snapshot.OBJECT)
    assert blob is not None and blob.metadata["passages"] == "20"
    assert b"SECRET" not in blob.download_as_bytes()

    add_exercises(1, age=timedelta(0), start=20)  # written after the snapshot
    CONTENT.forget()  # a new instance
    meter = store.start_metering()
    started = CONTENT.current()
    # one query per content collection: the new exercise, and one billed read for each empty answer
    assert meter.reads == 3
    assert len(started) == 21
    found = started.search(["recursive", "20"], 3, lambda p: True)
    assert found[0].id == "ex-020"


def test_an_old_snapshot_is_rebuilt(shared_index: storage.Bucket, monkeypatch: pytest.MonkeyPatch) -> None:
    add_exercises(5, age=timedelta(hours=1))
    CONTENT.current()
    monkeypatch.setattr(settings(), "tutor_index_rebuild_seconds", 0)
    store.db().collection(EXERCISES).document("ex-000").delete()
    CONTENT.forget()
    assert len(CONTENT.current()) == 4  # a full build: the deleted exercise is gone


def test_a_broken_snapshot_costs_a_full_build(shared_index: storage.Bucket) -> None:
    add_exercises(3, age=timedelta(hours=1))
    blob = shared_index.blob(snapshot.OBJECT)
    blob.metadata = {"since": store.now().isoformat()}
    blob.upload_from_string(b"not a database")
    meter = store.start_metering()
    assert len(CONTENT.current()) == 3 and meter.reads >= 3
    assert shared_index.get_blob(snapshot.OBJECT).metadata["passages"] == "3"  # replaced by a good one
