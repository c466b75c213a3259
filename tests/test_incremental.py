"""Incremental deploys: a redeploy rebuilds only the functions whose upload, dependencies or
deploy settings changed. The hashes are computed on exactly what `gcloud builds submit` uploads,
the plan runs as the build's `plan` step runs it (the standard library's Python, from the
upload), against the labels a first deploy recorded."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from infra import deploy_check, incremental
from infra.deploy_config import CONTENT_LABEL, REGION
from infra.manifest import FUNCTION_IGNORE_FILE, SUBSTITUTIONS, deploy_script
from shared.registry import areas, load_all
from tests.test_deploy import copy_files, files_for_upload

ROOT = Path(__file__).resolve().parent.parent
VALUES = {"PROJECT_ID": "demo-project", "PROJECT_NUMBER": "123456789012", **SUBSTITUTIONS}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """The build's workspace: the uploaded files, and only those."""
    return copy_files(ROOT, files_for_upload(ROOT), tmp_path / "workspace")


def listing(labels: dict[str, str]) -> list[dict[str, object]]:
    """What `gcloud functions list --format=json` answers once these labels are deployed."""
    return [
        {
            "name": f"projects/demo-project/locations/{REGION}/functions/{name}",
            "environment": "GEN_2",
            "labels": {"deployment-tool": "cli-gcloud", CONTENT_LABEL: label},
        }
        for name, label in labels.items()
    ]


def plan_step(workspace: Path, deployed: list[dict[str, object]], values: dict[str, str]) -> set[str]:
    """The checks step's `hashes`, then the plan step as the build runs it: the functions to deploy."""
    hashes = incremental.content_hashes(workspace, values)
    (workspace / incremental.HASHES_FILE).parent.mkdir(parents=True, exist_ok=True)
    (workspace / incremental.HASHES_FILE).write_text(json.dumps(hashes))
    (workspace / incremental.DEPLOYED_FILE).write_text(json.dumps(deployed))
    # The gcloud image has no project dependencies: the plan runs with a bare interpreter, -I.
    python = shutil.which("python3", path="/usr/bin:/bin") or "python3"
    subprocess.run(
        [python, "-I", "-c", "import sys; sys.path.insert(0, ''); from infra.incremental import main; main(['plan'])"],
        cwd=workspace,
        check=True,
        capture_output=True,
        timeout=60,
    )
    return {p.name for p in (workspace / incremental.PLAN_DIR).iterdir()}


def deploy_labels(workspace: Path) -> dict[str, str]:
    """The labels the deploy steps of the last plan put on their functions."""
    return {p.name: p.read_text().strip() for p in (workspace / incremental.PLAN_DIR).iterdir()}


def test_a_redeploy_rebuilds_nothing_unchanged_and_only_what_a_change_touches(workspace: Path) -> None:
    specs = load_all()
    first = plan_step(workspace, [], VALUES)
    assert first == set(specs)  # a fresh project: every function is built
    recorded = listing(deploy_labels(workspace))

    assert plan_step(workspace, recorded, VALUES) == set()  # nothing changed: nothing is rebuilt

    learning = workspace / "functions" / "paths" / "learning.py"
    learning.write_text(learning.read_text() + "\n# changed\n")
    paths = {name for name, spec in specs.items() if spec.area == "paths"}
    assert paths and plan_step(workspace, recorded, VALUES) == paths  # one area: that area only

    # A deploy setting one area takes reaches that area's functions, and no other.
    chat = {name for name, spec in specs.items() if spec.area == "chat"}
    assert plan_step(workspace, recorded, {**VALUES, "_TUTOR_PROVIDER": "gemini"}) == chat | paths

    # Asked for by name (`_REBUILD`): deployed though unchanged.
    assert incremental.plan({"a": "1", "b": "2"}, {"a": "1", "b": "2"}, "b") == {"b": "2"}
    assert set(incremental.plan({"a": "1", "b": "2"}, {"a": "1", "b": "2"}, "all")) == {"a", "b"}

    collections = workspace / "shared" / "collections.py"
    collections.write_text(collections.read_text() + "\n# changed\n")
    assert plan_step(workspace, recorded, VALUES) == set(specs)  # the shared kernel: every function


def test_the_lock_file_is_in_every_hash(workspace: Path) -> None:
    before = incremental.content_hashes(workspace, VALUES)
    lock = workspace / "requirements.txt"
    lock.write_text(lock.read_text() + "\n")
    after = incremental.content_hashes(workspace, VALUES)
    assert all(before[name] != after[name] for name in before)


def test_the_hashed_files_cover_each_function_upload(workspace: Path, tmp_path: Path) -> None:
    """Every file a function's upload carries is hashed into that function (its area's) or into
    every function (the rest), so no change to an upload can leave its label unchanged."""
    shutil.copy2(workspace / FUNCTION_IGNORE_FILE, workspace / ".gcloudignore")
    uploaded = {f for f in files_for_upload(workspace) if not f.endswith(".pyc")}
    hashed: set[str] = set()
    for area in areas():
        for root in incremental.area_roots(area):
            hashed |= {p.relative_to(workspace).as_posix() for p in incremental._files(workspace, root)}
    assert uploaded == hashed
    assert "requirements.txt" in uploaded and "requirements.in" not in uploaded


def test_an_unchanged_function_deploy_step_calls_no_gcloud(workspace: Path) -> None:
    """The deploy step as the build runs it: without a plan file it ends before any gcloud (none
    is on its PATH here); with one, it deploys labelled with the planned hash."""
    spec = next(s for s in load_all().values() if s.area == "paths")
    script = incremental.substitute(deploy_script(spec), VALUES)
    bare = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    skipped = subprocess.run(["bash", "-c", script], cwd=workspace, env=bare, capture_output=True, text=True)
    assert skipped.returncode == 0 and "unchanged, not rebuilt" in skipped.stdout
    incremental.write_plan(workspace, {spec.name: "0123456789abcdef"})
    calls = deploy_check._record(script, workspace, {}, exists=False)
    assert len(calls) == 1 and calls[0][:3] == ("functions", "deploy", spec.name)
    assert f"--update-labels={CONTENT_LABEL}=0123456789abcdef" in calls[0]


def test_deploy_check_refuses_a_command_gcloud_does_not_parse() -> None:
    refused = deploy_check.parse_commands(
        [("functions", "deploy", "x", "--gen2", "--no-such-flag"), ("pubsub", "topics", "create", "x")]
    )
    assert [o["argv"] for o in refused] == [["functions", "deploy", "x", "--gen2", "--no-such-flag"]]
    assert "unrecognized arguments" in refused[0]["error"]
