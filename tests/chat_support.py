"""Content and users the chat tests share: questions through the API, exercises and paths
written straight to Firestore (they are other areas' documents)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from shared import answers, store
from shared.collections import CHAT_SESSIONS, EXERCISES, PATHS
from shared.event_types import MESSAGE_POSTED
from tests.support import PushEndpoint

SECRET_SOLUTION = "def add(a, b): return SOLUTION_SECRET_7781"
SECRET_TEST = "HIDDEN_TEST_SECRET_5521"


def question(qid: str, text: str, explanation: str, *, exam_type: str = "security-plus") -> dict[str, Any]:
    return {
        "exam_type": exam_type,
        "question_id": qid,
        "domain": "1.1",
        "question_text": text,
        "options": {"A": "Firewall", "B": "Hashing", "C": "Encryption", "D": "Load balancer"},
        "explanations": {
            "A": "A firewall filters traffic.",
            "B": explanation,
            "C": "Encryption hides data.",
            "D": "No.",
        },
        "correct_answer": "B",
    }


def add_question(api: Any, admin: str, qid: str, text: str, explanation: str, **kw: Any) -> str:
    response = api.post("/api/v1/questions", question(qid, text, explanation, **kw), token=admin)
    assert response.status_code == 201, response.json
    return str(response.json["id"])


def add_exercise(exercise_id: str, title: str, description: str, hints: list[str], topic: str = "python") -> None:
    now = store.now()
    store.db().collection(EXERCISES).document(exercise_id).set(
        {
            "title": title,
            "description": description,
            "topic": topic,
            "difficulty": "beginner",
            "language": "python",
            "hints": hints,
            "starter_code": "def add(a, b):\n    pass\n",
            "tests": [
                {"name": "t1", "stdin": "", "code": f"print({SECRET_TEST})", "expected_output": "5", "hidden": True}
            ],
            "solution": SECRET_SOLUTION,
            "author_id": "teacher-1",
            "created_at": now,
            "updated_at": now,
        }
    )


def add_path(path_id: str, lessons: list[dict[str, Any]], title: str = "Networking basics") -> None:
    now = store.now()
    store.db().collection(PATHS).document(path_id).set(
        {
            "title": title,
            "subject": "networking",
            "description": "From cables to routing.",
            "modules": [{"id": "m1", "title": "Foundations", "lessons": lessons}],
            "author_id": "teacher-1",
            "created_at": now,
            "updated_at": now,
        }
    )


def lesson(lesson_id: str, title: str, body: str, topic: str = "networking") -> dict[str, Any]:
    return {"id": lesson_id, "title": title, "kind": "reading", "topic": topic, "duration_seconds": 300, "body": body}


def messages_of(session_id: str) -> list[dict[str, Any]]:
    ref = store.db().collection(CHAT_SESSIONS).document(session_id).collection("messages")
    return [{"id": s.id, **(s.to_dict() or {})} for s in ref.order_by("created_at").stream()]


def replies_of(session_id: str) -> list[dict[str, Any]]:
    return [m for m in messages_of(session_id) if m["role"] == "assistant"]


def earn(user_id: str, question_ids: list[str]) -> None:
    """The user has earned these questions' keys, as answering them in practice records it."""
    store.run_transaction(lambda txn: answers.grant_keys_in(txn, user_id, question_ids, store.now()))


RULES = Path(__file__).resolve().parent.parent / "infra" / "firestore.rules"


def load_rules(project: str, text: str | None = None) -> None:
    """Load security rules (infra/firestore.rules unless `text`) into the Firestore emulator for
    this project alone: the shared emulator may run without them, or another run's."""
    body = json.dumps({"rules": {"files": [{"content": text if text is not None else RULES.read_text()}]}})
    request = urllib.request.Request(
        f"http://{os.environ['FIRESTORE_EMULATOR_HOST']}/emulator/v1/projects/{project}:securityRules",
        data=body.encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).close()


def documents_url(project: str) -> str:
    """The Firestore emulator's REST root of the project's documents, as a client reaches it."""
    return f"http://{os.environ['FIRESTORE_EMULATOR_HOST']}/v1/projects/{project}/databases/(default)/documents"


def rest(method: str, url: str, token: str | None = None, body: Any = None) -> int:
    """A client's request to the Firestore emulator under the rules: the status it gets."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data=data, method=method, headers=headers), timeout=10
        ) as r:
            return int(r.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def id_token(project: str, uid: str, *, auth_time: int | None = None) -> str:
    """What Firebase Auth issues after a custom-token sign-in (at `auth_time`, epoch seconds;
    now by default), unsigned as the emulator takes it."""
    signed_in = int(time.time()) if auth_time is None else auth_time
    claims = {
        "sub": uid,
        "user_id": uid,
        "aud": project,
        "iss": f"https://securetoken.google.com/{project}",
        "iat": signed_in,
        "auth_time": signed_in,
        "exp": 9_999_999_999,
        "firebase": {"sign_in_provider": "custom"},
    }
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


# The Web SDK's view of the live path (tests/test_live_sdk.py, bench/live.py) -------------------

LISTENER = Path(__file__).resolve().parent / "live" / "chat_listener.cjs"


@contextlib.contextmanager
def gateway_without_push(stack: Any) -> Iterator[int]:
    """The API on an ephemeral port, with no event delivered: no reply is ever written."""
    server = make_server("127.0.0.1", 0, stack.gateway, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_port
    finally:
        server.shutdown()


@contextlib.contextmanager
def gateway_with_push(stack: Any) -> Iterator[int]:
    """The API on an ephemeral port, and `chat-reply` reached by real Pub/Sub push through it."""
    with PushEndpoint(stack, "chat-reply", MESSAGE_POSTED) as push:
        yield push.server.server_port


def run_listener(
    api: Any, stack: Any, *, replies: bool = True, samples: int = 1
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Ann follows her chat with the SDK; Bob's chat is the one she must not see. `samples`:
    how many replies the script times (bench/live.py)."""
    node = shutil.which("node")
    assert node is not None, "Node.js 20+ is required (make node-tools)"
    ann = api.register("ann@example.com")
    second = api.login("ann@example.com")
    bob = api.register("bob@example.com")
    theirs = api.post("/api/v1/chat/sessions", {"topic": "secrets"}, token=bob["access_token"]).json
    api.post(f"/api/v1/chat/sessions/{theirs['id']}/messages", {"content": "my own"}, token=bob["access_token"])
    with (gateway_with_push if replies else gateway_without_push)(stack) as port:
        env = {
            **os.environ,
            "STUDYHALL_GATEWAY": f"http://127.0.0.1:{port}",
            "STUDYHALL_PROJECT": stack.project,
            "STUDYHALL_ACCESS_TOKEN": ann["access_token"],
            "STUDYHALL_SECOND_ACCESS_TOKEN": second["access_token"],
            "STUDYHALL_OTHER_SESSION": theirs["id"],
            "STUDYHALL_REPLY_SAMPLES": str(samples),
        }
        done = subprocess.run(
            [node, str(LISTENER)], env=env, capture_output=True, text=True, timeout=120, cwd=LISTENER.parent
        )
    lines = done.stdout.strip().splitlines()
    return done, {"ann": ann, "bob": bob, "their_session": theirs["id"], **(json.loads(lines[-1]) if lines else {})}
