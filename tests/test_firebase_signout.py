"""Sign-outs reach Firebase: logout, logout everywhere, a password change, a password reset and
a suspension each record their moment on the user and revoke the user's Firebase refresh tokens
(on the Auth emulator), and the security rules then refuse a Firebase sign-in older than that
moment while a newer one reads as before. With Firebase's Web SDK (tests/live/sign_out_listener.cjs,
under Node): after each of the five, the open listener is cut off without receiving what is
written next, and a new one is refused."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
from firebase_admin import auth

from shared import firebase, store
from shared.collections import CHAT_SESSIONS, USERS
from tests.chat_support import LISTENER, documents_url, id_token, load_rules, rest
from tests.conftest import PROJECT
from tests.support import PASSWORD, Api, fields


def _logout(api: Api, user: dict[str, Any], admin: str) -> None:
    assert api.post("/api/v1/auth/logout", token=user["access_token"]).status_code == 204


def _logout_everywhere(api: Api, user: dict[str, Any], admin: str) -> None:
    assert api.post("/api/v1/auth/logout?all_devices=true", token=user["access_token"]).status_code == 204


def _change_password(api: Api, user: dict[str, Any], admin: str) -> None:
    body = {"current_password": PASSWORD, "new_password": "a brand new passphrase"}
    assert api.post("/api/v1/auth/change-password", body, token=user["access_token"]).status_code == 200


def _reset_password(api: Api, user: dict[str, Any], admin: str) -> None:
    assert api.post("/api/v1/auth/password-reset-request", {"email": user["user"]["email"]}).status_code == 202
    texts = [fields(m)["message"]["text"] for m in store.db().collection("mail").stream()]
    [token] = [found.group(1) for t in texts if (found := re.search(r"reset-password\?token=([\w\-]+)", t))]
    body = {"token": token, "new_password": "a brand new passphrase"}
    assert api.post("/api/v1/auth/password-reset-confirm", body).status_code == 200


def _suspend(api: Api, user: dict[str, Any], admin: str) -> None:
    body = {"status": "suspended", "reason": "test"}
    assert api.patch(f"/api/v1/users/{user['user']['id']}/status", body, token=admin).status_code == 200


SIGN_OUTS: dict[str, Callable[[Api, dict[str, Any], str], None]] = {
    "logout": _logout,
    "logout everywhere": _logout_everywhere,
    "password change": _change_password,
    "password reset": _reset_password,
    "suspension": _suspend,
}


@pytest.mark.parametrize("sign_out", SIGN_OUTS.values(), ids=SIGN_OUTS.keys())
def test_a_sign_out_ends_the_firebase_sign_in(api: Api, sign_out: Callable[[Api, dict[str, Any], str], None]) -> None:
    load_rules(PROJECT)
    admin = api.admin()["access_token"]
    user = api.register("fay@example.com")
    uid = user["user"]["id"]
    # Fay signed in to Firebase with her custom token (the Auth emulator holds her account) and
    # follows her chat.
    auth.create_user(uid=uid, app=firebase.app())
    chat = api.post("/api/v1/chat/sessions", {"topic": "DNS"}, token=user["access_token"]).json
    messages = f"{documents_url(PROJECT)}/chat_sessions/{chat['id']}/messages"
    signed_in = int(time.time()) - 5
    assert rest("GET", messages, id_token(PROJECT, uid, auth_time=signed_in)) == 200

    before = time.time()
    sign_out(api, user, admin)
    after = time.time()

    moment = fields(store.db().collection(USERS).document(uid).get())[firebase.SIGNED_OUT_AT]
    assert before - 1 <= moment.timestamp() <= after
    # Her Firebase refresh tokens are revoked: Firebase issues no new ID token to that sign-in.
    valid_after = auth.get_user(uid, app=firebase.app()).tokens_valid_after_timestamp / 1000
    assert int(before) <= valid_after <= after
    # The rules refuse the sign-in from before (a listener is cut off, a new one refused); a
    # sign-in after the moment reads her chat again.
    assert rest("GET", messages, id_token(PROJECT, uid, auth_time=signed_in)) == 403
    assert rest("GET", messages, id_token(PROJECT, uid, auth_time=int(after) + 1)) == 200
    auth.delete_user(uid, app=firebase.app())


def test_a_user_never_signed_in_to_firebase_signs_out_as_before(api: Api) -> None:
    user = api.register("gus@example.com")
    assert api.post("/api/v1/auth/logout", token=user["access_token"]).status_code == 204
    assert api.get("/api/v1/auth/me", token=user["access_token"]).status_code == 401
    assert firebase.SIGNED_OUT_AT in fields(store.db().collection(USERS).document(user["user"]["id"]).get())


@pytest.mark.parametrize("sign_out", SIGN_OUTS.values(), ids=SIGN_OUTS.keys())
def test_a_sign_out_cuts_the_web_sdk_listener_off(
    api: Api, sign_out: Callable[[Api, dict[str, Any], str], None]
) -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js 20+ is required (make node-tools)"
    load_rules(PROJECT)
    admin = api.admin()["access_token"]
    user = api.register("hal@example.com")
    chat = api.post("/api/v1/chat/sessions", {"topic": "DNS"}, token=user["access_token"]).json
    custom = api.post("/api/v1/auth/firebase-token", token=user["access_token"]).json["token"]
    env = {
        **os.environ,
        "STUDYHALL_PROJECT": PROJECT,
        "STUDYHALL_CUSTOM_TOKEN": custom,
        "STUDYHALL_SESSION": chat["id"],
    }
    script = LISTENER.parent / "sign_out_listener.cjs"
    listener = subprocess.Popen(
        [node, str(script)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert listener.stdout is not None
        assert listener.stdout.readline().strip() == "listening", listener.stdout.read()
        sign_out(api, user, admin)
        # What the tutor writes next must not reach the signed-out listener.
        written = "after-the-sign-out"
        now = store.now()
        store.db().collection(CHAT_SESSIONS).document(chat["id"]).collection("messages").document(written).set(
            {"user_id": user["user"]["id"], "role": "assistant", "content": "late", "sources": [], "created_at": now}
        )
        out, err = listener.communicate(f"{written}\n", timeout=60)
    finally:
        if listener.poll() is None:
            listener.kill()
    result = json.loads(out.strip().splitlines()[-1])
    assert listener.returncode == 0 and result["ok"], out + err
    assert result["snapshots_before"] >= 1
