"""Tutor chat: the retrieval evaluation's figures (tests/tutor_eval), retrieval at a
50,000-question bank, how long a reply takes to be written (message posted -> reply stored, through
real Pub/Sub push to the reply function), what the retrieval index costs to build and query on
a 3,000-passage corpus, the Firestore operations of each chat route and of a reply, and the
import time of the chat entry points next to that of a model SDK.

Starts nothing: it uses the emulators named by the usual variables, by default those on the
test ports (`make bench` starts them). Alone: `.venv/bin/python -m bench.chat [messages]`.
Prints markdown.
"""

from __future__ import annotations

import itertools
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("STUDYHALL_BENCH_PROJECT", "studyhall-bench-chat")
from bench.environment import BENCH_PROJECT, configure

configure()
os.environ["STUDYHALL_BCRYPT_ROUNDS"] = "4"
os.environ["STUDYHALL_TUTOR_MESSAGES_PER_MINUTE"] = "100000"
os.environ["STUDYHALL_TUTOR_MESSAGES_PER_DAY"] = "100000"
os.environ["STUDYHALL_TUTOR_INDEX_BUCKET"] = f"{BENCH_PROJECT}-tutor-index"

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = 2_400
LESSONS = 500
EXERCISES = 100
WORDS = " ".join(
    (
        "subnet mask router switch firewall hashing encryption certificate vlan dns dhcp tcp udp port",
        "latency bandwidth malware phishing backup raid cpu memory printer driver loop function variable",
        "list dictionary recursion sorting string integer exception class module",
    )
).split()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def sentence(i: int, n: int = 12) -> str:
    return " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(n)).capitalize() + "."


