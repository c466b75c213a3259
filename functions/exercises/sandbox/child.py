"""The sandbox child process: runs one submission's tests in CPython compiled to WASI.

Started by `runner.py` as `python -I child.py` with an empty environment; it imports only the
standard library and `wasmtime`, so it is run by path and never imports the platform's code.
Before touching the job it lowers its own resource limits (data size, CPU, file size, open
files, no core dumps). Each run (one test, or several tests combined) has its own wasmtime Store:
memory capped by the store's limits, CPU by a watchdog thread on this thread's CPU clock, disk by
a guard around the WASI calls that create or write files, stdout and stderr captured by capped
callbacks, the run's code directory preopened read-only at /code and a fresh empty directory at
/. Expected outputs never come here: the parent compares. Results go to this process's stdout as
lines prefixed by a nonce the guest never sees (the guest's own stdout goes to a callback, not to
this file descriptor).

`python child.py --compile <python.wasm> <out.cwasm>` (stdin: `{"wasmtime_path": ...}`) compiles
and serialises the module with the same engine configuration the runs use (no untrusted code).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import platform
import resource
import signal
import stat
import sys
import threading
import time
from pathlib import Path
from typing import Any

# The engine configuration: part of the compiled module's cache key (a serialised module only
# loads into an engine configured the same way). wasmtime's defaults otherwise: each memory is a
# 4 GiB reservation behind guard pages, so no memory access pays a bounds check, and no fuel or
# epoch check is compiled in (CPU is watched from outside, below). The target triple without CPU
# features builds for a baseline CPU: a module compiled at deploy time loads on every instance.
ENGINE_CONFIG: dict[str, Any] = {"target": f"{platform.machine()}-unknown-linux-gnu"}

WASI = "wasi_snapshot_preview1"
# WASI errno values the guard answers with (wasi_snapshot_preview1's numbering).
WASI_DQUOT = 19
WATCH_INTERVAL = 0.002

# Runs the submission, then each test's code, in one namespace. A SyntaxError exits 2, another
# exception 1 after printing its traceback without this harness's own frame. Everything the
# harness itself uses is taken before the submission runs, and builtins and sys's streams and
# hooks are put back before each test: what the submission rebinds changes nothing of how the
# tests run or how their output is reported. Marks written straight to fd 1 tell the host where
# the guest's own code starts (its CPU time counts from there) and where each test ends; a guest
# that forges one only garbles its own output.
HARNESS = r"""
def _harness():
    import builtins, io, os, sys
    mark, count = sys.argv[1].encode(), int(sys.argv[2])
    _exec, _compile, _open, _write, _exit = exec, compile, open, os.write, os._exit
    _isinstance, _int, _type, _BaseException, _SystemExit = isinstance, int, type, BaseException, SystemExit
    _Text, _Bytes, _FileIO, _flush = io.TextIOWrapper, io.BytesIO, io.FileIO, io.TextIOWrapper.flush
    _builtins = dict(builtins.__dict__)
    _original = builtins.__dict__
    _stdin, _stderr, _vars = sys.stdin, sys.stderr, vars
    _stdin_state = dict(_vars(_stdin))
    _hooks = (sys.displayhook, sys.excepthook, sys.settrace, sys.setprofile)
    _limit = sys.getrecursionlimit()

    def read(name):
        with _open("/code/" + name, encoding="utf-8") as f:
            return f.read()

    def stdout():
        return _Text(_FileIO(1, "w", closefd=False), encoding="utf-8", errors="backslashreplace")

    out = sys.stdout

    def finish(status):
        try:
            _flush(out)
        except _BaseException:
            pass
        _exit(status)

    def fail(exc, skip, status):
        tb = exc.__traceback__
        for _ in range(skip):
            tb = tb.tb_next if tb is not None else None
        try:
            import traceback  # only now: importing it costs more than the interpreter's start
            _write(2, "".join(traceback.format_exception(_type(exc), exc, tb)).encode("utf-8", "replace"))
        except _BaseException:
            # No memory left to format it (a MemoryError): the exception's name still says why.
            _write(2, b"\n" + _type(exc).__name__.encode() + b"\n")
        finish(status)

    sources = [("submission.py", read("submission.py"))] + [("test.py", read(f"test-{k}.py")) for k in range(count)]
    stdins = [read(f"stdin-{k}") for k in range(count)] if count > 1 else None
    compiled = []
    for name, source in sources:
        try:
            compiled.append(_compile(source, name, "exec"))
        except (SyntaxError, ValueError) as exc:
            fail(exc, 99, 2)
    ns = {"__name__": "__main__", "__builtins__": builtins}
    _write(1, mark + b"R")
    for index, code in enumerate(compiled):
        if index:
            try:
                _flush(out)  # what the submission printed, through the stream it started with
            except _BaseException as exc:
                fail(exc, 0, 1)
            for name in [n for n in _original if n not in _builtins]:
                del _original[name]
            _original.update(_builtins)
            sys.displayhook, sys.excepthook = _hooks[0], _hooks[1]
            _hooks[2](None)
            _hooks[3](None)
            sys.setrecursionlimit(_limit)
            out = stdout()
            sys.stdout, sys.stderr = out, _stderr
            if stdins:
                sys.stdin = _Text(_Bytes(stdins[index - 1].encode()), encoding="utf-8")
            else:
                state = _vars(_stdin)
                state.clear()
                state.update(_stdin_state)
                sys.stdin = _stdin
        try:
            _exec(code, ns)
        except _SystemExit as exc:
            code = exc.code
            finish(code if _isinstance(code, _int) else (0 if code is None else 1))
        except _BaseException as exc:
            fail(exc, 1, 1)
        if index:
            try:
                _flush(out)
            except _BaseException as exc:
                fail(exc, 0, 1)
            _write(1, mark + b"T")
    finish(0)
