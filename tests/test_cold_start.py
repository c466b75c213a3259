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
print(json.dumps(sorted(m for m in sys.modules if m.startswith("functions."))))
"""


def _areas_loaded(entry_point: str) -> set[str]:
    env = {**os.environ, "STUDYHALL_ENV": "test"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, entry_point], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    return {name.split(".")[1] for name in json.loads(out.strip().splitlines()[-1])}


@pytest.mark.parametrize("name", ["auth-login", "health-live", "progress-on-user-registered"])
def test_entry_point_imports_only_its_area(name: str) -> None:
    spec = load_all()[name]
    assert _areas_loaded(spec.entry_point) == {spec.area}


def test_every_area_stays_apart() -> None:
    """No area's handlers module imports another area's handlers (service modules may be shared)."""
    for area in {s.area for s in load_all().values()}:
        loaded = _areas_loaded(next(s.entry_point for s in load_all().values() if s.area == area))
        assert area in loaded
        assert all((ROOT / "functions" / other).is_dir() for other in loaded)
