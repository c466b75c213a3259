"""The compiled interpreter module, serialised once per (wasmtime version, engine configuration,
machine, interpreter file) so a sandbox run deserialises it in milliseconds instead of compiling
26 MB of WebAssembly (about 7 s).

The first caller compiles under an exclusive file lock, in a child process (the compiler's memory
never stays in the grader); parallel callers wait on the lock and then find the file.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
from importlib.metadata import version
from pathlib import Path

from functions.exercises.sandbox.assets import digest_file
from functions.exercises.sandbox.child import ENGINE_CONFIG

CHILD = Path(__file__).resolve().with_name("child.py")
COMPILE_TIMEOUT_SECONDS = 600

_known: dict[tuple[str, str], Path] = {}
_digests: dict[tuple[str, int, int], str] = {}
_rejected: set[Path] = set()  # shipped modules that did not load here: compiled again in the temp dir
_lock = threading.Lock()


def wasmtime_path() -> str:
    """The directory holding the `wasmtime` package, found without importing it here."""
    spec = importlib.util.find_spec("wasmtime")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("wasmtime is not installed")
    return str(Path(spec.origin).parent.parent)


def _digest(wasm: Path) -> str:
    stat = wasm.stat()
    memo = (str(wasm), stat.st_size, stat.st_mtime_ns)
    recorded = digest_file(wasm)
    if memo not in _digests and recorded.exists():
        checked, _, size = recorded.read_text(encoding="utf-8").strip().partition(" ")
        if size == str(stat.st_size):  # written by assets.fetch once it had checked the file
            _digests[memo] = checked
    if memo not in _digests:
        digest = hashlib.sha256()
        with wasm.open("rb") as data:
            for chunk in iter(lambda: data.read(1 << 20), b""):
                digest.update(chunk)
        _digests[memo] = digest.hexdigest()
    return _digests[memo]


def cache_key(wasm: Path) -> str:
    """The same on every machine of the same architecture (the engine builds for a baseline CPU,
    the interpreter is named by its content): a module compiled at deploy time is found and
    loaded by every instance."""
    material = json.dumps(
        {
            "wasmtime": version("wasmtime"),
            "engine": ENGINE_CONFIG,
            "machine": platform.machine(),
            "wasm": _digest(wasm),
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()[:24]


def default_cache_dir(wasm: Path) -> Path:
    """Next to the interpreter when that is writable (the local stack, the deploy's build step),
    else the temp dir (a deployed function's source is read-only; its /tmp lives as long as the
    instance)."""
    if os.access(wasm.parent, os.W_OK):
        return wasm.parent
    return Path(tempfile.gettempdir()) / "studyhall-sandbox"


def compiled_module(wasm: Path, cache_dir: Path | None = None) -> Path:
    """The serialised module for `wasm`, compiling it first if no process has yet."""
    module = _module(wasm, cache_dir, build=True)
    assert module is not None
    return module


def existing_module(wasm: Path, cache_dir: Path | None = None) -> Path | None:
    """The serialised module for `wasm` if it is already there (shipped or cached); never compiles."""
    return _module(wasm, cache_dir, build=False)


def _module(wasm: Path, cache_dir: Path | None, *, build: bool) -> Path | None:
    directory = cache_dir or default_cache_dir(wasm)
    memo = (str(wasm), str(directory))
    with _lock:
        if memo in _known and _known[memo].exists():
            return _known[memo]
        name = f"python-{cache_key(wasm)}.cwasm"
        shipped = wasm.parent / name
        if cache_dir is None and shipped.exists() and shipped not in _rejected:
            # Compiled by the deploy (read-only beside the interpreter): nothing to build.
            _known[memo] = shipped
            return shipped
        target = directory / name
        if not build and not target.exists():
            return None
        directory.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            with (directory / f"{target.name}.lock").open("w") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                if not target.exists():
                    subprocess.run(
                        [sys.executable, "-I", str(CHILD), "--compile", str(wasm), str(target)],
                        input=json.dumps({"wasmtime_path": wasmtime_path()}).encode(),
                        check=True,
                        timeout=COMPILE_TIMEOUT_SECONDS,
                        env={},
                    )
        _known[memo] = target
        return target


def forget(wasm: Path, cache_dir: Path | None = None) -> None:
    """Drop a cached module that failed to load (another wasmtime build or CPU): it is rebuilt."""
    directory = cache_dir or default_cache_dir(wasm)
    with _lock:
        memo = (str(wasm), str(directory))
        known = _known.pop(memo, None)
        if known is not None and known.parent != directory:
            _rejected.add(known)
        (directory / f"python-{cache_key(wasm)}.cwasm").unlink(missing_ok=True)
