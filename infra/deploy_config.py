"""The deployment's project-level names, in one place.

`firebase.json`, `cloudbuild.yaml` and `infra/iam.sh` are generated from these (and the accounts
of `infra/iam.py`): to move the deployment to another region, change `REGION` and run
`make generate`. Nothing of this is a build substitution or a variable of the IAM script, so the
three cannot disagree. Names that must be unique across Google Cloud (buckets) are derived from
the project id, the one value every tool already knows.
"""

from __future__ import annotations

# Where the functions, the imports bucket (the storage trigger lives in its bucket's location),
# the functions' image repository and the scheduler jobs are.
REGION = "us-central1"

# Buckets, `<project id>-<suffix>`: the build and the IAM script derive the same name.
IMPORTS_BUCKET_SUFFIX = "imports"
AVATARS_BUCKET_SUFFIX = "avatars"
TUTOR_INDEX_BUCKET_SUFFIX = "tutor-index"

# Secret Manager: the signing keys (required) and the tutor's provider key (optional).
JWT_SECRET = "studyhall-jwt-keys"
TUTOR_API_KEY_SECRET = "studyhall-tutor-api-key"

# The Artifact Registry repository the functions' builds push their images to (created by
# infra/iam.sh, so the build account writes to it and nowhere else).
FUNCTIONS_REPOSITORY = "studyhall-functions"

# The label carrying a function's content hash (infra/incremental.py).
CONTENT_LABEL = "studyhall-content"

# Every API the deployment calls, enabled by infra/iam.sh (README "Deploying" lists them).
APIS = (
    "artifactregistry.googleapis.com",  # every 2nd gen build pushes its image here
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "eventarc.googleapis.com",
    "firebase.googleapis.com",
    "firebasehosting.googleapis.com",
    "firebaserules.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",  # firebase-admin signs custom tokens with signBlob
    "aiplatform.googleapis.com",  # the tutor's `gemini` provider
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "serviceusage.googleapis.com",
    "storage.googleapis.com",
)

# Pinned build images and tools: the same on every build. The gcloud image is the release that
# `make deploy-check` parses every command with (the local CLI's version is checked against it).
GCLOUD_VERSION = "528.0.0"
GCLOUD_IMAGE = f"gcr.io/google.com/cloudsdktool/cloud-sdk:{GCLOUD_VERSION}-slim"
# The build's Python: the runtime's version, so the bytecode it compiles is what the runtime loads.
BUILD_PYTHON_IMAGE = "python:3.11.11-slim"
# firebase-tools 15 needs Node 20 or later; its version is infra/node/package-lock.json's.
NODE_IMAGE = "node:22.12.0-slim"


def bucket(project: str, suffix: str) -> str:
    return f"{project}-{suffix}"
