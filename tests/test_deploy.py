"""The deploy works the first time: the build's `checks` step passes on exactly what
`gcloud builds submit` uploads, each function's upload serves its entry point, and the
generated build and IAM follow the rules a first deploy trips on."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import cast

import pytest
import yaml

from infra import manifest
from infra.deploy_config import BUILD_PYTHON_IMAGE, REGION
from infra.iam import PUSH, STORAGE_TRIGGER
from shared.registry import load_all

ROOT = Path(__file__).resolve().parent.parent


def files_for_upload(directory: Path) -> list[str]:
    """What gcloud uploads from `directory` under its `.gcloudignore` (gcloud's own reading)."""
    listed = subprocess.run(
        ["gcloud", "meta", "list-files-for-upload", str(directory)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return sorted(line for line in listed.stdout.splitlines() if line.strip())


def copy_files(source: Path, files: list[str], target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for relative in files:
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / relative, target / relative)
    return target


@pytest.fixture(scope="module")
def build_upload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build's workspace: the files `gcloud builds submit` would upload, and only those."""
    return copy_files(ROOT, files_for_upload(ROOT), tmp_path_factory.mktemp("build"))


@pytest.fixture(scope="module")
def function_upload(build_upload: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One function's upload, made from the build's workspace with the function ignore file."""
    staging = copy_files(build_upload, files_for_upload(build_upload), tmp_path_factory.mktemp("staging"))
    shutil.copy2(staging / manifest.FUNCTION_IGNORE_FILE, staging / ".gcloudignore")
    return copy_files(staging, files_for_upload(staging), tmp_path_factory.mktemp("function"))


def test_checks_step_passes_on_the_build_upload(build_upload: Path) -> None:
    step = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())["steps"][0]
    assert step["id"] == "checks"
    script = step["args"][-1]
    assert script.startswith(manifest.INSTALL_COMMAND + " && ")
    check = script.removeprefix(manifest.INSTALL_COMMAND + " && ")
    # The install reads files that are uploaded; the check itself runs here with the same packages.
    for requirement in ("requirements-dev.txt", "requirements.txt", "requirements.in"):
        assert (build_upload / requirement).exists()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for key in ("STUDYHALL_TEST_PROJECT", "PYTHONPATH"):
        env.pop(key, None)
    result = subprocess.run(
        ["bash", "-c", check], cwd=build_upload, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_build_upload_carries_what_the_steps_read_and_no_secret(build_upload: Path) -> None:
    for needed in (
        "docs/openapi.json",
        "firebase.json",
        "infra/firestore.rules",
        "infra/firestore.indexes.json",
        "infra/hosting/index.html",
        manifest.FUNCTION_IGNORE_FILE,
        manifest.DEAD_LETTER_ALERT_FILE,
    ):
        assert (build_upload / needed).exists(), needed
    uploaded = {str(p.relative_to(build_upload)) for p in build_upload.rglob("*")}
    assert not any(p.startswith((".dev", ".venv", ".git/", "tests")) for p in uploaded)


def test_function_upload_serves_every_entry_point_and_nothing_else(function_upload: Path) -> None:
    names = sorted(load_all())
    probe = (
        "import json, sys, main\n"
        "from shared.registry import load_all\n"
        "specs = load_all()\n"
        "for spec in specs.values(): getattr(main, spec.entry_point)\n"
        "from functions.ops.service import SCHEDULER_FILE\n"
        "assert SCHEDULER_FILE.exists()\n"
        "print(json.dumps(sorted(specs)))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["STUDYHALL_ENV"] = "test"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=function_upload, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == names
    for left_out in ("docs", "tests", "bench", "infra/local", "infra/demo", "cloudbuild.yaml"):
        assert not (function_upload / left_out).exists(), left_out


def test_functions_ship_our_bytecode_valid_after_the_upload(build_upload: Path, tmp_path: Path) -> None:
    """The build compiles our modules (hash-checked) and each function's upload carries them:
    after the upload has changed every source's modification time, a cold start still loads
    them from bytecode instead of compiling them; a source that changed is compiled afresh."""
    checks = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())["steps"][0]
    assert manifest.COMPILE_COMMAND in checks["args"][-1]
    minor = int(manifest.RUNTIME.removeprefix("python3"))  # the runtime's Python compiles, and runs here
    assert checks["name"] == BUILD_PYTHON_IMAGE and BUILD_PYTHON_IMAGE.startswith(f"python:3.{minor}.")
    assert sys.version_info[:2] == (3, minor)
    build = copy_files(build_upload, files_for_upload(build_upload), tmp_path / "build")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    subprocess.run(["bash", "-c", manifest.COMPILE_COMMAND], cwd=build, env=env, check=True, timeout=120)
    shutil.copy2(build / manifest.FUNCTION_IGNORE_FILE, build / ".gcloudignore")
    upload = copy_files(build, files_for_upload(build), tmp_path / "function")
    assert (upload / "shared" / "__pycache__" / f"http.{sys.implementation.cache_tag}.pyc").exists()
    assert not (upload / "infra" / "__pycache__").exists()
    for source in upload.rglob("*.py"):
        os.utime(source, (source.stat().st_atime, source.stat().st_mtime + 3600))
    edited = upload / "shared" / "collections.py"
    edited.write_text(edited.read_text() + "\n# edited\n")
    env.pop("PYTHONPATH", None)
    loaded = subprocess.run(
        [sys.executable, "-v", "-c", "import main; main.auth_me"],
        cwd=upload,
        env={**env, "STUDYHALL_ENV": "test", "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    ).stderr
    compiled = [line for line in loaded.splitlines() if line.startswith(f"# code object from {upload}")]
    assert compiled == [f"# code object from {upload}/shared/collections.py"], compiled
    assert f"# code object from '{upload}/shared/__pycache__/http.{sys.implementation.cache_tag}.pyc'" in loaded


def _steps() -> dict[str, dict[str, object]]:
    return {s["id"]: s for s in yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())["steps"]}


def deploy_argv(name: str) -> list[str]:
    """The `gcloud functions deploy` arguments of a function's step in cloudbuild.yaml."""
    script = str(cast(list[str], _steps()[f"deploy-{name}"]["args"])[-1])
    command = next(line for line in script.splitlines() if line.startswith("gcloud functions deploy"))
    return shlex.split(command.replace("$$", "$"))[1:]


def test_firebase_runs_on_node_and_hosting_deploys_after_every_function() -> None:
    steps = _steps()
    deploys = {i for i in steps if i.startswith("deploy-")}
    # Installed from infra/node/package-lock.json (integrity hashes): the pinned firebase-tools.
    node_tools = ["ci", "--prefix", manifest.NODE_TOOLS, "--no-audit", "--no-fund", "--ignore-scripts"]
    assert steps["node-tools"]["args"] == node_tools
    for firebase in ("firestore-rules-and-indexes", "hosting"):
        step = steps[firebase]
        assert str(step["name"]).startswith("node:") and step["entrypoint"] == "node"
        args = step["args"]
        assert isinstance(args, list)
        assert args[0] == manifest.FIREBASE_CLI and "storage" not in " ".join(args)
        assert "node-tools" in cast(list[str], step["waitFor"])
    assert deploys <= set(cast(list[str], steps["hosting"]["waitFor"]))
    assert "storage" not in json.loads((ROOT / "firebase.json").read_text())


def test_deploys_run_in_batches() -> None:
    steps = _steps()
    waits: dict[str, list[str]] = {i: s["waitFor"] for i, s in steps.items() if i.startswith("deploy-")}  # type: ignore[misc]
    # How many deploys may run at once: a deploy starts when what it waits for is done.
    depth: dict[str, int] = {}
    for step_id, wait in waits.items():
        # Only earlier deploys hold a deploy back (checks and a function's own prepare step do not).
        depth[step_id] = max((depth[w] + 1 for w in wait if w in depth), default=0)
    widest = max(list(depth.values()).count(d) for d in set(depth.values()))
    assert widest <= manifest.DEPLOY_BATCH


def test_http_timeouts_fit_hosting_and_auth_gets_a_full_cpu() -> None:
    for spec in load_all().values():
        args = deploy_argv(spec.name)
        timeout = int(next(a for a in args if a.startswith("--timeout="))[10:-1])
        if spec.kind == "http":
            assert timeout <= manifest.HOSTING_TIMEOUT_SECONDS
        if spec.area == "auth":
            assert "--cpu=1" in args
        assert f"--ignore-file={manifest.FUNCTION_IGNORE_FILE}" in args
        if spec.kind == "storage":
            assert f"--trigger-location={REGION}" in args
            assert f"--trigger-service-account={STORAGE_TRIGGER.email}" in args


def test_push_subscriptions_name_the_function_as_audience_and_are_granted() -> None:
    script = str(_steps()["pubsub-scheduler-iam"]["args"][-1])  # type: ignore[index]
    for spec in load_all().values():
        url = f"https://{REGION}-${{PROJECT_ID}}.cloudfunctions.net/{spec.name}"
        if spec.kind == "event":
            assert f"--push-auth-token-audience={url} " in script
            assert f"add-invoker-policy-binding {spec.name} --region={REGION} --member={PUSH.member}" in script
            assert f"subscriptions add-iam-policy-binding {manifest.subscription_name(spec)} " in script
        if spec.kind == "storage":
            assert f"add-invoker-policy-binding {spec.name} --region={REGION} --member={STORAGE_TRIGGER.member}" in (
                script
            )


def test_readiness_can_read_the_topic_it_probes() -> None:
    from infra.iam import READINESS_TOPIC, RUNTIME

    health = (ROOT / "functions" / "health" / "handlers.py").read_text()
    assert f'topic_path("{READINESS_TOPIC}")' in health
    script = str(_steps()["pubsub-scheduler-iam"]["args"][-1])  # type: ignore[index]
    grant = f"topics add-iam-policy-binding {READINESS_TOPIC} --member={RUNTIME.member} --role=roles/pubsub.viewer"
    assert grant in script


def test_iam_setup_is_idempotent_and_names_the_bucket_location() -> None:
    setup = (ROOT / "infra" / "iam.sh").read_text()
    for line in setup.splitlines():
        if " create " in line and not line.startswith("#") and "echo" not in line and "identity create" not in line:
            assert "describe" in line and "||" in line, line  # a second run skips what exists
    assert '--location="$REGION"' in setup
    assert "--role=roles/pubsub.publisher" in setup and "dead-letter" in setup
    for name in ("studyhall-grader", "studyhall-tutor", "studyhall-build", "studyhall-storage-trigger"):
        assert f"service-accounts create {name} " in setup


def test_generated_shell_parses() -> None:
    script = str(_steps()["pubsub-scheduler-iam"]["args"][-1])  # type: ignore[index]
    for text in (script, (ROOT / "infra" / "iam.sh").read_text()):
        assert subprocess.run(["bash", "-n"], input=text, text=True, timeout=30).returncode == 0


# A fresh project (issue 21) ---------------------------------------------------------------------


def _iam_lines() -> list[str]:
    return [line for line in (ROOT / "infra" / "iam.sh").read_text().splitlines() if not line.startswith("#")]


def test_service_agents_are_created_before_they_are_granted() -> None:
    """A project that never used Storage or Pub/Sub has neither agent: granting to a constructed
    email fails and stops the script. The script creates each and grants to what gcloud returned."""
    lines = _iam_lines()
    text = "\n".join(lines)
    assert "gs-project-accounts" not in text and "gcp-sa-pubsub" not in text
    agents = (("gcloud storage service-agent", "STORAGE_AGENT"), ("services identity create", "PUBSUB_AGENT"))
    for created, variable in agents:
        first_use = min(i for i, line in enumerate(lines) if f"${variable}" in line)
        assert any(created in line and line.startswith(f"{variable}=") for line in lines[:first_use])
    enable = next(i for i, line in enumerate(lines) if line.startswith("gcloud services enable"))
    assert enable < min(i for i, line in enumerate(lines) if "service-agent" in line or "identity create" in line)


def test_every_api_the_deployment_uses_is_enabled_and_listed() -> None:
    from infra.deploy_config import APIS

    enable = next(line for line in _iam_lines() if line.startswith("gcloud services enable"))
    readme = (ROOT / "README.md").read_text()
    for api in ("artifactregistry.googleapis.com", "iamcredentials.googleapis.com", "aiplatform.googleapis.com"):
        assert api in APIS
    for api in APIS:
        assert f" {api} " in enable and f"`{api}`" in readme, api


def test_functions_are_built_by_their_own_account_into_their_own_repository() -> None:
    from infra.deploy_config import FUNCTIONS_REPOSITORY
    from infra.iam import BUILD, FUNCTIONS_BUILD

    text = "\n".join(_iam_lines()).replace("$PROJECT_ID", "${PROJECT_ID}")
    repository = f"projects/${{PROJECT_ID}}/locations/{REGION}/repositories/{FUNCTIONS_REPOSITORY}"
    for spec in load_all().values():
        args = deploy_argv(spec.name)
        assert f"--build-service-account={FUNCTIONS_BUILD.resource}" in args
        assert f"--docker-repository={repository}" in args
    assert f"service-accounts create {FUNCTIONS_BUILD.name} " in text
    assert f"repositories create {FUNCTIONS_REPOSITORY} " in text
    writer = f"--member={FUNCTIONS_BUILD.member} --role=roles/artifactregistry.writer"
    assert f"artifacts repositories add-iam-policy-binding {FUNCTIONS_REPOSITORY}" in text and writer in text
    assert f"add-iam-policy-binding {FUNCTIONS_BUILD.email} --member={BUILD.member}" in text


def test_the_build_ends_after_hosting_even_with_every_deploy_at_its_limit() -> None:
    build = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    steps = {s["id"]: s for s in build["steps"]}
    deploys = [s for i, s in steps.items() if i.startswith("deploy-")]
    waves = -(-len(deploys) // manifest.DEPLOY_BATCH)
    step_limit = int(deploys[0]["timeout"].removesuffix("s"))
    assert all(s["timeout"] == f"{step_limit}s" for s in deploys)
    assert int(build["timeout"].removesuffix("s")) >= waves * step_limit + manifest.FIXED_STEPS_TIMEOUT_SECONDS


def test_the_region_is_written_once() -> None:
    """firebase.json's rewrites, every --region/--location of the build and the IAM script: one
    region, from infra/deploy_config.py, and no substitution or variable can set another."""
    regions = re.compile(r"\b(?:us|europe|asia|australia|northamerica|southamerica|me|africa)-[a-z]+\d\b")
    firebase = (ROOT / "firebase.json").read_text()
    build = (ROOT / "cloudbuild.yaml").read_text()
    iam = (ROOT / "infra" / "iam.sh").read_text()
    for text in (firebase, build, iam):
        assert set(regions.findall(text)) == {REGION}
    assert "${_REGION}" not in build and "_REGION:" not in build
    assert "REGION:=" not in iam and f"\nREGION={REGION}\n" in iam
    for rewrite in json.loads(firebase)["hosting"]["rewrites"]:
        assert rewrite["function"]["region"] == REGION


def test_the_tutor_key_is_part_of_every_chat_deploy_when_configured(tmp_path: Path) -> None:
    """Each deploy names the whole set of variables and secrets: the tutor's key is in it, not
    added by hand (the next build would wipe it)."""
    from infra.deploy_check import _record
    from infra.incremental import substitute, write_plan

    chat = next(s for s in load_all().values() if s.area == "chat")
    write_plan(tmp_path, {chat.name: "0123456789abcdef"})
    values = {"PROJECT_ID": "demo-project", **manifest.SUBSTITUTIONS}
    for setting, expected in (("", False), ("secret", True)):
        script = substitute(manifest.deploy_script(chat), {**values, "_TUTOR_API_KEY": setting})
        (call,) = _record(script, tmp_path, {}, exists=False)
        secrets = next(a for a in call if a.startswith("--set-secrets="))
        assert ("STUDYHALL_TUTOR_API_KEY=studyhall-tutor-api-key:latest" in secrets) is expected
        assert "STUDYHALL_JWT_KEYS=studyhall-jwt-keys:latest" in secrets
    assert "add it to the chat functions" not in (ROOT / "README.md").read_text()


def test_least_privilege() -> None:
    from infra.iam import BUILD, GRADER, RUNTIME, TUTOR

    script = str(cast(list[str], _steps()["pubsub-scheduler-iam"]["args"])[-1])
    publishers: dict[str, set[str]] = {}
    for line in script.splitlines():
        match = re.search(r"topics add-iam-policy-binding (\S+) --member=(\S+) --role=roles/pubsub.publisher", line)
        if match:
            publishers.setdefault(match[2], set()).add(match[1])
    assert manifest.DEAD_LETTER_TOPIC not in set().union(*publishers.values())
    assert publishers[GRADER.member] == {"submission.created", "submission.graded"}
    # The tutor asks its own index job to run when a new instance finds no snapshot (docs/chat.md).
    assert publishers[TUTOR.member] == {"chat.message.posted", "jobs.chat-index-rebuild"}
    assert not any(t.startswith("jobs.") for t in publishers[GRADER.member])
    iam = "\n".join(_iam_lines())
    imports = [line for line in iam.splitlines() if '"gs://$IMPORTS_BUCKET" --member=' in line]
    assert imports and all(RUNTIME.name in line for line in imports)
    for role in ("roles/pubsub.admin", "roles/run.admin", "roles/cloudfunctions.admin"):
        assert role not in BUILD.project_roles and role not in iam


def test_build_images_and_tools_are_pinned() -> None:
    node = json.loads((ROOT / "infra" / "node" / "package.json").read_text())
    lock = json.loads((ROOT / "infra" / "node" / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/firebase-tools"]["version"] == node["dependencies"]["firebase-tools"]
    for step in yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())["steps"]:
        assert re.search(r":\d+\.\d+\.\d+-slim$", step["name"]), step["name"]
        assert "npx" not in json.dumps(step) and "firebase-tools@" not in json.dumps(step)


def test_deployed_dependencies_are_locked_with_hashes() -> None:
    """requirements.txt is the lock of requirements.in: every package pinned, each with hashes
    (pip then installs in hash-checking mode: the buildpack, the build's checks, make setup)."""
    lock = (ROOT / "requirements.txt").read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", lock.split("\n", 2)[2] if lock.startswith("#") else lock)
    pinned = {}
    for entry in entries:
        name, _, rest = entry.partition("==")
        assert "--hash=sha256:" in rest, entry[:80]
        pinned[name.strip().lower()] = rest.split()[0]
    for line in (ROOT / "requirements.in").read_text().splitlines():
        requirement = line.split("#")[0].strip()
        if requirement:
            name, _, version = requirement.partition("==")
            assert pinned[re.sub(r"\[.*\]", "", name).lower()] == version, requirement
