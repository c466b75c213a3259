"""Everything deployable, derived from the function registry.

`python -m infra.generate` writes the files; `tests/test_generated.py` fails when a committed
file drifts from what this module derives.
"""

from __future__ import annotations

import json
from typing import Any

from shared.registry import FunctionSpec, indexes, load_all, published_topics, ttl_collections, unindexed_fields

RUNTIME = "python311"
DEAD_LETTER_TOPIC = "dead-letter"
DEAD_LETTER_SUBSCRIPTION = "dead-letter-store"
SCHEDULER_TOPIC_PREFIX = "jobs."

EMULATOR_PORTS = {"firestore": 8180, "pubsub": 8185, "storage": 9023, "gateway": 8080}
TEST_PORTS = {"firestore": 8280, "pubsub": 8285, "storage": 9123}


def glob_of(path: str) -> str:
    """A route template as a Firebase Hosting glob: `{id}` matches one segment."""
    return "/".join("*" if seg.startswith("{") else seg for seg in path.split("/"))


def _specificity(spec: FunctionSpec) -> tuple[Any, ...]:
    segments = (spec.path or "").strip("/").split("/")
    return (len(segments), tuple(1 if s.startswith("{") else 0 for s in segments), spec.path)


def http_functions(specs: dict[str, FunctionSpec]) -> list[FunctionSpec]:
    """HTTP functions in rewrite order: literal segments win over a parameter at the same place."""
    return sorted((s for s in specs.values() if s.kind == "http"), key=_specificity)


def rewrites(specs: dict[str, FunctionSpec]) -> list[dict[str, Any]]:
    return [
        {"source": glob_of(s.path or ""), "function": {"functionId": s.name, "region": "us-central1"}}
        for s in http_functions(specs)
    ]


def firebase_json(specs: dict[str, FunctionSpec]) -> dict[str, Any]:
    return {
        "hosting": {
            "public": "infra/hosting",
            "ignore": ["firebase.json", "**/.*"],
            "rewrites": rewrites(specs),
            "headers": [{"source": "/api/**", "headers": [{"key": "Cache-Control", "value": "no-store"}]}],
        },
        "firestore": {"rules": "infra/firestore.rules", "indexes": "infra/firestore.indexes.json"},
        "storage": {"rules": "infra/storage.rules"},
        "emulators": {
            "firestore": {"host": "127.0.0.1", "port": EMULATOR_PORTS["firestore"]},
            "pubsub": {"host": "127.0.0.1", "port": EMULATOR_PORTS["pubsub"]},
            "storage": {"host": "127.0.0.1", "port": EMULATOR_PORTS["storage"]},
            "hosting": {"host": "127.0.0.1", "port": EMULATOR_PORTS["gateway"]},
            "ui": {"enabled": False},
        },
    }


def subscription_name(spec: FunctionSpec) -> str:
    return f"{spec.name}--{spec.topic}"


def event_topics(specs: dict[str, FunctionSpec]) -> list[str]:
    topics = {s.topic for s in specs.values() if s.kind == "event" and s.topic}
    return sorted(topics | set(published_topics()) | {DEAD_LETTER_TOPIC})


def pubsub_json(specs: dict[str, FunctionSpec]) -> dict[str, Any]:
    subscriptions = [
        {
            "name": subscription_name(s),
            "topic": s.topic,
            "function": s.name,
            "push_path": f"/{s.name}/projects/{{project}}/topics/{s.topic}",
            "ack_deadline_seconds": max(10, min(600, s.timeout_seconds)),
            "max_delivery_attempts": s.max_attempts,
            "dead_letter_topic": DEAD_LETTER_TOPIC,
            "retry_policy": {"minimum_backoff": "10s", "maximum_backoff": "600s"},
        }
        for s in specs.values()
        if s.kind == "event"
    ]
    subscriptions.append(
        {
            "name": DEAD_LETTER_SUBSCRIPTION,
            "topic": DEAD_LETTER_TOPIC,
            "function": None,
            "push_path": None,
            "ack_deadline_seconds": 60,
            "max_delivery_attempts": None,
            "dead_letter_topic": None,
            "retry_policy": None,
        }
    )
    return {"topics": event_topics(specs), "subscriptions": subscriptions}


def scheduler_json(specs: dict[str, FunctionSpec]) -> dict[str, Any]:
    return {
        "jobs": [
            {
                "name": s.name,
                "schedule": s.schedule,
                "time_zone": "Etc/UTC",
                "topic": s.topic,
                "payload": {"job": s.name},
            }
            for s in specs.values()
            if s.kind == "event" and s.schedule
        ]
    }


def _deploy_step(spec: FunctionSpec) -> dict[str, Any]:
    args = [
        "functions",
        "deploy",
        spec.name,
        "--gen2",
        "--region=${_REGION}",
        f"--runtime={RUNTIME}",
        "--source=.",
        f"--entry-point={spec.entry_point}",
        f"--memory={spec.memory}",
        f"--timeout={spec.timeout_seconds}s",
        # `^;^` makes `;` the separator, so the comma-separated origins stay one value.
        "--set-env-vars=^;^STUDYHALL_ENV=production;STUDYHALL_IMPORTS_BUCKET=${_IMPORTS_BUCKET};"
        "STUDYHALL_CORS_ORIGINS=${_CORS_ORIGINS};GOOGLE_CLOUD_PROJECT=${PROJECT_ID}",
        "--set-secrets=STUDYHALL_JWT_KEYS=studyhall-jwt-keys:latest",
        "--service-account=${_RUNTIME_SA}",
    ]
    if spec.kind == "http":
        args += ["--trigger-http", "--allow-unauthenticated"]
    elif spec.kind == "event":
        # Fed by the push subscription of infra/pubsub.json (dead-letter and retry policy there).
        args += ["--trigger-http", "--no-allow-unauthenticated"]
    else:
        args += [
            f"--trigger-event-filters=type={spec.event_type}",
            "--trigger-event-filters=bucket=${_IMPORTS_BUCKET}",
            "--retry",
        ]
    return {
        "id": f"deploy-{spec.name}",
        "name": "gcr.io/google.com/cloudsdktool/cloud-sdk:slim",
        "entrypoint": "gcloud",
        "args": args,
        "waitFor": ["checks"],
    }