_harness()
"""

# guard.wat wraps the WASI calls that create entries or write files. The guard's checks are host
# functions (`guard.*`, in Python); the real WASI call is made there, inside the instance's calls,
# because WASI reads the caller's exported memory (the interpreter's, imported as env.memory and
# exported again here). Counted: bytes written to files the guest opened, entries it created.
GUARD_WAT = Path(__file__).with_name("guard.wat")
GUARDED = (
    "fd_write",
    "fd_pwrite",
    "fd_allocate",
    "path_open",
    "path_create_directory",
    "path_symlink",
    "path_link",
    "fd_close",
    "fd_renumber",
)


def _leb(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def _uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def import_memory(wasm: bytes) -> bytes:
    """The same module with its one memory imported as env.memory instead of defined: the guard
    module then exports it, so the WASI calls it makes see the interpreter's memory."""
    sections: list[tuple[int, bytes]] = []
    at = 8
    while at < len(wasm):
        size, start = _leb(wasm, at + 1)
        sections.append((wasm[at], wasm[start : start + size]))
        at = start + size
    memory = next((body for sid, body in sections if sid == 5), None)
    if memory is None:
        return wasm  # no memory of its own (nothing to guard)
    count, at = _leb(memory, 0)
    if count != 1:
        raise ValueError("expected exactly one memory")
    limits = memory[at:]
    out = bytearray(wasm[:8])
    for sid, body in sections:
        if sid == 5:
            continue
        if sid == 2:
            count, at = _leb(body, 0)
            entry = _uleb(3) + b"env" + _uleb(6) + b"memory" + b"\x02" + limits
            body = _uleb(count + 1) + body[at:] + entry
        out += bytes([sid]) + _uleb(len(body)) + body
    return bytes(out)


def _engine() -> Any:
    import wasmtime

    config = wasmtime.Config()
    for key, value in ENGINE_CONFIG.items():
        setattr(config, key, value)
    return wasmtime.Engine(config)


def compile_module(source: str, target: str) -> None:
    import wasmtime

    with open(source, "rb") as wasm:
        module = wasmtime.Module(_engine(), import_memory(wasm.read()))
    partial = f"{target}.{os.getpid()}.partial"
    with open(partial, "wb") as out:
        out.write(module.serialize())
    os.replace(partial, target)


