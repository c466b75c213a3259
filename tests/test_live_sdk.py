"""The live path with Firebase's own Web SDK (tests/live/chat_listener.cjs, under Node): the custom
token signs in on the Auth emulator, a Firestore listener under infra/firestore.rules receives
the tutor's reply within 2 s, another user's chat and every client write are refused, and a
logout cuts the listener off and refuses a new one. The stack's gateway serves the API on an
ephemeral port, and `chat-reply` gets its events by real Pub/Sub push."""

from __future__ import annotations

from typing import Any

import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from shared import store
from shared.collections import CHAT_SESSIONS, USERS
from tests.chat_support import RULES, load_rules, messages_of, run_listener
from tests.conftest import PROJECT
from tests.support import fields


def test_a_web_client_follows_its_chat_live_and_loses_it_at_logout(api: Any, stack: Any) -> None:
    load_rules(PROJECT)
    done, seen = run_listener(api, stack)
    assert done.returncode == 0, done.stdout + done.stderr
    assert seen["ok"] and seen["uid"] == seen["ann"]["user"]["id"]
    assert seen["reply_ms"][0] <= 2000
    # What the refused writes would have changed is as the functions left it.
    ann_id = seen["ann"]["user"]["id"]
    hers = store.db().collection(CHAT_SESSIONS).where(filter=FieldFilter("user_id", "==", ann_id)).get()
    assert [fields(s)["status"] for s in hers] == ["open"]
    assert not store.db().collection(CHAT_SESSIONS).document("mine").get().exists
    assert [m["role"] for m in messages_of(hers[0].id)] == ["user", "assistant", "user", "assistant"]
    assert all(m["content"] != "forged" for m in messages_of(hers[0].id))
    assert fields(store.db().collection(USERS).document(ann_id).get())["role"] == "student"


# The SDK test must fail when what it guards is broken: each case breaks one thing.
LOOSENED = [
    # Any signed-in user reads anything: another user's chat is delivered.
    (
        "    match /{document=**} {\n      allow read, write: if false;",
        "    match /{document=**} {\n      allow read: if request.auth != null;",
        "another user's messages: delivered",
    ),
    # Clients may write: the first forged message is accepted.
    (
        "    match /{document=**} {\n      allow read, write: if false;",
        "    match /{document=**} {\n      allow write: if request.auth != null;",
        "adding a message: allowed",
    ),
    # The sign-out moment is ignored: the listener outlives the logout.
    ("return signedOut == null ||", "return true ||", "the listener cut off after logout: not within"),
]


@pytest.mark.parametrize(("rule", "loosened", "failed_check"), LOOSENED, ids=["read", "write", "sign-out"])
def test_the_sdk_test_fails_when_the_rules_are_loosened(
    api: Any, stack: Any, rule: str, loosened: str, failed_check: str
) -> None:
    assert rule in RULES.read_text()
    load_rules(PROJECT, RULES.read_text().replace(rule, loosened))
    try:
        done, seen = run_listener(api, stack)
    finally:
        load_rules(PROJECT)
    assert done.returncode == 1
    assert failed_check in seen["failed"]


def test_the_sdk_test_fails_when_no_reply_is_written(api: Any, stack: Any) -> None:
    load_rules(PROJECT)
    done, seen = run_listener(api, stack, replies=False)
    assert done.returncode == 1
    assert "the tutor's reply: not within 2000 ms" in seen["failed"]
