"""`make deploy-check`, offline: every gcloud command of the build and of infra/iam.sh parsed by
the local gcloud, and firebase.json validated against the pinned firebase-tools' schema.

The commands are collected by running each gcloud step's script and infra/iam.sh under bash
with `gcloud` recorded instead of run, twice (as on a fresh project, where every `describe`
fails, and as on a deployed one, where it succeeds) and with each optional setting off and on,
so every branch's commands are seen with their real quoting and variables. Each distinct command
is then executed by gcloud's own CLI in one process, with an empty configuration and no
credentials: a command that parses stops at "no active account" (or, a local one such as
`config set`, succeeds in that throwaway configuration); anything else is a failure.
(The uploads and entry points are `tests/test_deploy.py`, the plan `tests/test_incremental.py`;
`make deploy-check` runs them after this.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from infra.deploy_config import GCLOUD_IMAGE, GCLOUD_VERSION
from infra.incremental import PLAN_DIR, substitute
from infra.manifest import SUBSTITUTIONS, build_dir
from shared.registry import load_all

ROOT = Path(__file__).resolve().parent.parent
FIREBASE_SCHEMA = ROOT / "infra/node/node_modules/firebase-tools/schema/firebase-config.json"
PARSED_BUT_NO_ACCOUNT = "You do not currently have an active account selected"
SAMPLE_PROJECT = {"PROJECT_ID": "demo-project", "PROJECT_NUMBER": "123456789012"}
# The build's substitutions as given by default, and with every optional one set.
SAMPLE_SUBSTITUTIONS = (
    {**SAMPLE_PROJECT, **SUBSTITUTIONS},
    {
        **SAMPLE_PROJECT,
        **SUBSTITUTIONS,
        "_ALERT_CHANNELS": "projects/demo-project/notificationChannels/1",
        "_TUTOR_API_KEY": "secret",
    },
)
_UNIT, _RECORD = "\x1f", "\x1e"
# `gcloud` as the scripts see it while they are read: each call appended to $GCLOUD_RECORD;
# what a script reads from gcloud answered with a plausible value; `describe`/`list` answer as
# on a project where everything exists ($GCLOUD_EXISTS=1) or nothing does.
RECORDER = r"""
gcloud() {
  { printf '%s\x1f' "$@"; printf '\x1e'; } >> "$GCLOUD_RECORD"
  case "$*" in
    "storage service-agent"*) echo service-123456789012@gs-project-accounts.iam.gserviceaccount.com ;;
    "beta services identity create"*) echo service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com ;;
    "functions list"*) echo '[]' ;;
    *" describe "*|*" list "*) [ "$GCLOUD_EXISTS" = 1 ] || return 1; echo exists ;;
  esac
}
python3() { :; }
"""


def _record(script: str, workdir: Path, env: Mapping[str, str], exists: bool) -> list[tuple[str, ...]]:
    record = workdir / "gcloud-calls"
    record.write_text("")
    run_env = {**os.environ, **env, "GCLOUD_RECORD": str(record), "GCLOUD_EXISTS": "1" if exists else "0"}
    result = subprocess.run(
        ["bash", "-c", RECORDER + script], cwd=workdir, env=run_env, capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0:
        raise RuntimeError(f"script failed while recording its gcloud calls:\n{result.stderr[-1500:]}\n{script[:400]}")
    calls = record.read_text().split(_RECORD)
    return [tuple(call.split(_UNIT)[:-1]) for call in calls if call]


def gcloud_scripts(values: Mapping[str, str]) -> list[str]:
    """Every gcloud step of cloudbuild.yaml as the shell it runs, with `values` substituted."""
    scripts = []
    for step in yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())["steps"]:
        if step["name"] != GCLOUD_IMAGE:
            continue
        if step["entrypoint"] == "gcloud":
            scripts.append(" ".join(["gcloud", *(f"'{a}'" for a in step["args"])]))
        else:
            assert step["entrypoint"] == "bash" and step["args"][0] == "-c", step["id"]
            scripts.append(step["args"][-1])
    return [substitute(script, values) for script in scripts]


def collect_commands() -> list[tuple[str, ...]]:
    """The distinct gcloud commands of the build and of infra/iam.sh, every branch taken."""
    commands: set[tuple[str, ...]] = set()
    iam_script = (ROOT / "infra" / "iam.sh").read_text()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for spec in load_all().values():  # every function planned: every deploy runs
            (workdir / PLAN_DIR).mkdir(parents=True, exist_ok=True)
            (workdir / PLAN_DIR / spec.name).write_text("0123456789abcdef\n")
        for exists in (False, True):
            for values in SAMPLE_SUBSTITUTIONS:
                for script in gcloud_scripts(values):
                    commands.update(_record(script, workdir, {}, exists))
            commands.update(_record(iam_script, workdir, {"PROJECT_ID": SAMPLE_PROJECT["PROJECT_ID"]}, exists))
    return sorted(commands)


def shape(command: Iterable[str]) -> tuple[str, ...]:
    """A command's shape: its command words and the names of its flags."""
    words: list[str] = []
    for word in command:
        words.append(word.split("=", 1)[0] if word.startswith("--") else ("ARG" if words else word))
    return tuple(words)


