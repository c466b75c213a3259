"""The live path: how long the tutor's reply takes to reach a Firebase Web SDK listener (the
SDK test's script, tests/live/chat_listener.cjs, under Node, timing each reply from the POST of
the message to its arrival in onSnapshot), and what a sign-out pays for reaching Firebase:
logout latency with the Firebase revocation and, side by side in the same run, with that call
replaced by a no-op; its Firestore operations.

Starts nothing: it uses the emulators named by the usual variables, by default those on the
test ports with the Auth emulator on 9199 (`make bench` starts them). Alone:
`.venv/bin/python -m bench.live [replies]`. Prints markdown.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any

os.environ.setdefault("STUDYHALL_BENCH_PROJECT", "studyhall-bench-live")
from bench.environment import BENCH_PROJECT, configure

configure()
os.environ["STUDYHALL_BCRYPT_ROUNDS"] = "4"
os.environ["STUDYHALL_TUTOR_MESSAGES_PER_MINUTE"] = "100000"
os.environ["STUDYHALL_TUTOR_MESSAGES_PER_DAY"] = "100000"
SIGN_OUTS = 20


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def logout_times(api: Any, label: str, count: int, *, firebase_user: bool) -> tuple[list[float], dict[str, int]]:
    from firebase_admin import auth

    from shared import firebase
    from tests.support import ops

    timings, cost = [], {}
    for i in range(count):
        user = api.register(f"{label}-{i}@example.com")
        if firebase_user:
            auth.create_user(uid=user["user"]["id"], app=firebase.app())
        started = time.perf_counter()
        response = api.post("/api/v1/auth/logout", token=user["access_token"])
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 204, response.json
        cost = ops(response)
    return timings, cost


def main() -> int:
    replies = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    from infra.local import pubsub
    from infra.local.emulators import clear_firestore
    from infra.local.gateway import Gateway
    from infra.manifest import TEST_PORTS
    from shared import firebase
    from tests.chat_support import load_rules, run_listener
    from tests.support import Api, Stack

    firestore_port = int(os.environ["FIRESTORE_EMULATOR_HOST"].rsplit(":", 1)[1]) or TEST_PORTS["firestore"]
    clear_firestore(BENCH_PROJECT, firestore_port)
    pubsub.apply(BENCH_PROJECT, push_base=None)
    load_rules(BENCH_PROJECT)
    stack = Stack(project=BENCH_PROJECT, gateway=Gateway())
    api = Api(stack.gateway)

    done, seen = run_listener(api, stack, samples=replies)
    assert done.returncode == 0, done.stdout + done.stderr
    latencies = [float(ms) for ms in seen["reply_ms"]]

    firebase.app()  # initialised once per instance: not part of a logout's time
    with_user, cost = logout_times(api, "signed-in", SIGN_OUTS, firebase_user=True)
    no_user, _ = logout_times(api, "never-signed-in", SIGN_OUTS, firebase_user=False)
    revoke = firebase.revoke_sign_ins
    firebase.revoke_sign_ins = lambda user_id: False  # the same logout without the Firebase call
    try:
        without, _ = logout_times(api, "no-call", SIGN_OUTS, firebase_user=False)
    finally:
        firebase.revoke_sign_ins = revoke

    def row(label: str, values: list[float]) -> str:
        return f"| {label} | {statistics.median(values):.0f} ms | {percentile(values, 95):.0f} ms |"

    lines = [
        f"Reply through a Firebase Web SDK listener: {len(latencies)} messages one after another, each timed by "
        "the Node script from the POST to the reply in onSnapshot (Pub/Sub emulator push to chat-reply, "
        "Firestore emulator with infra/firestore.rules):",
        "",
        "| p50 | p95 | max |",
        "| ---: | ---: | ---: |",
        f"| {percentile(latencies, 50):.0f} ms | {percentile(latencies, 95):.0f} ms | {max(latencies):.0f} ms |",
        "",
        f"`POST /auth/logout`, {SIGN_OUTS} each, in-process gateway, Auth emulator:",
        "",
        "| logout | p50 | p95 |",
        "| --- | ---: | ---: |",
        row("user signed in to Firebase (refresh tokens revoked)", with_user),
        row("user never signed in to Firebase (Firebase answers: no such user)", no_user),
        row("same logout with the Firebase call replaced by a no-op", without),
        "",
        f"Firestore operations of a logout: reads={cost['reads']}, writes={cost['writes']} "
        "(session, the user's sign-out moment, audit).",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