def load_content() -> None:
    from shared import store
    from shared.collections import EXERCISES as EXERCISE_COL
    from shared.collections import PATHS
    from shared.collections import QUESTIONS as QUESTION_COL

    now = store.now() - timedelta(hours=1)  # written a while ago: a refresh has nothing new to read
    writer = store.db().bulk_writer()
    for i in range(QUESTIONS):
        writer.set(
            store.db().collection(QUESTION_COL).document(f"bench-exam:Q{i:05}"),
            {
                "exam_type": "bench-exam",
                "question_id": f"Q{i:05}",
                "domain": f"{1 + i % 5}.1",
                "question_text": f"Question {i}: {sentence(i)}",
                "options": {"A": sentence(i + 1, 4), "B": sentence(i + 2, 4), "C": sentence(i + 3, 4), "D": "None"},
                "explanations": {k: sentence(i + j, 10) for j, k in enumerate("ABCD")},
                "correct_answer": "ABCD"[i % 4],
                "updated_at": now,
            },
        )
    for p in range(LESSONS // 10):
        lessons = [
            {
                "id": f"L{p:03}-{k}",
                "title": f"Lesson {p}.{k}: {sentence(p * 10 + k, 3)}",
                "kind": "reading",
                "topic": WORDS[(p + k) % len(WORDS)],
                "duration_seconds": 300,
                "body": " ".join(sentence(p * 10 + k + j) for j in range(6)),
            }
            for k in range(10)
        ]
        writer.set(
            store.db().collection(PATHS).document(f"path-{p:03}"),
            {
                "title": f"Path {p}",
                "subject": "it",
                "description": "",
                "modules": [{"id": "m", "title": "M", "lessons": lessons}],
                "updated_at": now,
            },
        )
    for e in range(EXERCISES):
        writer.set(
            store.db().collection(EXERCISE_COL).document(f"ex-{e:03}"),
            {
                "title": f"Exercise {e}",
                "description": sentence(e, 20),
                "topic": "python",
                "difficulty": "beginner",
                "hints": [sentence(e + 1, 6)],
                "tests": [],
                "solution": "secret",
                "updated_at": now,
            },
        )
    writer.close()  # type: ignore[no-untyped-call]


SCALE_QUESTIONS = 50_000


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def scale(lines: list[str]) -> None:
    """Retrieval at a 50,000-question bank: the index built in memory from generated questions
    (a Zipf-like vocabulary of 5,000 words besides the IT words above), its memory, the snapshot
    size, and the reply's retrieval and Firestore reads (grants, running exams, verify) timed on
    the emulator."""
    import random

    from functions.chat import tutor
    from functions.chat.retrieval import CONTENT, Index, question_passages
    from shared import answers, store
    from shared.collections import QUESTIONS as QUESTION_COL

    rng = random.Random(24)
    syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "sa", "do", "gu"]
    vocabulary = WORDS + ["".join(rng.choice(syllables) for _ in range(3)) for _ in range(5000)]
    cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(vocabulary))))

    def text(n: int) -> str:
        return " ".join(rng.choices(vocabulary, cum_weights=cumulative, k=n))

    gc_before = rss_mib()
    started = time.perf_counter()
    index = Index()
    for i in range(SCALE_QUESTIONS):
        doc_id = f"scale:Q{i:05}"
        data = {
            "exam_type": "scale",
            "question_text": f"{text(18).capitalize()}?",
            "domain": f"{1 + i % 5}.1",
            "options": {k: text(4) for k in "ABCD"},
            "explanations": {k: text(16) for k in "ABCD"},
            "correct_answer": "ABCD"[i % 4],
        }
        index.put(QUESTION_COL, doc_id, question_passages(doc_id, data))
    build = time.perf_counter() - started
    grown = rss_mib() - gc_before
    image_mib = len(index.to_bytes()) / 2**20

    CONTENT.index, CONTENT.since = index, store.now()
    CONTENT.built_at = CONTENT.refreshed_at = time.monotonic()
    viewer = answers.Viewer(user_id="bench-scale-student", role="student")
    messages = [f"why is {text(3)} used for {text(2)}?" for _ in range(300)]
    retrieval, replies = [], []
    for message in messages:
        t = time.perf_counter()
        tutor.candidates(index, message, [], {})
        retrieval.append((time.perf_counter() - t) * 1000)
    for message in messages[:100]:
        meter = store.start_metering()
        t = time.perf_counter()
        tutor.answer(message=message, history=[], context={}, viewer=viewer, now=store.now())
        replies.append((time.perf_counter() - t) * 1000)
    CONTENT.forget()
    lines += [
        "",
        f"At {SCALE_QUESTIONS:,} questions (generated; the index built in memory, {len(index):,} passages):",
        "",
        "| what | figure |",
        "| --- | ---: |",
        f"| build (index every question) | {build:.1f} s |",
        f"| memory the index adds to the process (RSS) | {grown:.0f} MiB |",
        f"| snapshot image | {image_mib:.1f} MiB |",
        f"| retrieval: candidates and scores (300 messages) | p50 {percentile(retrieval, 50):.1f} ms, "
        f"p95 {percentile(retrieval, 95):.1f} ms |",
        f"| the reply's answer: retrieval, answer rule reads, verify, compose (100 messages, emulator) | "
        f"p50 {percentile(replies, 50):.1f} ms, p95 {percentile(replies, 95):.1f} ms, "
        f"last {meter.reads} Firestore reads |",
    ]


def evaluation(lines: list[str]) -> None:
    """The retrieval evaluation (tests/tutor_eval) on the demo content, content-only tutor."""
    from functions.chat import snapshot
    from functions.chat.retrieval import CONTENT
    from tests import tutor_eval

    learner = tutor_eval.load_demo_content()
    snapshot.rebuild()
    CONTENT.forget()
    started = time.perf_counter()
    scores = tutor_eval.evaluate(tutor_eval.content_tutor(learner))
    lines += [
        "",
        f"Retrieval evaluation (tests/tutor_eval, demo content, content-only tutor, "
        f"{time.perf_counter() - started:.1f} s):",
        "",
        "| measure | value |",
        "| --- | ---: |",
        *scores.lines(),
    ]