def _gcloud_info() -> dict[str, Any]:
    info = subprocess.run(
        ["gcloud", "info", "--format=json"], capture_output=True, text=True, check=True, timeout=60, env=_offline_env()
    )
    return dict(json.loads(info.stdout))


_CONFIG_DIR = tempfile.mkdtemp(prefix="deploy-check-gcloud-")


def _offline_env() -> dict[str, str]:
    """No account, no credentials, an empty configuration of our own, nothing phoned home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDSDK_", "GOOGLE_"))}
    env.update(
        {
            "CLOUDSDK_CONFIG": _CONFIG_DIR,
            "CLOUDSDK_CORE_PROJECT": SAMPLE_PROJECT["PROJECT_ID"],
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
            "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
        }
    )
    return env


def parse_commands(commands: list[tuple[str, ...]]) -> list[dict[str, Any]]:
    """Each command executed by gcloud's CLI (no credentials): the ones that did not stop at
    "no active account", with gcloud's error."""
    info = _gcloud_info()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        # Paths the commands name (sources, ignore and policy files) resolve as in the build.
        for entry in ROOT.iterdir():
            if entry.name not in (".build", ".git"):
                (workdir / entry.name).symlink_to(entry)
        for spec in load_all().values():
            if spec.prepare:
                (workdir / build_dir(spec)).mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [
                info["basic"]["python_location"],
                str(ROOT / "infra" / "gcloud_parse.py"),
                f"{info['installation']['sdk_root']}/lib",
            ],
            input=json.dumps([list(c) for c in commands]),
            cwd=workdir,
            env=_offline_env(),
            capture_output=True,
            text=True,
            timeout=280,
        )
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    outcomes: list[dict[str, Any]] = json.loads(result.stdout)
    # Exit 0: a local command that needs no account (`config set`, in our own empty configuration).
    return [o for o in outcomes if not (o["code"] == 0 or (o["code"] == 1 and PARSED_BUT_NO_ACCOUNT in o["error"]))]


def firebase_schema() -> dict[str, Any]:
    """firebase-tools' schema of firebase.json, with definition names made valid URI fragments
    (it names one `Record<string,string>`, which a strict validator refuses as a `$ref`)."""
    schema: dict[str, Any] = json.loads(FIREBASE_SCHEMA.read_text())
    names = {name: re.sub(r"[^A-Za-z0-9_.-]", "_", name) for name in schema["definitions"]}

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/definitions/"):
                node = {**node, "$ref": "#/definitions/" + names[ref.removeprefix("#/definitions/")]}
            return {k: fix(v) for k, v in node.items()}
        return [fix(v) for v in node] if isinstance(node, list) else node

    fixed: dict[str, Any] = fix(schema)
    fixed["definitions"] = {names[k]: v for k, v in fixed["definitions"].items()}
    return fixed


def firebase_json_errors(document: Any) -> list[str]:
    import jsonschema_rs

    validator = jsonschema_rs.Draft7Validator(firebase_schema())
    return [f"{error.instance_path}: {error.message[:300]}" for error in validator.iter_errors(document)]


def main() -> int:
    failures = 0
    commands = collect_commands()
    local_version = _gcloud_info()["basic"]["version"]
    if local_version != GCLOUD_VERSION:
        print(f"note: local gcloud {local_version}, the build's image {GCLOUD_VERSION} (infra/deploy_config.py)")
    refused = parse_commands(commands)
    for outcome in refused:
        failures += 1
        print(f"gcloud refuses: gcloud {' '.join(outcome['argv'])}\n  {outcome['error'].strip()[:600]}")
    shapes = {shape(c) for c in commands}
    print(
        f"gcloud {local_version}: {len(commands) - len(refused)} of {len(commands)} distinct commands "
        f"({len(shapes)} shapes) parse, each stopping at 'no active account'"
    )
    errors = firebase_json_errors(json.loads((ROOT / "firebase.json").read_text()))
    version = json.loads((FIREBASE_SCHEMA.parent.parent / "package.json").read_text())["version"]
    for error in errors:
        failures += 1
        print(f"firebase.json: {error}")
    print(f"firebase.json {'valid' if not errors else 'INVALID'} against firebase-tools {version}'s schema")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
