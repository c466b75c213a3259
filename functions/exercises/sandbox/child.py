"""The sandbox child process: runs one submission's tests in CPython compiled to WASI.

Started by `runner.py` as `python -I child.py` with an empty environment; it imports only the
standard library and `wasmtime`, so it is run by path and never imports the platform's code.
Before touching the job it lowers its own resource limits (address space, CPU, file size, open
files, no core dumps). Each test runs in its own wasmtime Store: fuel for CPU, a memory limit,
stdout and stderr captured by capped callbacks, the test's code directory preopened read-only
at /code and a fresh empty directory at /. Expected outputs never come here: the parent
compares. Results go to this process's stdout as lines prefixed by a nonce the guest never
sees (the guest's own stdout goes to a callback, not to this file descriptor).

`python child.py --compile <python.wasm> <out.cwasm>` (stdin: `{"wasmtime_path": ...}`) compiles
and serialises the module with the same engine configuration the runs use (no untrusted code).
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import sys
import time
from typing import Any

# The engine configuration: part of the compiled module's cache key (a serialised module only
# loads into an engine configured the same way). No 4 GiB reservation (it fails under
# RLIMIT_AS): linear memory starts small, grows on demand and may move.
ENGINE_CONFIG: dict[str, Any] = {
    "consume_fuel": True,
    "memory_reservation": 0,
    "memory_guard_size": 0,
    "memory_reservation_for_growth": 1 << 20,
}

# Runs the submission, then the test's code, in one namespace. A SyntaxError exits 2, another
# exception 1 after printing its traceback without this harness's own frame.
HARNESS = r"""
import os, sys
def _fail(exc, skip, status):
    import traceback
    tb = exc.__traceback__
    for _ in range(skip):
        tb = tb.tb_next if tb is not None else None
    sys.stderr.write("".join(traceback.format_exception(type(exc), exc, tb)))
    sys.stdout.flush(); sys.stderr.flush()
    os._exit(status)
def _main():
    ns = {"__name__": "__main__", "__builtins__": __builtins__}
    for name in ("submission.py", "test.py"):
        with open("/code/" + name, encoding="utf-8") as f:
            source = f.read()
        try:
            code = compile(source, name, "exec")
        except (SyntaxError, ValueError) as exc:
            _fail(exc, 99, 2)
        try:
            exec(code, ns)
        except SystemExit:
            raise
        except BaseException as exc:
            _fail(exc, 1, 1)
_main()
del _main, _fail
"""


def _engine() -> Any:
    import wasmtime

    config = wasmtime.Config()
    for key, value in ENGINE_CONFIG.items():
        setattr(config, key, value)
    return wasmtime.Engine(config)


def compile_module(source: str, target: str) -> None:
    import wasmtime

    module = wasmtime.Module.from_file(_engine(), source)
    partial = f"{target}.{os.getpid()}.partial"
    with open(partial, "wb") as out:
        out.write(module.serialize())
    os.replace(partial, target)


def _limit_self(job: dict[str, Any]) -> None:
    mib = 1 << 20
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    address_space = int(job["address_space_mb"]) * mib
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    cpu = int(job["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    file_size = int(job["file_size_mb"]) * mib
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    # Past RLIMIT_FSIZE a write fails with EFBIG inside the guest instead of killing us.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


class _Capped:
    """A stdout/stderr callback that keeps at most `cap` bytes and remembers an overflow. With
    `refuse_overflow`, a write past the cap fails in the guest (EIO): a print loop ends at once
    with what it printed, instead of running on until fuel or the wall clock ends it."""

    def __init__(self, cap: int, *, refuse_overflow: bool = False) -> None:
        self.cap = cap
        self.refuse_overflow = refuse_overflow
        self.parts: list[bytes] = []
        self.size = 0
        self.overflow = False

    def __call__(self, data: bytes) -> int:
        claimed = len(data)
        room = self.cap - self.size
        if len(data) > room:
            self.overflow = True
            data = data[: max(room, 0)]
        if data:
            self.parts.append(data)
            self.size += len(data)
        if self.overflow and self.refuse_overflow:
            return -errno.EIO
        # Claim the whole write (standard error: a traceback's tail is cut, the guest goes on).
        return claimed

    def text(self) -> str:
        return b"".join(self.parts).decode("utf-8", errors="replace")


def _run_test(engine: Any, linker: Any, module: Any, job: dict[str, Any], test: dict[str, Any]) -> dict[str, Any]:
    import wasmtime

    store = wasmtime.Store(engine)
    store.set_limits(memory_size=int(job["memory_mb"]) << 20, instances=1, tables=4, memories=1)
    store.set_fuel(int(job["fuel"]))
    wasi = wasmtime.WasiConfig()
    wasi.argv = ["python", "-I", "-S", "-c", HARNESS]
    wasi.env = []
    stdout = _Capped(int(job["stdout_cap"]), refuse_overflow=True)
    stderr = _Capped(int(job["stderr_cap"]))
    wasi.stdout_custom = stdout
    wasi.stderr_custom = stderr
    wasi.stdin_file = test["stdin_path"]
    wasi.preopen_dir(test["work_dir"], "/")
    wasi.preopen_dir(test["code_dir"], "/code", False)
    store.set_wasi(wasi)
    outcome: dict[str, Any] = {"status": "exit", "exit_code": 0, "trap": None}
    started = time.perf_counter()
    try:
        instance = linker.instantiate(store, module)
        instance.exports(store)["_start"](store)
    except wasmtime.ExitTrap as exc:
        outcome["exit_code"] = exc.code
    except wasmtime.Trap as exc:
        code = exc.trap_code
        outcome.update(status="trap", trap=code.name.lower() if code is not None else "trap")
    except wasmtime.WasmtimeError as exc:
        # Instantiation refused (the memory limit is below what the interpreter needs).
        outcome.update(status="trap", trap="instantiate", detail=str(exc).split("\n")[0][:200])
    elapsed_ms = int((time.perf_counter() - started) * 1000)
    try:
        remaining = store.get_fuel()
    except wasmtime.WasmtimeError:
        remaining = 0
    outcome.update(
        time_ms=elapsed_ms,
        fuel_used=int(job["fuel"]) - int(remaining),
        stdout=stdout.text(),
        stdout_overflow=stdout.overflow,
        stderr=stderr.text()[-8192:],
    )
    return outcome


def run(job: dict[str, Any]) -> None:
    import wasmtime

    nonce = job["nonce"]

    def emit(record: dict[str, Any]) -> None:
        sys.stdout.write(f"{nonce} {json.dumps(record)}\n")
        sys.stdout.flush()

    engine = _engine()
    module = wasmtime.Module.deserialize_file(engine, job["module"])
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    for index, test in enumerate(job["tests"]):
        emit({"index": index, "event": "start"})
        result = _run_test(engine, linker, module, job, test)
        emit({"index": index, "event": "done", **result})
    emit({"event": "finished"})


def main(argv: list[str]) -> int:
    job = json.loads(sys.stdin.read())
    # Where the parent found wasmtime: `-I` and an empty environment drop PYTHONPATH, which a
    # deployed runtime may use for its packages.
    sys.path.append(str(job["wasmtime_path"]))
    if len(argv) == 4 and argv[1] == "--compile":
        compile_module(argv[2], argv[3])
        return 0
    _limit_self(job)
    run(job)
    sys.stdout.flush()
    # Skip interpreter teardown: wasmtime's runtime threads may panic at exit after a trap.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
