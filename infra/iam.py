"""Identity and access, least privilege, one service account per concern, derived from the registry.

Two halves, both idempotent (a grant that exists is granted again at no cost, a create that
exists is skipped):

- `infra/iam.sh` (generated): run once per project by an owner before the first build, and
  again whenever a service account is added. It creates the service accounts, the imports bucket
  in the functions' region, the dead-letter topic, and the grants that name no function.
- `resource_grants()`: the grants on things the build itself creates (each event function, each
  subscription, each topic). They run in the build's last step, after the functions exist.

A function runs as `studyhall-functions` unless its FunctionSpec names another account
(`service_account`, e.g. the grader's or the tutor's own).
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.deploy_config import (
    APIS,
    AVATARS_BUCKET_SUFFIX,
    FUNCTIONS_REPOSITORY,
    IMPORTS_BUCKET_SUFFIX,
    JWT_SECRET,
    REGION,
    TUTOR_API_KEY_SECRET,
    TUTOR_INDEX_BUCKET_SUFFIX,
)
from shared.registry import FunctionSpec

SA_DOMAIN = "${PROJECT_ID}.iam.gserviceaccount.com"


@dataclass(frozen=True)
class ServiceAccount:
    name: str
    concern: str
    # Project-level roles; anything narrower is granted on its resource below.
    project_roles: tuple[str, ...] = ()

    @property
    def email(self) -> str:
        return f"{self.name}@{SA_DOMAIN}"

    @property
    def member(self) -> str:
        return f"serviceAccount:{self.email}"

    @property
    def resource(self) -> str:
        """The account as `--service-account`/`--build-service-account` of a build or deploy take it."""
        return f"projects/${{PROJECT_ID}}/serviceAccounts/{self.email}"


# What every function's code needs: Firestore documents (no finer grant exists for them).
# Publishing (per topic), the buckets and the signing key are granted on the resource.
_RUNTIME_ROLES = ("roles/datastore.user",)

RUNTIME = ServiceAccount("studyhall-functions", "runs the functions", _RUNTIME_ROLES)
GRADER = ServiceAccount("studyhall-grader", "runs the grader's functions", _RUNTIME_ROLES)
TUTOR = ServiceAccount("studyhall-tutor", "runs the tutor's functions", (*_RUNTIME_ROLES, "roles/aiplatform.user"))
PUSH = ServiceAccount("studyhall-pubsub-push", "signs Pub/Sub push deliveries to the event functions")
STORAGE_TRIGGER = ServiceAccount(
    "studyhall-storage-trigger", "delivers the imports bucket's events", ("roles/eventarc.eventReceiver",)
)
# Builds each function's image (`--build-service-account`). Without it Cloud Build falls back to
# the default compute account, which has no roles in organisations created since May 2024.
FUNCTIONS_BUILD = ServiceAccount(
    "studyhall-functions-build",
    "builds the functions' images",
    (
        "roles/logging.logWriter",  # the image build's logs
        # The function's uploaded source, in the gcf-v2-sources bucket the first deploy creates.
        "roles/storage.objectViewer",
    ),
)
# The custom role of the build's IAM grants: reading and setting the policy of functions, Cloud
# Run services, topics and subscriptions, and nothing else of their admin roles (no delete).
IAM_BINDER_ROLE = "studyhallIamBinder"
IAM_BINDER_PERMISSIONS = (
    "cloudfunctions.functions.getIamPolicy",
    "cloudfunctions.functions.setIamPolicy",
    "run.services.getIamPolicy",
    "run.services.setIamPolicy",
    "pubsub.topics.getIamPolicy",
    "pubsub.topics.setIamPolicy",
    "pubsub.subscriptions.getIamPolicy",
    "pubsub.subscriptions.setIamPolicy",
)
BUILD = ServiceAccount(
    "studyhall-build",
    "runs cloudbuild.yaml",
    (
        "roles/cloudfunctions.developer",  # deploy and describe functions (no IAM policy)
        f"projects/${{PROJECT_ID}}/roles/{IAM_BINDER_ROLE}",  # invokers, publishers, subscribers
        "roles/pubsub.editor",  # create and update topics and subscriptions (no IAM policy)
        "roles/cloudscheduler.admin",
        "roles/firebasehosting.admin",
        "roles/firebaserules.admin",
        "roles/datastore.indexAdmin",
        "roles/serviceusage.serviceUsageConsumer",  # firebase-tools checks the APIs it uses
        "roles/logging.logWriter",  # the build's own logs (CLOUD_LOGGING_ONLY)
        "roles/storage.objectViewer",  # the uploaded build source
        "roles/monitoring.alertPolicyEditor",  # the dead-letter alert
    ),
)
# Runtime accounts: who may run a function.
RUNTIME_ACCOUNTS = (RUNTIME, GRADER, TUTOR)
ACCOUNTS = (RUNTIME, GRADER, TUTOR, PUSH, STORAGE_TRIGGER, FUNCTIONS_BUILD, BUILD)

# Google-managed service agents. A fresh project may not have them yet: infra/iam.sh creates
# each (`gcloud storage service-agent`, `gcloud beta services identity create`) before granting.
PUBSUB_AGENT = "serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"

# Areas whose every function runs as the area's own account.
AREA_ACCOUNTS = {"chat": TUTOR}

SECRET = JWT_SECRET
# `GET /health/ready` reads this topic's metadata (functions/health): publisher alone cannot.
READINESS_TOPIC = "user.registered"


def runtime_account(spec: FunctionSpec) -> ServiceAccount:
    """The account a function runs as: its spec's `service_account` (a name of ACCOUNTS), else the default."""
    wanted = getattr(spec, "service_account", None)
    if not wanted:
        return AREA_ACCOUNTS.get(spec.area, RUNTIME)
    for account in RUNTIME_ACCOUNTS:
        if wanted in (account.name, account.email):
            return account
    raise ValueError(f"{spec.name}: unknown service account {wanted!r}; add it to infra/iam.py")