def import_seconds(entry_point: str, extra: str = "") -> tuple[float, float]:
    """Medians over 5 fresh processes: importing `main` and resolving the entry point, then
    importing `extra` (a model SDK) on top, as a configured provider's first reply does."""
    more = f"import {extra}; " if extra else ""
    code = (
        f"import time; t = time.perf_counter(); import main; getattr(main, '{entry_point}'); t1 = time.perf_counter(); "
        f"{more}t2 = time.perf_counter(); print(t1 - t, t2 - t1)"
    )
    runs = []
    for _ in range(5):
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env=os.environ
        )
        base, more = out.stdout.strip().splitlines()[-1].split()
        runs.append((float(base), float(more)))
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main() -> int:
    messages = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    from functions.chat import service
    from functions.chat.retrieval import CONTENT, terms
    from infra.local import pubsub
    from infra.local.emulators import clear_firestore
    from infra.local.gateway import Gateway
    from infra.manifest import TEST_PORTS
    from shared import event_types, store
    from tests.support import Api, PushEndpoint, Stack, ops

    port = int(os.environ["FIRESTORE_EMULATOR_HOST"].rsplit(":", 1)[1]) or TEST_PORTS["firestore"]
    clear_firestore(BENCH_PROJECT, port)
    pubsub.apply(BENCH_PROJECT, push_base=None)
    load_content()
    lines: list[str] = []
    from google.cloud import storage

    from functions.chat import snapshot
    from shared.config import settings

    gcs = storage.Client(project=BENCH_PROJECT)
    bucket = gcs.lookup_bucket(settings().tutor_index_bucket) or gcs.create_bucket(settings().tutor_index_bucket)
    for blob in bucket.list_blobs():
        blob.delete()

    # The index: the rebuild job (reads everything, saves the snapshot), then a new reply instance.
    meter = store.start_metering()
    started = time.perf_counter()
    snapshot.rebuild()
    build = time.perf_counter() - started
    image_mib = bucket.get_blob(snapshot.OBJECT).size / 2**20
    CONTENT.forget()  # a new instance: starts from the snapshot
    snapshot_meter = store.start_metering()
    started = time.perf_counter()
    index = CONTENT.current()
    from_snapshot = time.perf_counter() - started
    queries = [terms(sentence(i, 6)) for i in range(500)]
    timings = []
    for words in queries:
        t = time.perf_counter()
        index.search(words, 3, lambda p: True)
        timings.append((time.perf_counter() - t) * 1000)
    lines += [
        f"Retrieval index, SQLite FTS5 with BM25, {len(index):,} passages ({QUESTIONS:,} questions, {LESSONS} lessons, "
        f"{EXERCISES} exercises):",
        "",
        "| what | figure |",
        "| --- | ---: |",
        f"| the rebuild job (read every content document, index it, save the snapshot) | {build * 1000:.0f} ms, "
        f"{meter.reads:,} Firestore reads, snapshot {image_mib:.1f} MiB |",
        f"| new instance from the snapshot (download, open, refresh) | {from_snapshot * 1000:.0f} ms, "
        f"{snapshot_meter.reads} Firestore reads |",
        f"| query, top 3 (500 queries) | p50 {percentile(timings, 50):.2f} ms, p95 {percentile(timings, 95):.2f} ms |",
    ]
    refresh_meter = store.start_metering()
    t = time.perf_counter()
    CONTENT._refresh()
    lines.append(
        f"| refresh with nothing changed | {(time.perf_counter() - t) * 1000:.0f} ms, "
        f"{refresh_meter.reads} Firestore reads |"
    )

    # Replies through the local stack: POST the message, Pub/Sub pushes to chat-reply, poll the reply.
    stack = Stack(project=BENCH_PROJECT, gateway=Gateway())
    api = Api(stack.gateway)
    token = api.register("bench-chat@example.com")["access_token"]
    costs: dict[str, dict[str, int]] = {}

    def call(label: str, method: str, url: str, body: Any = None) -> Any:
        response = api.call(method, url, token=token, json_body=body)
        assert response.status_code < 300, (label, response.status_code, response.json)
        costs.setdefault(label, ops(response))
        return response

    session = call("POST /chat/sessions", "POST", "/api/v1/chat/sessions", {"topic": "networking"}).json
    latencies = []
    with PushEndpoint(stack, "chat-reply", event_types.MESSAGE_POSTED):
        for i in range(messages):
            started = time.perf_counter()
            posted = call(
                "POST /chat/sessions/{id}/messages",
                "POST",
                f"/api/v1/chat/sessions/{session['id']}/messages",
                {"content": f"How does a {WORDS[i % len(WORDS)]} relate to {WORDS[(i * 5) % len(WORDS)]}?"},
            ).json
            reply = (
                store.db()
                .collection("chat_sessions")
                .document(session["id"])
                .collection("messages")
                .document(service.reply_id(posted["id"]))
            )
            while not reply.get().exists:
                if time.perf_counter() - started > 30:
                    raise RuntimeError("no reply within 30 s")
                time.sleep(0.005)
            latencies.append((time.perf_counter() - started) * 1000)
    call("GET /chat/sessions", "GET", "/api/v1/chat/sessions")
    call("GET /chat/sessions/{id}/messages", "GET", f"/api/v1/chat/sessions/{session['id']}/messages")
    call("POST /chat/sessions/{id}/end", "POST", f"/api/v1/chat/sessions/{session['id']}/end")
    call("POST /auth/firebase-token", "POST", "/api/v1/auth/firebase-token")

    # The reply function's own operations, warm index, one more message.
    second = call("POST /chat/sessions", "POST", "/api/v1/chat/sessions", {"topic": "dns"}).json
    posted = call(
        "POST /chat/sessions/{id}/messages",
        "POST",
        f"/api/v1/chat/sessions/{second['id']}/messages",
        {"content": "What does a subnet mask do?"},
    ).json
    CONTENT.refreshed_at = 0.0  # a refresh is due, as once a minute on a busy instance
    reply_meter = store.start_metering()
    service.write_reply(second["id"], posted["id"], store.now())
    reply_ops = (reply_meter.reads, reply_meter.writes)

    lines += [
        "",
        f"Reply written, local provider: {messages} messages one after another, each timed from the POST to the reply "
        "stored (Pub/Sub emulator push to the gateway's chat-reply, warm instance, 5 ms polling):",
        "",
        "| p50 | p95 | max |",
        "| ---: | ---: | ---: |",
        f"| {percentile(latencies, 50):.0f} ms | {percentile(latencies, 95):.0f} ms | {max(latencies):.0f} ms |",
        "",
        "Firestore operations (each request includes the one read that authenticates it):",
        "",
        "| route | reads | writes |",
        "| --- | ---: | ---: |",
    ]
    for label, spent in costs.items():
        lines.append(f"| {label} | {spent['reads']} | {spent['writes']} |")
    lines.append(f"| chat-reply (event, warm index, refresh due) | {reply_ops[0]} | {reply_ops[1]} |")

    lines += [
        "",
        "Cold import (fresh process: `import main` and resolve the entry point; median of 5 on a shared machine):",
        "",
        "| entry point | seconds |",
        "| --- | ---: |",
    ]
    for entry in ("chat_sessions", "chat_messages", "chat_firebase_token", "chat_reply"):
        lines.append(f"| {entry} | {import_seconds(entry)[0]:.3f} |")
    for sdk in ("google.genai", "openai", "firebase_admin"):
        lines.append(
            f"| `import {sdk}` on top of chat_reply (paid only where it is used) | "
            f"+{import_seconds('chat_reply', sdk)[1]:.3f} |"
        )
    scale(lines)
    clear_firestore(BENCH_PROJECT, port)
    evaluation(lines)
    print("\n".join(lines))
    clear_firestore(BENCH_PROJECT, port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
