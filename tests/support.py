"""Helpers the tests share: the stack, an HTTP client that speaks the API, ready-made users."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, cast

from google.cloud import pubsub_v1, storage
from google.cloud.firestore import DocumentSnapshot
from google.protobuf.timestamp_pb2 import Timestamp
from werkzeug.test import Client, TestResponse

from infra.local import pubsub
from infra.local.gateway import Gateway
from shared import store
from shared.config import settings

PASSWORD = "correct horse battery staple"


@dataclass
class Stack:
    project: str
    gateway: Gateway

    @classmethod
    def start(cls, project: str) -> Stack:
        store.reset_client()
        client = storage.Client(project=project)
        for bucket in (settings().imports_bucket, settings().avatars_bucket):
            if client.lookup_bucket(bucket) is None:
                client.create_bucket(bucket)
        pubsub.apply(project, push_base=None)
        return cls(project=project, gateway=Gateway())

    def drain(self, subscriptions: list[str] | None = None) -> int:
        """Deliver every pending event to its function, as push would, until none is left."""
        return pubsub.drain(self.project, self.gateway.deliver, subscriptions=subscriptions)

    def purge(self) -> None:
        """Acknowledge every message of every subscription. Not by pulling: a pull sees only what
        is deliverable now, not a failed delivery waiting out its retry backoff (1-5 s) nor one
        still out with a consumer, and those would come back in the next test. Seeking to now
        acknowledges everything published before, waiting or not."""
        subscriber = pubsub_v1.SubscriberClient()
        now = Timestamp()
        now.GetCurrentTime()
        try:
            for sub in pubsub.manifest()["subscriptions"]:
                path = subscriber.subscription_path(self.project, sub["name"])
                subscriber.seek(request={"subscription": path, "time": now})
        finally:
            subscriber.close()

    def reset_storage(self) -> None:
        for name in (settings().imports_bucket, settings().avatars_bucket):
            for blob in storage.Client(project=self.project).bucket(name).list_blobs():
                blob.delete()


def fields(snapshot: DocumentSnapshot[Any]) -> dict[str, Any]:
    """A stored document's fields, for a document the test reads as existing (streamed, or just written)."""
    data = snapshot.to_dict()
    assert data is not None, snapshot.reference.path
    return data


def ops(response: TestResponse) -> dict[str, int]:
    """The Firestore operations a request spent, from the X-Firestore-Ops header."""
    header = response.headers["X-Firestore-Ops"]
    return {k: int(v) for k, v in (part.split("=") for part in header.split(";"))}


class JsonResponse(TestResponse):
    """The test client's response, with its JSON body typed `Any`: the tests index into it freely."""

    @property
    def json(self) -> Any:
        return super().json


@dataclass
class Api:
    gateway: Gateway
    client: Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = Client(self.gateway, response_wrapper=JsonResponse)

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> JsonResponse:
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        if json_body is not None:
            kwargs["data"] = json.dumps(json_body)
            kwargs.setdefault("content_type", "application/json")
        return cast(JsonResponse, self.client.open(path, method=method, headers=all_headers, **kwargs))

    def get(self, path: str, **kwargs: Any) -> JsonResponse:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> JsonResponse:
        return self.call("POST", path, json_body=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> JsonResponse:
        return self.call("PUT", path, json_body=json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> JsonResponse:
        return self.call("PATCH", path, json_body=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> JsonResponse:
        return self.call("DELETE", path, **kwargs)

    def register(
        self, email: str, *, role: str = "student", password: str = PASSWORD, token: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        body = {"email": email, "password": password, "first_name": "Test", "last_name": "User", "role": role, **extra}
        response = self.post("/api/v1/auth/register", body, token=token)
        assert response.status_code == 201, response.json
        return dict(response.json)

    def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        response = self.post("/api/v1/auth/login", {"email": email, "password": password})
        assert response.status_code == 200, response.json
        return dict(response.json)

    def admin(self, email: str = "admin@example.com") -> dict[str, Any]:
        """An admin account (created as the first-admin command would) and its tokens."""
        from shared import accounts
        from shared.auth import hash_password, new_id
        from shared.registration import create_account

        now = store.now()
        user = accounts.new_user(
            email=email,
            first_name="Ada",
            last_name="Admin",
            role="admin",
            grade_level=None,
            password_hash=hash_password(PASSWORD),
            now=now,
        )
        event_id = new_id()
        store.run_transaction(lambda txn: create_account(txn, new_id(), user, now, event_id=event_id)).send()
        return self.login(email)


def put_in_school(user_id: str, school_id: str | None) -> None:
    """Make a user a member of a school (None: of none) as the schools area will: the school on
    their user document and on each of their sessions, which is where a request reads it."""
    db = store.db()
    db.collection("users").document(user_id).update({"school_id": school_id})
    for session in db.collection("sessions").where(filter=store.eq("user_id", user_id)).stream():
        session.reference.update({"school_id": school_id})


class PushEndpoint:
    """A real HTTP server in front of the gateway, and a push subscription from the Pub/Sub
    emulator to one event function through it: delivery exactly as in production."""

    def __init__(self, stack: Stack, function: str, topic: str) -> None:
        import threading

        from werkzeug.serving import make_server

        self.stack = stack
        self.server = make_server("127.0.0.1", 0, stack.gateway, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.subscriber = pubsub_v1.SubscriberClient()
        self.subscription = self.subscriber.subscription_path(stack.project, f"push-test-{function}")
        self.endpoint = (
            f"http://127.0.0.1:{self.server.server_port}/_events/{function}/projects/{stack.project}/topics/{topic}"
            f"?{stack.gateway.push_query}"
        )
        self.topic = f"projects/{stack.project}/topics/{topic}"

    def __enter__(self) -> PushEndpoint:
        self.thread.start()
        self.subscriber.create_subscription(
            request={
                "name": self.subscription,
                "topic": self.topic,
                "push_config": {"push_endpoint": self.endpoint},
                "ack_deadline_seconds": 10,
            }
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.subscriber.delete_subscription(subscription=self.subscription)
        self.subscriber.close()
        self.server.shutdown()


def eventually(probe: Any, *, timeout: float = 20.0, interval: float = 0.2) -> Any:
    """Poll `probe()` until it returns something truthy (asynchronous delivery), or fail."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
