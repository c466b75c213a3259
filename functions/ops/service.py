"""Operations: run a scheduled job now, exactly as its Cloud Scheduler trigger would.

The jobs are the scheduled subscribers of the registry, as generated into
infra/scheduler.json (deployed with the source, and kept in step with the registry by
tests/test_generated.py); reading that file keeps this function from importing every area.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from shared.errors import NotFound
from shared.logging import get_logger, log_fields
from shared.outbound import PUBLISH_TIMEOUT
from shared.pubsub import publisher, topic_path

log = get_logger("ops")

SCHEDULER_FILE = Path(__file__).resolve().parents[2] / "infra" / "scheduler.json"


@lru_cache(maxsize=1)
def jobs() -> dict[str, dict[str, Any]]:
    return {job["name"]: job for job in json.loads(SCHEDULER_FILE.read_text())["jobs"]}


def run_job(name: str, requested_by: str) -> tuple[str, str]:
    """Publish the job's fixed message body to its topic, as Cloud Scheduler does. Returns
    (topic, Pub/Sub message id). An unknown job is 404."""
    job = jobs().get(name)
    if job is None:
        raise NotFound("No such scheduled job.")
    body = json.dumps(job["payload"], separators=(",", ":")).encode()
    # The same body as the scheduler's; `event_type` names the topic for dead-letter replays.
    future = publisher().publish(topic_path(job["topic"]), body, event_type=job["topic"])
    message_id = future.result(timeout=PUBLISH_TIMEOUT)
    log.info("job run on demand", extra=log_fields(job=name, user_id=requested_by))
    return str(job["topic"]), str(message_id)
