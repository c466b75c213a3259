"""Operations routes (admin)."""

from __future__ import annotations

from functions.ops import service
from functions.ops.models import JobRunOut
from shared.events import Event, flush_outbox, subscriber
from shared.http import Call, HttpFunction, roles

run_job_route = HttpFunction("ops-run-job", "/api/v1/admin/jobs/{name}/run")


@run_job_route.post(roles("admin"), response=JobRunOut, status=202)
def run_job(call: Call[None, None]) -> JobRunOut:
    """Run a scheduled job now: its message is published to its topic, as its trigger would."""
    name = call.params["name"]
    topic, message_id = service.run_job(name, call.user.user_id)
    return JobRunOut(job=name, topic=topic, message_id=message_id)


@subscriber("ops-flush-outbox", topic="jobs.ops-flush-outbox", schedule="* * * * *")
def flush_parked_events(event: Event) -> None:
    """Publish the events that could not be published when they happened (see shared.events)."""
    flush_outbox()
