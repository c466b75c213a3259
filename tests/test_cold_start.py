"""A function's entry point imports only its own area and the shared core."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.registry import load_all

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
import main
getattr(main, sys.argv[1])
print(json.dumps(sorted(m for m in sys.modules if m.startswith(("functions.", "shared.")))))
"""


def _modules_loaded(entry_point: str) -> list[str]:
    env = {**os.environ, "STUDYHALL_ENV": "test"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, entry_point], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    return list(json.loads(out.strip().splitlines()[-1]))


def _functions_loaded(entry_point: str) -> list[str]:
    return [name for name in _modules_loaded(entry_point) if name.startswith("functions.")]


def _areas_loaded(entry_point: str) -> set[str]:
    return {name.split(".")[1] for name in _functions_loaded(entry_point)}


@pytest.mark.parametrize("name", ["auth-login", "health-live", "progress-on-user-registered"])
def test_entry_point_imports_only_its_area(name: str) -> None:
    spec = load_all()[name]
    assert _areas_loaded(spec.entry_point) == {spec.area}


def test_no_entry_point_loads_another_area() -> None:
    """Areas depend on the shared kernel only: one entry point per area loads that area alone."""
    specs = load_all().values()
    for area in sorted({s.area for s in specs}):
        entry = next(s.entry_point for s in specs if s.area == area)
        loaded = _functions_loaded(entry)
        assert {name.split(".")[1] for name in loaded} == {area}, f"{entry} loads {loaded}"
        assert f"functions.{area}.handlers" in loaded


def test_auth_me_loads_only_its_own_routes() -> None:
    """The most frequent call loads its own handlers module, not the code of sign-in, sessions,
    password recovery or email verification, nor the event machinery (nothing it does publishes)."""
    loaded = _modules_loaded("auth_me")
    auth_modules = {name for name in loaded if name.startswith("functions.auth.")}
    assert auth_modules == {"functions.auth.handlers", "functions.auth.handlers.me"}
    assert not {"shared.events", "shared.event_types", "shared.registration"} & set(loaded)


@pytest.mark.parametrize(
    "table",
    [
        "{}",  # the target is missing
        '{"auth_me": "functions.auth.handlers.gone"}',  # its module was renamed since
        '{"auth_me": "functions.auth.handlers.signin"}',  # it moved to another module
    ],
)
def test_a_stale_generated_table_loads_the_whole_area(table: str) -> None:
    """A stale `shared/data/entry_points.json` costs cold-start time, never a missing function."""
    patch = f"import main, shared.registry as r\nr._declaring_modules = lambda: {table}"
    probe = PROBE.replace("import main", patch)
    out = subprocess.run(
        [sys.executable, "-c", probe, "auth_me"],
        cwd=ROOT,
        env={**os.environ, "STUDYHALL_ENV": "test"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    loaded = set(json.loads(out.strip().splitlines()[-1]))
    assert {f"functions.auth.handlers.{m}" for m in ("me", "account", "signin", "recovery", "verification")} <= loaded
