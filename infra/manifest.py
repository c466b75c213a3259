"""Everything deployable, derived from the function registry.

`python -m infra.generate` writes the files; `tests/test_generated.py` fails when a committed
file drifts from what this module derives.
"""

from __future__ import annotations

import json
from typing import Any

from infra.deploy_config import (
    AVATARS_BUCKET_SUFFIX,
    BUILD_PYTHON_IMAGE,
    CONTENT_LABEL,
    FUNCTIONS_REPOSITORY,
    GCLOUD_IMAGE,
    IMPORTS_BUCKET_SUFFIX,
    JWT_SECRET,
    NODE_IMAGE,
    REGION,
    TUTOR_API_KEY_SECRET,
    TUTOR_INDEX_BUCKET_SUFFIX,
    bucket,
)
from infra.incremental import DEPLOYED_FILE, PLAN_DIR
from shared.registry import (
    FunctionSpec,
    entry_point_modules,
    indexes,
    load_all,
    published_topics,
    ttl_collections,
    unindexed_fields,
)

RUNTIME = "python311"
DEAD_LETTER_TOPIC = "dead-letter"
DEAD_LETTER_SUBSCRIPTION = "dead-letter-store"
SCHEDULER_TOPIC_PREFIX = "jobs."

EMULATOR_PORTS = {"firestore": 8180, "pubsub": 8185, "storage": 9023, "auth": 9099, "gateway": 8080}
TEST_PORTS = {"firestore": 8280, "pubsub": 8285, "storage": 9123, "auth": 9199}
# The API docs page loads only its own files (Swagger UI styles some elements inline).
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'"
)


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
        {"source": glob_of(s.path or ""), "function": {"functionId": s.name, "region": REGION}}
        for s in http_functions(specs)
    ]


