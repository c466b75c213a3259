"""Live follow: the Firebase custom token, the security rules on the Firestore emulator, and the
chat functions' cold start (no model SDK, no firebase-admin at import)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared import store
from shared.collections import CHAT_SESSIONS
from shared.registry import load_all
from tests.chat_support import documents_url, id_token, load_rules
from tests.chat_support import rest as _request
from tests.conftest import PROJECT
from tests.support import fields, ops

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = documents_url(PROJECT)


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_firebase_token_is_a_custom_token_for_the_caller(api: Any) -> None:
    user = api.register("ann@example.com")
    response = api.post("/api/v1/auth/firebase-token", token=user["access_token"])
    assert response.status_code == 200, response.json
    assert response.json["expires_in"] == 3600
    claims = _claims(response.json["token"])
    assert claims["uid"] == user["user"]["id"] and claims["claims"] == {"role": "student"}
    assert claims["aud"].endswith("google.identity.identitytoolkit.v1.IdentityToolkit")
    assert ops(response) == {"reads": 1, "writes": 0, "deletes": 0}
    assert api.post("/api/v1/auth/firebase-token").status_code == 401


# Security rules ---------------------------------------------------------------------------------


@pytest.fixture
def rules(stack: Any) -> None:
    load_rules(PROJECT)


def test_rules_let_a_user_read_only_their_own_chats_and_write_nothing(api: Any, rules: None) -> None:
    ann = api.register("ann@example.com")
    bob = api.register("bob@example.com")
    session = api.post("/api/v1/chat/sessions", {"topic": "DNS"}, token=ann["access_token"]).json
    message = api.post(
        f"/api/v1/chat/sessions/{session['id']}/messages", {"content": "hi"}, token=ann["access_token"]
    ).json
    mint = api.post("/api/v1/auth/firebase-token", token=ann["access_token"]).json
    ann_token = id_token(PROJECT, _claims(mint["token"])["uid"])
    bob_token = id_token(PROJECT, bob["user"]["id"])
    session_url = f"{DOCUMENTS}/{CHAT_SESSIONS}/{session['id']}"
    message_url = f"{session_url}/messages/{message['id']}"

    assert _request("GET", session_url, ann_token) == 200
    assert _request("GET", message_url, ann_token) == 200
    assert _request("GET", f"{session_url}/messages", ann_token) == 200  # the listener's query

    for token in (bob_token, None):
        assert _request("GET", session_url, token) == 403
        assert _request("GET", message_url, token) == 403
        assert _request("GET", f"{session_url}/messages", token) == 403

    doc = {"fields": {"role": {"stringValue": "assistant"}, "content": {"stringValue": "forged"}}}
    assert _request("PATCH", f"{session_url}/messages/forged", ann_token, doc) == 403
    assert _request("PATCH", message_url, ann_token, doc) == 403
    assert _request("DELETE", message_url, ann_token) == 403
    assert _request("PATCH", session_url, ann_token, {"fields": {"status": {"stringValue": "open"}}}) == 403
    assert _request("PATCH", f"{DOCUMENTS}/{CHAT_SESSIONS}/mine", ann_token, {"fields": {}}) == 403
    # Nothing else is readable: not even one's own user document.
    assert _request("GET", f"{DOCUMENTS}/users/{ann['user']['id']}", ann_token) == 403
    messages = store.db().collection(CHAT_SESSIONS).document(session["id"]).collection("messages").stream()
    assert [fields(m)["content"] for m in messages] == ["hi"]


# Cold start -------------------------------------------------------------------------------------

PROBE = """
import json, sys
import main
getattr(main, sys.argv[1])
print(json.dumps(sorted(sys.modules)))
"""
HEAVY = ("google.genai", "openai", "firebase_admin", "functions.chat.tutor", "functions.chat.retrieval")


def _modules(entry_point: str) -> set[str]:
    env = {**os.environ, "STUDYHALL_ENV": "test"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, entry_point], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


@pytest.mark.parametrize("name", sorted(n for n, s in load_all().items() if s.area == "chat"))
def test_chat_functions_load_no_model_sdk_at_import(name: str) -> None:
    loaded = _modules(load_all()[name].entry_point)
    assert not [m for m in loaded if m.split(".")[0] in ("openai", "firebase_admin") or m.startswith(HEAVY)]