def remove_tree(path: str) -> None:
    """Remove `path` and all under it, however deep: no recursion (one open directory at a time,
    a stack of names), no path longer than one name (each step is relative to an open
    directory), never following a symlink."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        os.unlink(path)
        return
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags)
    names: list[str] = []
    try:
        while True:
            subdirectory = None
            with os.scandir(fd) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        subdirectory = entry.name
                    else:
                        os.unlink(entry.name, dir_fd=fd)
            if subdirectory is not None:
                inner = os.open(subdirectory, flags, dir_fd=fd)
                os.close(fd)
                fd = inner
                names.append(subdirectory)
                continue
            if not names:
                break
            outer = os.open("..", flags, dir_fd=fd)
            os.close(fd)
            fd = outer
            os.rmdir(names.pop(), dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(path)


def _limit_self(job: dict[str, Any]) -> None:
    mib = 1 << 20
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Data, not address space: the 4 GiB reservations behind guard pages are untouched address
    # space (not counted); what a guest makes writable is.
    data = int(job["data_mb"]) * mib
    resource.setrlimit(resource.RLIMIT_DATA, (data, data))
    cpu = int(job["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    file_size = int(job["file_size_mb"]) * mib
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    # Past RLIMIT_FSIZE a write fails with EFBIG inside the guest instead of killing us.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


class _Capped:
    """A stderr callback that keeps at most `cap` bytes and claims every write (a traceback's
    tail is cut, the guest goes on)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.parts: list[bytes] = []
        self.size = 0

    def __call__(self, data: bytes) -> int:
        room = self.cap - self.size
        if room > 0:
            self.parts.append(data[:room])
            self.size += min(len(data), room)
        return len(data)

    def text(self) -> str:
        return b"".join(self.parts).decode("utf-8", errors="replace")


class _Stdout:
    """The guest's stdout: at most `cap` bytes, then every write fails in the guest (EIO), so a
    print loop ends at once with what it printed. The harness's marks are taken out: the CPU time
    when the guest's own code starts, and the output and CPU time at the end of each test."""

    def __init__(self, cap: int, mark: bytes, clock: int) -> None:
        self.cap, self.clock = cap, clock
        self.ready, self.test_end = mark + b"R", mark + b"T"
        self.parts: list[bytes] = []
        self.size = 0
        self.overflow = False
        self.ready_cpu: float | None = None
        self.ends: list[tuple[int, float]] = []

    def __call__(self, data: bytes) -> int:
        if data == self.ready and self.ready_cpu is None:
            self.ready_cpu = time.clock_gettime(self.clock)
            return len(data)
        if data == self.test_end and self.ready_cpu is not None:
            self.ends.append((self.size, time.clock_gettime(self.clock)))
            return len(data)
        room = self.cap - self.size
        if len(data) > room:
            self.overflow = True
            data = data[: max(room, 0)]
        if data:
            self.parts.append(data)
            self.size += len(data)
        return -errno.EIO if self.overflow else len(data)

    def segments(self) -> list[tuple[str, int]]:
        """Each finished test's output and CPU milliseconds (the first also runs the submission)."""
        whole = b"".join(self.parts)
        out, offset, cpu = [], 0, self.ready_cpu or 0.0
        for size, at in self.ends:
            out.append((whole[offset:size].decode("utf-8", errors="replace"), int((at - cpu) * 1000)))
            offset, cpu = size, at
        return out

    def text(self) -> str:
        return b"".join(self.parts).decode("utf-8", errors="replace")


class _DiskGuard:
    """What one run may write: `max_bytes` to files it opened, `max_entries` new entries. Past
    either, the call fails in the guest with EDQUOT ("disk quota exceeded")."""

    def __init__(self, memory: Any, max_bytes: int, max_entries: int) -> None:
        self.memory = memory
        self.max_bytes, self.max_entries = max_bytes, max_entries
        self.bytes = self.entries = 0
        self.files: set[int] = set()

    def write(self, caller: Any, fd: int, iovs: int, count: int) -> int:
        if fd not in self.files:
            return 0
        vectors = self.memory.read(caller, iovs, iovs + 8 * max(0, min(count, 1024)))
        total = sum(int.from_bytes(vectors[i + 4 : i + 8], "little") for i in range(0, len(vectors), 8))
        return WASI_DQUOT if self.bytes + total > self.max_bytes else 0

    def allocate(self, fd: int, length: int) -> int:
        if fd not in self.files:
            return 0
        if self.bytes + length > self.max_bytes:
            return WASI_DQUOT
        self.bytes += length
        return 0

    def written(self, fd: int, count: int) -> None:
        if fd in self.files:
            self.bytes += count

    def entry(self) -> int:
        return 1 if self.entries >= self.max_entries else 0

    def created(self) -> None:
        self.entries += 1

    def opened(self, fd: int) -> None:
        self.files.add(fd)

    def closed(self, fd: int) -> None:
        self.files.discard(fd)

    def renumbered(self, fd: int, to: int) -> None:
        self.files.discard(to)
        if fd in self.files:
            self.files.discard(fd)
            self.files.add(to)