def publishers(specs: dict[str, FunctionSpec], topic: str) -> list[ServiceAccount]:
    """Who may publish to `topic`. The default account publishes every topic but the dead-letter
    one (its `ops-flush-outbox` sends any parked event, `ops-run-job` any job); another runtime
    account only the topics its own areas' code declares (a publish it lacks the grant for is
    parked in the outbox and sent by the flush)."""
    from shared.registry import publishing_areas

    areas = set(publishing_areas(topic))
    own = {runtime_account(s) for s in specs.values() if s.area in areas}
    return [RUNTIME, *sorted(own - {RUNTIME}, key=lambda a: a.name)]


def _bucket(variable: str, suffix: str, members: tuple[str, ...], public_read: bool = False) -> list[str]:
    lines = [
        f'{variable}="$PROJECT_ID-{suffix}"',
        f'gcloud storage buckets describe "gs://${variable}" >/dev/null 2>&1 || '
        f'gcloud storage buckets create "gs://${variable}" --location="$REGION" --uniform-bucket-level-access',
    ]
    for member in members:
        lines.append(
            f'quiet gcloud storage buckets add-iam-policy-binding "gs://${variable}" --member={member} '
            "--role=roles/storage.objectAdmin"
        )
    if public_read:
        lines.append(
            f'quiet gcloud storage buckets add-iam-policy-binding "gs://${variable}" --member=allUsers '
            "--role=roles/storage.legacyObjectReader"
        )
    return lines


def _secret(name: str, readers: tuple[ServiceAccount, ...]) -> list[str]:
    lines = [
        f"gcloud secrets describe {name} >/dev/null 2>&1 || "
        f"gcloud secrets create {name} --replication-policy=automatic >/dev/null"
    ]
    for account in readers:
        lines.append(
            f"quiet gcloud secrets add-iam-policy-binding {name} --member={account.member} "
            "--role=roles/secretmanager.secretAccessor"
        )
    return lines


