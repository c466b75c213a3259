"""Incremental deploys: a function is rebuilt only when what it would deploy has changed.

As firebase-tools does for its functions, each function's deploy carries a content hash as a
label (`studyhall-content`): the files its code can import (its own area, the shared kernel,
`main.py`, the data files), the locked dependencies (`requirements.txt`, with hashes), and its
deploy step with the build's substitutions applied (flags, environment, secrets, account). The
build runs, in order:

1. `hashes` (the checks step, with the build's substitutions in its environment): one hash per
   function, into `.build/hashes.json`;
2. `plan` (after `gcloud functions list`, whose labels are what is deployed): a file
   `.build/plan/<function>` holding the hash for each function whose label differs;
3. each deploy step: no plan file, nothing to do; else `gcloud functions deploy ... --update-labels`
   with that hash, so a failed deploy leaves the old label and the next build tries again.

Areas never import each other (docs/architecture.md), so an area's files are hashed only into
its own functions; a change in `shared/` reaches every function. The `plan` half imports only
the standard library: it runs on the gcloud image, which has no project dependencies.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

HASHES_FILE = ".build/hashes.json"
DEPLOYED_FILE = ".build/deployed.json"
PLAN_DIR = ".build/plan"
# What every function's upload carries besides the areas (tests/test_incremental.py holds that these
# and the areas' folders cover the upload, so no file of it escapes the hash).
COMMON_ROOTS = (
    "requirements.txt",
    "main.py",
    "functions/__init__.py",
    "shared",
    "infra/__init__.py",
    "infra/scheduler.json",
)
LABEL_LENGTH = 40  # hex digits: label values are at most 63 characters
# Cloud Build's substitutions: `$$` is a literal `$`; `${_X}`, `$_X`, `${PROJECT_ID}` are values.
_SUBSTITUTION = re.compile(
    r"\$\$|\$\{(_[A-Z0-9_]+|PROJECT_ID|PROJECT_NUMBER)\}|\$(_[A-Z0-9_]+|PROJECT_ID|PROJECT_NUMBER)"
)


def substitute(text: str, values: Mapping[str, str]) -> str:
    """`text` as Cloud Build runs it: each substitution replaced by its value, `$$` by `$`."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return "$" if name is None else values.get(name, "")

    return _SUBSTITUTION.sub(value, text)


def _files(root: Path, relative: str) -> Iterable[Path]:
    path = root / relative
    if path.is_file():
        yield path
    elif path.is_dir():
        for found in sorted(path.rglob("*")):
            if found.is_file() and "__pycache__" not in found.parts and found.suffix != ".pyc":
                yield found


def tree_digest(root: Path, roots: Iterable[str]) -> str:
    """One digest of the files under `roots` (paths and contents, in a stable order)."""
    digest = hashlib.sha256()
    for relative in roots:
        for path in _files(root, relative):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def area_roots(area: str) -> tuple[str, ...]:
    return (*COMMON_ROOTS, f"functions/{area}")


def content_hashes(root: Path, values: Mapping[str, str]) -> dict[str, str]:
    """Function name -> the label its deploy carries, for the source tree at `root` and the
    build's substitution `values`."""
    from infra.manifest import deploy_script
    from shared.registry import load_all

    specs = load_all()
    trees = {area: tree_digest(root, area_roots(area)) for area in {s.area for s in specs.values()}}
    hashes = {}
    for name, spec in specs.items():
        step = substitute(deploy_script(spec), values)
        hashes[name] = hashlib.sha256(f"{trees[spec.area]}\n{step}".encode()).hexdigest()[:LABEL_LENGTH]
    return hashes


def deployed_labels(listing: list[dict[str, Any]], label: str) -> dict[str, str]:
    """`gcloud functions list --format=json` -> function name -> its content label (if any)."""
    labels = {}
    for function in listing:
        name = str(function.get("name", "")).rsplit("/", 1)[-1]
        value = (function.get("labels") or {}).get(label)
        if name and value:
            labels[name] = str(value)
    return labels


def plan(hashes: Mapping[str, str], deployed: Mapping[str, str], rebuild: str = "") -> dict[str, str]:
    """The functions to deploy (name -> hash): those whose deployed label differs, or that are
    new, and those `rebuild` names (comma-separated, or `all`: the build's `_REBUILD`)."""
    forced = {n.strip() for n in rebuild.split(",") if n.strip()}
    return {
        name: digest
        for name, digest in sorted(hashes.items())
        if deployed.get(name) != digest or name in forced or "all" in forced
    }


def write_plan(root: Path, todo: Mapping[str, str]) -> None:
    directory = root / PLAN_DIR
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.iterdir():
        stale.unlink()
    for name, digest in todo.items():
        (directory / name).write_text(digest + "\n")


def main(argv: list[str] | None = None) -> int:
    import os

    from infra.deploy_config import CONTENT_LABEL

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("hashes", help=f"write {HASHES_FILE} (substitutions from the environment)")
    planner = sub.add_parser("plan", help=f"read {HASHES_FILE} and {DEPLOYED_FILE}, write {PLAN_DIR}/<function>")
    planner.add_argument("--rebuild", default="", help="functions to deploy anyway (comma-separated, or all)")
    args = parser.parse_args(argv)
    root = Path.cwd()
    if args.command == "hashes":
        hashes = content_hashes(root, os.environ)
        (root / HASHES_FILE).parent.mkdir(parents=True, exist_ok=True)
        (root / HASHES_FILE).write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")
        return 0
    hashes = json.loads((root / HASHES_FILE).read_text())
    deployed = deployed_labels(json.loads((root / DEPLOYED_FILE).read_text() or "[]"), CONTENT_LABEL)
    todo = plan(hashes, deployed, args.rebuild)
    write_plan(root, todo)
    print(f"{len(todo)} of {len(hashes)} functions to deploy: {' '.join(todo) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