def firebase_json(specs: dict[str, FunctionSpec]) -> dict[str, Any]:
    return {
        "hosting": {
            "public": "infra/hosting",
            "ignore": ["firebase.json", "**/.*"],
            # `/docs` serves docs.html (Swagger UI); files win over rewrites, as locally.
            "cleanUrls": True,
            "rewrites": rewrites(specs),
            "headers": [
                {"source": "/api/**", "headers": [{"key": "Cache-Control", "value": "no-store"}]},
                {"source": "/docs", "headers": [{"key": "Content-Security-Policy", "value": DOCS_CSP}]},
            ],
        },
        # No "storage" rules: the imports bucket is not the default Firebase bucket (and the API is
        # its only writer); deploying them fails on a project without a default bucket.
        "firestore": {"rules": "infra/firestore.rules", "indexes": "infra/firestore.indexes.json"},
        "emulators": {
            "firestore": {"host": "127.0.0.1", "port": EMULATOR_PORTS["firestore"]},
            "pubsub": {"host": "127.0.0.1", "port": EMULATOR_PORTS["pubsub"]},
            "storage": {"host": "127.0.0.1", "port": EMULATOR_PORTS["storage"]},
            "auth": {"host": "127.0.0.1", "port": EMULATOR_PORTS["auth"]},
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


# Firebase Hosting cuts a proxied request after 60 s: an HTTP function may not run longer.
HOSTING_TIMEOUT_SECONDS = 60
# Functions deployed at once: each deploy is a Cloud Build build of its own, queued beyond the
# project's concurrent-build quota; 8 and the outer build stay under a new project's quota.
DEPLOY_BATCH = 8
# One function's build and rollout, a wait in the build queue included.
DEPLOY_STEP_TIMEOUT_SECONDS = 1200
# The steps before and after the deploys (checks, node tools, Firestore, grants, Hosting).
FIXED_STEPS_TIMEOUT_SECONDS = 2400
# What a function's upload leaves out (the build's upload is ruled by .gcloudignore).
FUNCTION_IGNORE_FILE = ".gcloudignore-functions"
# Areas whose functions hash passwords: bcrypt wants a whole CPU, not the sliver 256Mi gets.
FULL_CPU_AREAS = frozenset({"auth"})
DEAD_LETTER_ALERT_FILE = "infra/monitoring/dead-letter-alert.json"
DEAD_LETTER_ALERT_NAME = "Studyhall: dead letters"
# firebase-tools, installed in the build from infra/node/package-lock.json (integrity hashes).
NODE_TOOLS = "infra/node"
FIREBASE_CLI = f"{NODE_TOOLS}/node_modules/firebase-tools/lib/bin/firebase.js"

# The build's settings (`--substitutions`): deployment choices, not names (infra/deploy_config.py).
SUBSTITUTIONS = {
    "_CORS_ORIGINS": "https://studyhall.web.app",
    "_APP_URL": "https://studyhall.web.app",
    # Networks of Firebase Hosting's requests to the functions (docs/deploy.md, client address).
    "_TRUSTED_PROXIES": "35.191.0.0/16,130.211.0.0/22",
    "_ALERT_CHANNELS": "",
    "_TUTOR_PROVIDER": "local",
    # `secret`: the chat functions read STUDYHALL_TUTOR_API_KEY from Secret Manager.
    "_TUTOR_API_KEY": "",
    # Functions to deploy even if unchanged (comma-separated, or `all`).
    "_REBUILD": "",
}

ENV_VARS = {
    "STUDYHALL_ENV": "production",
    "STUDYHALL_IMPORTS_BUCKET": bucket("${PROJECT_ID}", IMPORTS_BUCKET_SUFFIX),
    "STUDYHALL_AVATARS_BUCKET": bucket("${PROJECT_ID}", AVATARS_BUCKET_SUFFIX),
    "STUDYHALL_CORS_ORIGINS": "${_CORS_ORIGINS}",
    "STUDYHALL_APP_URL": "${_APP_URL}",
    # Google's front end appends what it saw; Hosting, in front of it, the client.
    "STUDYHALL_TRUSTED_PROXY_HOPS": "2",
    "STUDYHALL_TRUSTED_PROXIES": "${_TRUSTED_PROXIES}",
    "STUDYHALL_REGION": REGION,
    "GOOGLE_CLOUD_PROJECT": "${PROJECT_ID}",
}
# Settings only one area's functions take.
AREA_ENV_VARS = {
    "chat": {
        "STUDYHALL_TUTOR_PROVIDER": "${_TUTOR_PROVIDER}",
        "STUDYHALL_TUTOR_INDEX_BUCKET": bucket("${PROJECT_ID}", TUTOR_INDEX_BUCKET_SUFFIX),
    }
}
# Secrets: every function's, and the tutor's provider key when `_TUTOR_API_KEY=secret`. Each
# deploy names the whole set (`--set-secrets`, `--set-env-vars`): nothing is added by hand.
SECRETS = {"STUDYHALL_JWT_KEYS": f"{JWT_SECRET}:latest"}
AREA_OPTIONAL_SECRETS = {"chat": {"STUDYHALL_TUTOR_API_KEY": f"{TUTOR_API_KEY_SECRET}:latest"}}


def function_url(name: str) -> str:
    """The function's own URL: the audience its front end accepts in a push token."""
    return f"https://{REGION}-${{PROJECT_ID}}.cloudfunctions.net/{name}"


def timeout_of(spec: FunctionSpec) -> int:
    return min(spec.timeout_seconds, HOSTING_TIMEOUT_SECONDS) if spec.kind == "http" else spec.timeout_seconds


def resources_of(spec: FunctionSpec) -> tuple[str, str | None]:
    """(memory, cpu): the spec's own (`cpu` when it declares one), a full CPU for password hashing."""
    cpu = getattr(spec, "cpu", None)
    if cpu is None and spec.area in FULL_CPU_AREAS:
        cpu = "1"
    memory = spec.memory
    if cpu is not None and float(cpu) >= 1 and memory in ("128Mi", "256Mi"):
        memory = "512Mi"  # a whole CPU comes with at least 512Mi
    return memory, (str(cpu) if cpu is not None else None)


def build_dir(spec: FunctionSpec) -> str:
    return f".build/{spec.name}"


def plan_file(spec: FunctionSpec) -> str:
    """Present when the function's content hash differs from its deployed label (infra/incremental.py)."""
    return f"{PLAN_DIR}/{spec.name}"


def deploy_args(spec: FunctionSpec) -> list[str]:
    """`gcloud functions deploy` of one function, with the build's substitutions unresolved."""
    from infra.iam import FUNCTIONS_BUILD, STORAGE_TRIGGER, runtime_account

    memory, cpu = resources_of(spec)
    env = ";".join(f"{k}={v}" for k, v in {**ENV_VARS, **AREA_ENV_VARS.get(spec.area, {})}.items())
    secrets = ",".join(f"{k}={v}" for k, v in SECRETS.items())
    args = [
        "functions",
        "deploy",
        spec.name,
        "--gen2",
        f"--region={REGION}",
        f"--runtime={RUNTIME}",
        f"--source={build_dir(spec) if spec.prepare else '.'}",
        f"--ignore-file={FUNCTION_IGNORE_FILE}",
        f"--entry-point={spec.entry_point}",
        f"--memory={memory}",
        *([f"--cpu={cpu}"] if cpu else []),
        f"--timeout={timeout_of(spec)}s",
        # `^;^` makes `;` the separator, so the comma-separated origins stay one value.
        f"--set-env-vars=^;^{env}",
        f"--set-secrets={secrets}",
        f"--service-account={runtime_account(spec).email}",
        # The image is built as this account (not the default compute account, which may hold no
        # role) and pushed to the one repository it may write to.
        f"--build-service-account={FUNCTIONS_BUILD.resource}",
        f"--docker-repository=projects/${{PROJECT_ID}}/locations/{REGION}/repositories/{FUNCTIONS_REPOSITORY}",
    ]
    if spec.max_instances is not None:
        args.append(f"--max-instances={spec.max_instances}")
    if spec.concurrency is not None:
        args.append(f"--concurrency={spec.concurrency}")
    if spec.kind == "http":
        args += ["--trigger-http", "--allow-unauthenticated"]
    elif spec.kind == "event":
        # Fed by the push subscription of infra/pubsub.json (dead-letter and retry policy there).
        args += ["--trigger-http", "--no-allow-unauthenticated"]
    else:
        args += [
            f"--trigger-event-filters=type={spec.event_type}",
            f"--trigger-event-filters=bucket={bucket('${PROJECT_ID}', IMPORTS_BUCKET_SUFFIX)}",
            # The bucket is created in REGION (infra/iam.sh): the trigger must be there too.
            f"--trigger-location={REGION}",
            f"--trigger-service-account={STORAGE_TRIGGER.email}",
            "--no-allow-unauthenticated",
            "--retry",
        ]
    return args


def deploy_script(spec: FunctionSpec) -> str:
    """The deploy step's shell: nothing when the plan has no file for the function (its deployed
    label is its content hash), else the deploy, labelled with the hash."""
    import shlex

    args = deploy_args(spec)
    secrets = next(a for a in args if a.startswith("--set-secrets="))
    lines = [
        "set -euo pipefail",
        f"[ -f {plan_file(spec)} ] || {{ echo '{spec.name}: unchanged, not rebuilt'; exit 0; }}",
    ]
    optional = AREA_OPTIONAL_SECRETS.get(spec.area)
    if optional:
        # `$$` is Cloud Build's escaped `$`: a shell variable, not a substitution.
        lines += [
            f"secrets={shlex.quote(secrets)}",
            "if [ '${_TUTOR_API_KEY}' = secret ]; then "
            f'secrets="$$secrets,{",".join(f"{k}={v}" for k, v in optional.items())}"; fi',
        ]
        args[args.index(secrets)] = "SECRETS"
    command = " ".join(shlex.quote(a) for a in ["gcloud", *args])
    command = command.replace(" SECRETS", ' "$$secrets"')
    lines.append(f'{command} --update-labels={CONTENT_LABEL}="$$(cat {plan_file(spec)})"')
    return "\n".join(lines)


def _deploy_step(spec: FunctionSpec, wait_for: str) -> dict[str, Any]:
    return {
        "id": f"deploy-{spec.name}",
        "name": GCLOUD_IMAGE,
        "entrypoint": "bash",
        "args": ["-c", deploy_script(spec)],
        "waitFor": [f"prepare-{spec.name}", wait_for] if spec.prepare else ["plan", wait_for],
        "timeout": f"{DEPLOY_STEP_TIMEOUT_SECONDS}s",
    }


def _prepare_step(spec: FunctionSpec) -> dict[str, Any]:
    """Copy the source to .build/<name> (ignored by every other deploy) and run the function's
    `prepare` command there, so only this function's upload carries what it fetches; skipped,
    like its deploy, when the function is unchanged."""
    target = build_dir(spec)
    script = (
        f"set -e; [ -f {plan_file(spec)} ] || exit 0; mkdir -p {target}; "
        f"tar -c --exclude=./.git --exclude=./.build --exclude=./.venv --exclude=./.dev . | tar -x -C {target}; "
        f"cd {target}; {spec.prepare}"
    )
    return {
        "id": f"prepare-{spec.name}",
        "name": BUILD_PYTHON_IMAGE,
        "entrypoint": "bash",
        "args": ["-c", script],
        "waitFor": ["plan"],
    }


def _firebase_step(step_id: str, only: str, wait_for: list[str]) -> dict[str, Any]:
    return {
        "id": step_id,
        "name": NODE_IMAGE,
        "entrypoint": "node",
        "args": [FIREBASE_CLI, "deploy", "--only", only, "--project", "${PROJECT_ID}", "--non-interactive"],
        "waitFor": ["node-tools", *wait_for],
    }


def build_timeout_seconds(functions: int) -> int:
    """Every deploy wave at its step's limit, plus the fixed steps: the build cannot end before
    Hosting because the deploys were slow (Cloud Build allows up to 24 h)."""
    waves = -(-functions // DEPLOY_BATCH)
    return min(FIXED_STEPS_TIMEOUT_SECONDS + waves * DEPLOY_STEP_TIMEOUT_SECONDS, 24 * 3600)


# The values the content hashes see: the same substitutions the deploy steps are run with.
HASH_ENV = ["PROJECT_ID=$PROJECT_ID", *(f"{k}=${{{k}}}" for k in SUBSTITUTIONS)]


def cloudbuild(specs: dict[str, FunctionSpec]) -> dict[str, Any]:
    # At most DEPLOY_BATCH deploys at once: each waits for the one DEPLOY_BATCH places before it.
    deploys: list[dict[str, Any]] = []
    for i, spec in enumerate(specs.values()):
        deploys.append(_deploy_step(spec, deploys[i - DEPLOY_BATCH]["id"] if i >= DEPLOY_BATCH else "plan"))
    deploy_ids = [d["id"] for d in deploys]
    prepares = [_prepare_step(s) for s in specs.values() if s.prepare]
    return {
        "substitutions": dict(SUBSTITUTIONS),
        "options": {"logging": "CLOUD_LOGGING_ONLY", "dynamicSubstitutions": True},
        "timeout": f"{build_timeout_seconds(len(specs))}s",
        "steps": [
            {
                "id": "checks",
                "name": BUILD_PYTHON_IMAGE,
                "entrypoint": "bash",
                "args": ["-c", CHECKS_COMMAND],
                "env": HASH_ENV,
            },
            {
                "id": "plan",
                "name": GCLOUD_IMAGE,
                "entrypoint": "bash",
                "args": ["-c", PLAN_COMMAND],
                "waitFor": ["checks"],
            },
            {
                "id": "node-tools",
                "name": NODE_IMAGE,
                "entrypoint": "npm",
                "args": ["ci", "--prefix", NODE_TOOLS, "--no-audit", "--no-fund", "--ignore-scripts"],
                "waitFor": ["-"],
            },
            _firebase_step("firestore-rules-and-indexes", "firestore", ["checks"]),
            *prepares,
            *deploys,
            {
                "id": "pubsub-scheduler-iam",
                "name": GCLOUD_IMAGE,
                "entrypoint": "bash",
                "args": ["-c", infra_script(specs)],
                "waitFor": deploy_ids,
            },
            # Last: the rewrites point at functions that now exist.
            _firebase_step("hosting", "hosting", [*deploy_ids, "firestore-rules-and-indexes"]),
        ],
    }


# Our own modules compiled once, in the build, by the runtime's Python: a new instance would
# otherwise compile each module it imports on every cold start (the functions' filesystem
# keeps nothing between instances). Hash-checked, so a .pyc stays valid whatever modification
# times the upload gives the sources, and is never used for a source it was not compiled from.
COMPILE_COMMAND = "python -m compileall -q -f --invalidation-mode checked-hash main.py functions shared"
# The locked runtime dependencies first (hash-checked), then the tools the checks need.
INSTALL_COMMAND = "pip install -q --require-hashes -r requirements.txt && pip install -q -r requirements-dev.txt"
CHECKS_COMMAND = (
    f"{INSTALL_COMMAND} && STUDYHALL_ENV=test python -m infra.generate --check"
    # Hosting's public folder: /openapi.json and Swagger UI's assets for /docs.
    " && python -m infra.hosting_build"
    f" && {COMPILE_COMMAND}"
    " && STUDYHALL_ENV=test python -m infra.incremental hashes"
)
# What is deployed, by label; then which functions the build deploys (stdlib Python only).
PLAN_COMMAND = (
    f"set -euo pipefail; gcloud functions list --regions={REGION} --format=json > {DEPLOYED_FILE}"
    " && python3 -m infra.incremental plan --rebuild='${_REBUILD}'"
)


def _idempotent_subscription(sub: dict[str, Any], flags: list[str]) -> str:
    joined = " ".join(flags)
    return (
        f"gcloud pubsub subscriptions describe {sub['name']} >/dev/null 2>&1 "
        f"&& gcloud pubsub subscriptions update {sub['name']} {joined} "
        f"|| gcloud pubsub subscriptions create {sub['name']} --topic={sub['topic']} {joined}"
    )


def infra_script(specs: dict[str, FunctionSpec]) -> str:
    """Idempotent gcloud commands, after the deploys: topics, push subscriptions, scheduler jobs,
    the grants on them and on the event functions, the dead-letter alert."""
    from infra.iam import PUSH, resource_grants

    pubsub = pubsub_json(specs)
    lines: list[str] = ["set -e"]
    for topic in pubsub["topics"]:
        # Dead letters stay 31 days (a subscription cannot keep them longer than 7).
        retention = " --message-retention-duration=31d" if topic == DEAD_LETTER_TOPIC else ""
        lines.append(
            f"gcloud pubsub topics describe {topic} >/dev/null 2>&1 || gcloud pubsub topics create {topic}{retention}"
        )
    for sub in pubsub["subscriptions"]:
        # An idle subscription is deleted after 31 days by default: never for ours.
        flags = [f"--ack-deadline={sub['ack_deadline_seconds']}", "--expiration-period=never"]
        if sub["push_path"]:
            path = sub["push_path"].replace("{project}", "${PROJECT_ID}")
            flags += [
                f"--push-endpoint={function_url(sub['function'])}{path.removeprefix('/' + sub['function'])}",
                f"--push-auth-service-account={PUSH.email}",
                # The default audience is the whole endpoint with its path, which the front end refuses.
                f"--push-auth-token-audience={function_url(sub['function'])}",
                f"--dead-letter-topic={sub['dead_letter_topic']}",
                f"--max-delivery-attempts={sub['max_delivery_attempts']}",
                f"--min-retry-delay={sub['retry_policy']['minimum_backoff']}",
                f"--max-retry-delay={sub['retry_policy']['maximum_backoff']}",
            ]
        else:
            flags += ["--message-retention-duration=7d", "--retain-acked-messages"]
        lines.append(_idempotent_subscription(sub, flags))
    lines += resource_grants(specs, pubsub["subscriptions"], pubsub["topics"])
    for job in scheduler_json(specs)["jobs"]:
        body = json.dumps(job["payload"], separators=(",", ":"))
        job_flags = (
            f"--location={REGION} --schedule='{job['schedule']}' --time-zone={job['time_zone']} "
            f"--topic={job['topic']} --message-body='{body}'"
        )
        lines.append(
            f"gcloud scheduler jobs describe {job['name']} --location={REGION} >/dev/null 2>&1 "
            f"&& gcloud scheduler jobs update pubsub {job['name']} {job_flags} "
            f"|| gcloud scheduler jobs create pubsub {job['name']} {job_flags}"
        )
    # `$$` is Cloud Build's escaped `$`: a shell variable, not a substitution.
    lines += [
        "channels='${_ALERT_CHANNELS}'",
        f"gcloud alpha monitoring policies list --filter='displayName=\"{DEAD_LETTER_ALERT_NAME}\"' "
        "--format='value(name)' | grep -q . "
        f"|| gcloud alpha monitoring policies create --policy-from-file={DEAD_LETTER_ALERT_FILE} "
        "$${channels:+--notification-channels=$$channels}",
    ]
    return "\n".join(lines)


def dead_letter_alert() -> dict[str, Any]:
    """A Cloud Monitoring policy: any message waiting in the dead-letter store opens an incident."""
    return {
        "displayName": DEAD_LETTER_ALERT_NAME,
        "combiner": "OR",
        "documentation": {
            "content": "An event failed every delivery attempt. Replay: python -m infra.replay_dead_letters",
            "mimeType": "text/markdown",
        },
        "conditions": [
            {
                "displayName": "messages in dead-letter-store",
                "conditionThreshold": {
                    "filter": (
                        'resource.type = "pubsub_subscription" AND '
                        f'resource.labels.subscription_id = "{DEAD_LETTER_SUBSCRIPTION}" AND '
                        'metric.type = "pubsub.googleapis.com/subscription/num_undelivered_messages"'
                    ),
                    "comparison": "COMPARISON_GT",
                    "thresholdValue": 0,
                    "duration": "300s",
                    "aggregations": [{"alignmentPeriod": "300s", "perSeriesAligner": "ALIGN_MAX"}],
                },
            }
        ],
    }


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

    from infra.iam import setup_script
    from infra.openapi import openapi_document
    from shared.userdata import manifest_document

    specs = load_all()
    return {
        "firebase.json": dumps(firebase_json(specs)),
        "cloudbuild.yaml": yaml.safe_dump(cloudbuild(specs), sort_keys=False, width=120),
        "infra/pubsub.json": dumps(pubsub_json(specs)),
        "infra/scheduler.json": dumps(scheduler_json(specs)),
        "infra/iam.sh": setup_script(DEAD_LETTER_TOPIC),
        DEAD_LETTER_ALERT_FILE: dumps(dead_letter_alert()),
        "infra/firestore.indexes.json": dumps(firestore_indexes()),
        "docs/openapi.json": dumps(openapi_document(specs)),
        "shared/data/userdata.json": dumps(manifest_document()),
        "shared/data/entry_points.json": dumps(entry_point_modules()),
    }