def setup_script(dead_letter_topic: str) -> str:
    """infra/iam.sh: what an owner runs once (and after adding an account), idempotently."""
    binder_permissions = ",".join(IAM_BINDER_PERMISSIONS)
    lines = [
        "#!/usr/bin/env bash",
        "# Generated by `make generate` from infra/iam.py and infra/deploy_config.py: do not edit.",
        "# One-time project setup, idempotent: APIs, service agents, service accounts, buckets, secrets,",
        "# the image repository and the grants that name no function. Run as a project owner, before",
        "# the first `gcloud builds submit`:  PROJECT_ID=my-project bash infra/iam.sh",
        f"# The region ({REGION}) and every name come from infra/deploy_config.py.",
        "set -euo pipefail",
        ': "${PROJECT_ID:?set PROJECT_ID}"',
        f"REGION={REGION}",
        'gcloud config set project "$PROJECT_ID" >/dev/null',
        'quiet() { "$@" --quiet >/dev/null; }',
        "",
        "# Every API the build and the functions call (Artifact Registry: each function's image).",
        f'gcloud services enable {" ".join(APIS)} --project="$PROJECT_ID"',
        "# Service agents that a fresh project creates only on first use: create them before any grant.",
        'STORAGE_AGENT="$(gcloud storage service-agent --project="$PROJECT_ID")"',
        'PUBSUB_AGENT="$(gcloud beta services identity create --service=pubsub.googleapis.com '
        '--project="$PROJECT_ID" --format="value(email)")"',
        "",
        "# Service accounts, one per concern.",
    ]
    for account in ACCOUNTS:
        lines.append(
            f"gcloud iam service-accounts describe {account.email} >/dev/null 2>&1 || "
            f'gcloud iam service-accounts create {account.name} --display-name="Studyhall: {account.concern}"'
        )
    lines += [
        "# The build's IAM grants on what it creates, without the admin roles around them.",
        f'gcloud iam roles describe {IAM_BINDER_ROLE} --project="$PROJECT_ID" >/dev/null 2>&1 && '
        f'quiet gcloud iam roles update {IAM_BINDER_ROLE} --project="$PROJECT_ID" '
        f"--permissions={binder_permissions} || "
        f'quiet gcloud iam roles create {IAM_BINDER_ROLE} --project="$PROJECT_ID" '
        f'--title="Studyhall: IAM grants of the build" --permissions={binder_permissions}',
        "",
        "# Project-level roles (only where no narrower resource exists).",
    ]
    for account in ACCOUNTS:
        for role in account.project_roles:
            lines.append(
                f'quiet gcloud projects add-iam-policy-binding "$PROJECT_ID" --member={account.member} --role={role} '
                "--condition=None"
            )
    lines += [
        "# The Cloud Storage service agent publishes the bucket's events for Eventarc.",
        'quiet gcloud projects add-iam-policy-binding "$PROJECT_ID" --member="serviceAccount:$STORAGE_AGENT" '
        "--role=roles/pubsub.publisher --condition=None",
        "",
        "# The functions' images: the function build account writes to this repository only.",
        f'gcloud artifacts repositories describe {FUNCTIONS_REPOSITORY} --location="$REGION" >/dev/null 2>&1 || '
        f'gcloud artifacts repositories create {FUNCTIONS_REPOSITORY} --repository-format=docker --location="$REGION"',
        f'quiet gcloud artifacts repositories add-iam-policy-binding {FUNCTIONS_REPOSITORY} --location="$REGION" '
        f"--member={FUNCTIONS_BUILD.member} --role=roles/artifactregistry.writer",
        "",
        "# Buckets, in the functions' region (the storage trigger lives in its bucket's location).",
        "# Imports: only the default account's functions (the import API and the trigger) touch it.",
        *_bucket("IMPORTS_BUCKET", IMPORTS_BUCKET_SUFFIX, (RUNTIME.member,)),
        "# Avatars (users-avatar): readable by name, not listable; written by the default account.",
        *_bucket("AVATARS_BUCKET", AVATARS_BUCKET_SUFFIX, (RUNTIME.member,), public_read=True),
        "# The tutor's shared retrieval index.",
        *_bucket("TUTOR_INDEX_BUCKET", TUTOR_INDEX_BUCKET_SUFFIX, (TUTOR.member,)),
        "# The tutor signs Firebase custom tokens as itself (IAM Credentials signBlob).",
        f"quiet gcloud iam service-accounts add-iam-policy-binding {TUTOR.email} --member={TUTOR.member} "
        "--role=roles/iam.serviceAccountTokenCreator",
        "# Sign-outs (auth and users functions) revoke the user's Firebase refresh tokens (shared/firebase.py).",
        f'quiet gcloud projects add-iam-policy-binding "$PROJECT_ID" --member={RUNTIME.member} '
        "--role=roles/firebaseauth.admin --condition=None",
        "",
        "# Secrets: the signing keys, read by the runtime accounts; the tutor's provider key, by the",
        "# tutor. Created empty when missing: add a version before the first build (docs/deploy.md).",
        *_secret(JWT_SECRET, RUNTIME_ACCOUNTS),
        *_secret(TUTOR_API_KEY_SECRET, (TUTOR,)),
        f"quiet gcloud secrets add-iam-policy-binding {JWT_SECRET} --member={BUILD.member} "
        "--role=roles/secretmanager.viewer",
        f"quiet gcloud secrets add-iam-policy-binding {TUTOR_API_KEY_SECRET} --member={BUILD.member} "
        "--role=roles/secretmanager.viewer",
        "",
        "# The build deploys functions that run, build, push and trigger as these accounts.",
    ]
    for account in (*RUNTIME_ACCOUNTS, FUNCTIONS_BUILD, PUSH, STORAGE_TRIGGER):
        lines.append(
            f"quiet gcloud iam service-accounts add-iam-policy-binding {account.email} "
            f"--member={BUILD.member} --role=roles/iam.serviceAccountUser"
        )
    lines += [
        "# Pub/Sub signs push tokens as the push account (projects older than April 2021 need it).",
        f"quiet gcloud iam service-accounts add-iam-policy-binding {PUSH.email} "
        '--member="serviceAccount:$PUBSUB_AGENT" --role=roles/iam.serviceAccountTokenCreator',
        "",
        "# Dead letters: the Pub/Sub service agent forwards undeliverable messages to this topic.",
        f"gcloud pubsub topics describe {dead_letter_topic} >/dev/null 2>&1 || "
        f"gcloud pubsub topics create {dead_letter_topic} --message-retention-duration=31d",
        f"quiet gcloud pubsub topics add-iam-policy-binding {dead_letter_topic} "
        '--member="serviceAccount:$PUBSUB_AGENT" --role=roles/pubsub.publisher',
        f"gcloud secrets versions describe latest --secret={JWT_SECRET} >/dev/null 2>&1 || "
        f'echo "Add the signing keys before the first build: docs/deploy.md (secret {JWT_SECRET})."',
        'echo "IAM ready. Build with: gcloud builds submit --config cloudbuild.yaml '
        "--service-account=projects/$PROJECT_ID/serviceAccounts/"
        f'{BUILD.name}@$PROJECT_ID.iam.gserviceaccount.com"',
    ]
    return "\n".join(lines).replace("${PROJECT_ID}", "$PROJECT_ID") + "\n"