def _guard_functions(wasmtime: Any) -> dict[str, tuple[Any, bool]]:
    i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
    return {
        "write": (wasmtime.FuncType([i32, i32, i32], [i32]), True),
        "allocate": (wasmtime.FuncType([i32, i64], [i32]), False),
        "written": (wasmtime.FuncType([i32, i32], []), False),
        "entry": (wasmtime.FuncType([], [i32]), False),
        "created": (wasmtime.FuncType([], []), False),
        "opened": (wasmtime.FuncType([i32], []), False),
        "closed": (wasmtime.FuncType([i32], []), False),
        "renumbered": (wasmtime.FuncType([i32, i32], []), False),
    }


class _Run:
    """One run's state, shared by the main thread and the CPU watchdog."""

    def __init__(self, index: int, stdout: _Stdout, stderr: _Capped, cpu_start: float, start_ms: int, limit_ms: int):
        self.index = index
        self.stdout, self.stderr = stdout, stderr
        self.cpu_start, self.start_ms, self.limit_ms = cpu_start, start_ms, limit_ms
        self.finished = False

    def cpu_ms(self, now: float) -> int:
        since = self.stdout.ready_cpu if self.stdout.ready_cpu is not None else self.cpu_start
        return int((now - since) * 1000)

    def over(self, now: float) -> bool:
        if self.stdout.ready_cpu is None:
            return self.cpu_ms(now) > self.start_ms
        return self.cpu_ms(now) > self.limit_ms

    def record(self, now: float, **outcome: Any) -> dict[str, Any]:
        return {
            "index": self.index,
            "event": "done",
            **outcome,
            "time_ms": self.cpu_ms(now) if self.stdout.ready_cpu is not None else 0,
            "stdout": self.stdout.text(),
            "stdout_overflow": self.stdout.overflow,
            "segments": self.stdout.segments(),
            "stderr": self.stderr.text()[-8192:],
        }


