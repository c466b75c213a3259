"""Liveness and readiness."""

from __future__ import annotations

from typing import Literal

from shared import store
from shared.config import settings
from shared.http import PUBLIC, Call, HttpFunction, Response
from shared.logging import get_logger
from shared.pubsub import publisher, topic_path
from shared.validation import Out

log = get_logger("health")

live_route = HttpFunction("health-live", "/health")
ready_route = HttpFunction("health-ready", "/health/ready")


class HealthOut(Out):
    status: Literal["ok", "degraded"]
    version: str
    checks: dict[str, str] = {}


@live_route.get(PUBLIC, response=HealthOut)
def live(call: Call[None, None]) -> HealthOut:
    """The process is up."""
    return HealthOut(status="ok", version=settings().version)


def _check(name: str, probe: object) -> str:
    try:
        probe()  # type: ignore[operator]
        return "ok"
    except Exception as exc:  # any failure of a dependency means "not ready"
        log.warning(f"readiness check {name} failed: {type(exc).__name__}")
        return "unavailable"


@ready_route.get(PUBLIC, response=HealthOut, errors=(503,))
def ready(call: Call[None, None]) -> Response:
    """The process can reach Firestore and Pub/Sub."""
    checks = {
        "firestore": _check("firestore", lambda: store.db().collection("_health").document("ping").get(timeout=5)),
        # infra/iam.py grants the runtime account viewer on this topic (READINESS_TOPIC).
        "pubsub": _check("pubsub", lambda: publisher().get_topic(topic=topic_path("user.registered"), timeout=5)),
    }
    ok = all(v == "ok" for v in checks.values())
    body = HealthOut(status="ok" if ok else "degraded", version=settings().version, checks=checks)
    return Response(status=200 if ok else 503, body=body)