def resource_grants(
    specs: dict[str, FunctionSpec], subscriptions: list[dict[str, object]], topics: list[str]
) -> list[str]:
    """Grants on what the build creates; run after the deploys and the subscriptions (build step).

    The push account may invoke each event function and nothing else; the storage trigger's account
    its storage function; the Pub/Sub service agent may pull from each source subscription (or it
    cannot dead-letter); the runtime accounts may publish to each topic."""
    from infra.manifest import DEAD_LETTER_TOPIC as dead_letter_topic

    quiet = "--quiet >/dev/null"
    lines: list[str] = []
    for spec in specs.values():
        invoker = {"event": PUSH, "storage": STORAGE_TRIGGER}.get(spec.kind)
        if invoker is not None:
            lines.append(
                f"gcloud functions add-invoker-policy-binding {spec.name} --region={REGION} "
                f"--member={invoker.member} {quiet}"
            )
    for sub in subscriptions:
        if sub.get("dead_letter_topic"):
            lines.append(
                f"gcloud pubsub subscriptions add-iam-policy-binding {sub['name']} --member={PUBSUB_AGENT} "
                f"--role=roles/pubsub.subscriber {quiet}"
            )
    for topic in topics:
        if topic == dead_letter_topic:
            continue  # only the Pub/Sub service agent publishes there (infra/iam.sh)
        for account in publishers(specs, topic):
            lines.append(
                f"gcloud pubsub topics add-iam-policy-binding {topic} --member={account.member} "
                f"--role=roles/pubsub.publisher {quiet}"
            )
    if READINESS_TOPIC in topics:
        lines.append(
            f"gcloud pubsub topics add-iam-policy-binding {READINESS_TOPIC} --member={RUNTIME.member} "
            f"--role=roles/pubsub.viewer {quiet}"
        )
    return lines