class _Child:
    """Started ahead of its submission (wasmtime imported, module loaded: the slow part of a
    child's start), then given one job on stdin."""

    def __init__(self, module_path: str) -> None:
        import wasmtime

        self.wasmtime = wasmtime
        self.lock = threading.Lock()
        self.current: _Run | None = None
        self.engine = _engine()
        self.guard_module = wasmtime.Module(self.engine, GUARD_WAT.read_text(encoding="utf-8"))
        self.main_clock = time.pthread_getcpuclockid(threading.get_ident())
        self.module_path = ""
        with contextlib.suppress(Exception):  # a module that does not load fails the job, below
            self._load(module_path)
            self._warm_up()

    def _load(self, module_path: str) -> None:
        self.module = self.wasmtime.Module.deserialize_file(self.engine, module_path)
        self.memory_type = next(i.type for i in self.module.imports if i.module == "env" and i.name == "memory")
        self.module_path = module_path

    def _warm_up(self) -> None:
        """Start the interpreter once, on nothing (no directory, no submission), before any job:
        the first instance in a process pays ~150 ms of faulting in the module's code, which the
        first test would otherwise pay."""
        wasmtime = self.wasmtime
        store = wasmtime.Store(self.engine)
        wasi = wasmtime.WasiConfig()
        wasi.argv = ["python", "-I", "-S", "-c", "pass"]
        store.set_wasi(wasi)
        memory = wasmtime.Memory(store, self.memory_type)
        instance = self._linker(store, memory, _DiskGuard(memory, 0, 0)).instantiate(store, self.module)
        with contextlib.suppress(wasmtime.ExitTrap):
            instance.exports(store)["_start"](store)

    def emit(self, record: dict[str, Any]) -> None:
        sys.stdout.write(f"{self.nonce} {json.dumps(record)}\n")
        sys.stdout.flush()

    def watch(self) -> None:
        """A run past its CPU budget ends here: its result is reported and the process leaves
        (the parent starts a new child for the runs left). Nothing is compiled into the guest for
        this, so its loops run at the interpreter's full speed."""
        while True:
            time.sleep(WATCH_INTERVAL)
            now = time.clock_gettime(self.main_clock)
            with self.lock:
                run = self.current
                if run is not None and not run.finished and run.over(now):
                    self.emit(run.record(now, status="trap", exit_code=None, trap="cpu_limit"))
                    os._exit(0)

    def _linker(self, store: Any, memory: Any, guard: _DiskGuard) -> Any:
        wasmtime = self.wasmtime
        wasi = wasmtime.Linker(self.engine)
        wasi.define_wasi()
        imports = wasmtime.Linker(self.engine)
        imports.define(store, "env", "memory", memory)
        for name in GUARDED:
            imports.define(store, "wasi", name, wasi.get(store, WASI, name))
        for name, (kind, caller) in _guard_functions(wasmtime).items():
            imports.define(store, "guard", name, wasmtime.Func(store, kind, getattr(guard, name), access_caller=caller))
        shim = imports.instantiate(store, self.guard_module)
        linker = wasmtime.Linker(self.engine)
        linker.define_wasi()
        linker.allow_shadowing = True
        linker.define(store, "env", "memory", memory)
        for name in GUARDED:
            linker.define(store, WASI, name, shim.exports(store)[name])
        return linker

    def run(self, index: int, spec: dict[str, Any]) -> dict[str, Any]:
        wasmtime = self.wasmtime
        job = self.job
        count = int(spec["count"])
        store = wasmtime.Store(self.engine)
        store.set_limits(memory_size=int(job["memory_mb"]) << 20, instances=4, tables=4, memories=1)
        wasi = wasmtime.WasiConfig()
        wasi.argv = ["python", "-I", "-S", "-c", HARNESS, job["mark"], str(count)]
        wasi.env = []
        stdout = _Stdout(int(job["stdout_cap"]), job["mark"].encode(), self.main_clock)
        stderr = _Capped(int(job["stderr_cap"]))
        wasi.stdout_custom = stdout
        wasi.stderr_custom = stderr
        wasi.stdin_file = spec["stdin_path"]
        wasi.preopen_dir(spec["work_dir"], "/")
        wasi.preopen_dir(spec["code_dir"], "/code", False)
        store.set_wasi(wasi)
        run = _Run(index, stdout, stderr, time.thread_time(), int(job["start_cpu_ms"]), count * int(job["cpu_ms"]))
        outcome: dict[str, Any] = {"status": "exit", "exit_code": 0, "trap": None}
        with self.lock:
            self.current = run
        try:
            memory = wasmtime.Memory(store, self.memory_type)
            guard = _DiskGuard(memory, int(job["disk_bytes"]), int(job["disk_entries"]))
            instance = self._linker(store, memory, guard).instantiate(store, self.module)
            instance.exports(store)["_start"](store)
        except wasmtime.ExitTrap as exc:
            outcome["exit_code"] = exc.code
        except wasmtime.Trap as exc:
            code = exc.trap_code
            outcome.update(status="trap", exit_code=None, trap=code.name.lower() if code is not None else "trap")
        except wasmtime.WasmtimeError:
            # The memory limit is below what the interpreter needs to start.
            outcome.update(status="trap", exit_code=None, trap="instantiate")
        with self.lock:
            run.finished = True
            self.current = None
        return run.record(time.thread_time(), **outcome)

    def main(self, job: dict[str, Any]) -> None:
        self.job, self.nonce = job, job["nonce"]
        if job["module"] != self.module_path:
            self._load(job["module"])
        threading.Thread(target=self.watch, daemon=True).start()
        for index, spec in enumerate(self.job["runs"]):
            self.emit({"index": index, "event": "start"})
            record = self.run(index, spec)
            # Each run's directory goes at once: at most one run's writes are on disk.
            remove_tree(spec["work_dir"])
            self.emit(record)
        self.emit({"event": "finished"})


def main(argv: list[str]) -> int:
    """`child.py <wasmtime dir> <module>`: load, then run the job read from stdin (EOF: leave).
    `child.py --compile <wasm> <out>` with `{"wasmtime_path": ...}` on stdin: compile."""
    # Where the parent found wasmtime: `-I` and an empty environment drop PYTHONPATH, which a
    # deployed runtime may use for its packages.
    if len(argv) == 4 and argv[1] == "--compile":
        sys.path.append(str(json.loads(sys.stdin.read())["wasmtime_path"]))
        compile_module(argv[2], argv[3])
        return 0
    sys.path.append(argv[1])
    child = _Child(argv[2])
    request = sys.stdin.read()
    if not request:
        os._exit(0)  # the grader left without a job for this spare child
    job = json.loads(request)
    _limit_self(job)
    child.main(job)
    sys.stdout.flush()
    # Skip interpreter teardown: wasmtime's runtime threads may panic at exit after a trap.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