def cloudbuild(specs: dict[str, FunctionSpec]) -> dict[str, Any]:
    deploys = [_deploy_step(s) for s in specs.values()]
    return {
        "substitutions": {
            "_REGION": "us-central1",
            "_IMPORTS_BUCKET": "studyhall-imports",
            "_CORS_ORIGINS": "https://studyhall.web.app",
            "_RUNTIME_SA": "studyhall-functions@${PROJECT_ID}.iam.gserviceaccount.com",
            "_PUSH_SA": "studyhall-pubsub-push@${PROJECT_ID}.iam.gserviceaccount.com",
        },
        "options": {"logging": "CLOUD_LOGGING_ONLY", "dynamicSubstitutions": True},
        "timeout": "3600s",
        "steps": [
            {
                "id": "checks",
                "name": "python:3.11-slim",
                "entrypoint": "bash",
                "args": [
                    "-c",
                    "pip install -q -r requirements-dev.txt && STUDYHALL_ENV=test python -m infra.generate --check",
                ],
            },
            {
                "id": "firestore-indexes",
                "name": "gcr.io/google.com/cloudsdktool/cloud-sdk:slim",
                "entrypoint": "bash",
                "args": ["-c", "npx -y firebase-tools deploy --only firestore,storage,hosting --project $PROJECT_ID"],
                "waitFor": ["checks"],
            },
            *deploys,
            {
                "id": "pubsub-and-scheduler",
                "name": "gcr.io/google.com/cloudsdktool/cloud-sdk:slim",
                "entrypoint": "bash",
                "args": ["-c", infra_script(specs)],
                "waitFor": [d["id"] for d in deploys],
            },
        ],
    }


def infra_script(specs: dict[str, FunctionSpec]) -> str:
    """Idempotent gcloud commands for the topics, push subscriptions and scheduler jobs."""
    pubsub = pubsub_json(specs)
    lines: list[str] = ["set -e"]
    for topic in pubsub["topics"]:
        lines.append(f"gcloud pubsub topics describe {topic} >/dev/null 2>&1 || gcloud pubsub topics create {topic}")
    for sub in pubsub["subscriptions"]:
        flags = [f"--ack-deadline={sub['ack_deadline_seconds']}"]
        if sub["push_path"]:
            path = sub["push_path"].replace("{project}", "${PROJECT_ID}")
            flags += [
                f"--push-endpoint=https://${{_REGION}}-${{PROJECT_ID}}.cloudfunctions.net{path}",
                "--push-auth-service-account=${_PUSH_SA}",
                f"--dead-letter-topic={sub['dead_letter_topic']}",
                f"--max-delivery-attempts={sub['max_delivery_attempts']}",
                f"--min-retry-delay={sub['retry_policy']['minimum_backoff']}",
                f"--max-retry-delay={sub['retry_policy']['maximum_backoff']}",
            ]
        joined = " ".join(flags)
        lines.append(
            f"gcloud pubsub subscriptions create {sub['name']} --topic={sub['topic']} {joined} "
            f"|| gcloud pubsub subscriptions update {sub['name']} {joined}"
        )
    for job in scheduler_json(specs)["jobs"]:
        body = json.dumps(job["payload"], separators=(",", ":"))
        job_flags = (
            f"--location=${{_REGION}} --schedule='{job['schedule']}' --time-zone={job['time_zone']} "
            f"--topic={job['topic']} --message-body='{body}'"
        )
        lines.append(
            f"gcloud scheduler jobs create pubsub {job['name']} {job_flags} "
            f"|| gcloud scheduler jobs update pubsub {job['name']} {job_flags}"
        )
    return "\n".join(lines)


def firestore_indexes() -> dict[str, Any]:
    def field(path: str, mode: str) -> dict[str, str]:
        return (
            {"fieldPath": path, "arrayConfig": "CONTAINS"} if mode == "CONTAINS" else {"fieldPath": path, "order": mode}
        )

    return {
        "indexes": [
            {
                "collectionGroup": i.collection,
                "queryScope": "COLLECTION",
                "fields": [field(path, mode) for path, mode in i.fields],
            }
            for i in indexes()
        ],
        "fieldOverrides": [
            # TTL fields: Firestore deletes the document once this time has passed.
            {"collectionGroup": group, "fieldPath": "expires_at", "ttl": True, "indexes": []}
            for group in ttl_collections()
        ]
        + [
            # Large arrays and maps no query filters on: no index entry per element.
            {"collectionGroup": group, "fieldPath": path, "indexes": []}
            for group, path in unindexed_fields()
        ],
    }


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2) + "\n"


def generated_files() -> dict[str, str]:
    """Path -> content of every file derived from the registry."""
    import yaml

    from infra.openapi import openapi_document

    specs = load_all()
    return {
        "firebase.json": dumps(firebase_json(specs)),
        "cloudbuild.yaml": yaml.safe_dump(cloudbuild(specs), sort_keys=False, width=120),
        "infra/pubsub.json": dumps(pubsub_json(specs)),
        "infra/scheduler.json": dumps(scheduler_json(specs)),
        "infra/firestore.indexes.json": dumps(firestore_indexes()),
        "docs/openapi.json": dumps(openapi_document(specs)),
    }
