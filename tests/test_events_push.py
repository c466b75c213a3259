"""Event delivery exactly as in production: the Pub/Sub emulator pushes to a real HTTP server
in front of the gateway, which hands the push to the event function."""

from __future__ import annotations

import threading
import time
from typing import Any

# google-cloud-pubsub ships no type information (no py.typed).
from google.cloud import pubsub_v1
from werkzeug.serving import make_server

from tests.support import Api, Stack
from tests.test_progress import completed, days_ago, stats_of, student


def wait_for(probe: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not seen within {timeout}s")


def test_exam_completed_pushed_by_the_emulator(api: Api, stack: Stack) -> None:
    user_id, token = student(api, "pushed@example.com")
    function, topic = "progress-on-exam-completed", "exam.completed"
    server = make_server("127.0.0.1", 0, stack.gateway, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    subscriber = pubsub_v1.SubscriberClient()
    subscription = subscriber.subscription_path(stack.project, "push-test-progress-exam-completed")
    endpoint = (
        f"http://127.0.0.1:{server.server_port}/_events/{function}/projects/{stack.project}/topics/{topic}"
        f"?{stack.gateway.push_query}"
    )
    try:
        subscriber.create_subscription(
            request={
                "name": subscription,
                "topic": f"projects/{stack.project}/topics/{topic}",
                "push_config": {"push_endpoint": endpoint},
                "ack_deadline_seconds": 10,
            }
        )
        event_id = completed(user_id, days_ago(0), score=90, correct=9, total=10)
        completed(user_id, days_ago(0), score=90, correct=9, total=10, event_id=event_id)  # redelivered
        stats = wait_for(lambda: (s := stats_of(user_id)).get("exams_completed") and s)
        assert stats["exams_completed"] == 1
        time.sleep(1.0)  # give the duplicate its chance to be (not) counted
        body = api.get(f"/api/v1/students/{user_id}/progress", token=token).json
        assert body["exams_completed"] == 1
        assert body["xp"] == 50 + 45
        assert [b["id"] for b in body["badges"]] == ["first-exam"]
    finally:
        subscriber.delete_subscription(subscription=subscription)
        subscriber.close()
        server.shutdown()
        thread.join(timeout=5)
