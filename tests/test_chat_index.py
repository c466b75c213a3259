"""The retrieval index shared through Cloud Storage: the scheduled job builds it, a new instance
starts from its snapshot and reads only what changed since, and a reply never builds it (with no
snapshot it waits for the job, then answers from what it has)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from google.cloud import storage

from functions.chat import service, snapshot
from functions.chat.retrieval import CONTENT
from shared import store
from shared.collections import EXERCISES
from shared.config import settings
from tests.chat_support import replies_of
from tests.conftest import PROJECT
from tests.support import eventually

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


def test_the_job_shares_the_index_and_a_new_instance_reads_only_changes(shared_index: storage.Bucket) -> None:
    add_exercises(20, age=timedelta(hours=1))
    assert snapshot.rebuild() == 20  # the scheduled job
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


def test_an_instance_takes_the_jobs_newer_snapshot_at_the_rebuild_interval(
    shared_index: storage.Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_exercises(5, age=timedelta(hours=1))
    snapshot.rebuild()
    assert len(CONTENT.current()) == 5
    store.db().collection(EXERCISES).document("ex-000").delete()
    snapshot.rebuild()
    monkeypatch.setattr(settings(), "tutor_index_rebuild_seconds", 0)
    assert len(CONTENT.current()) == 4  # the deleted exercise is gone


def test_a_cold_reply_with_no_snapshot_waits_for_the_job_and_never_builds(
    shared_index: storage.Bucket, drain: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_exercises(3, age=timedelta(hours=1))
    monkeypatch.setattr(settings(), "tutor_index_wait_seconds", 20.0)
    loaded: list[int] = []
    waiting = threading.Thread(target=lambda: loaded.append(len(CONTENT.current())))
    waiting.start()
    # The waiting instance asked for the job; the job runs (as its push would) and shares the index.
    eventually(lambda: drain([f"{snapshot.REBUILD_JOB}--{snapshot.REBUILD_TOPIC}"]) or None, timeout=10)
    waiting.join(timeout=20)
    assert loaded == [3]
    assert shared_index.get_blob(snapshot.OBJECT).metadata["passages"] == "3"


def test_with_a_broken_snapshot_and_no_job_the_reply_says_it_is_not_ready(
    api: Any, drain: Any, shared_index: storage.Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_exercises(3, age=timedelta(hours=1))
    blob = shared_index.blob(snapshot.OBJECT)
    blob.metadata = {"since": store.now().isoformat()}
    blob.upload_from_string(b"not a database")
    monkeypatch.setattr(settings(), "tutor_index_wait_seconds", 0.5)
    token = api.register("cold@example.com")["access_token"]
    session = api.post("/api/v1/chat/sessions", {}, token=token).json
    posted = api.post(f"/api/v1/chat/sessions/{session['id']}/messages", {"content": "recursion?"}, token=token)
    meter = store.start_metering()
    service.write_reply(session["id"], posted.json["id"], store.now())
    assert meter.reads < 10  # no content document was read: the reply did not build the index
    (reply,) = replies_of(session["id"])
    assert reply["sources"] == [] and "still reading the course material" in reply["content"]
