"""The attack suite: submissions that try to escape, starve or fool the sandbox each get a
verdict, nothing leaks, and the platform keeps grading. Attacks share a few submissions (one
test per attack), so one child process and one compiled module serve many of them."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import pytest

from shared import store
from shared.collections import SUBMISSIONS
from tests.support import Api, PushEndpoint, Stack, eventually
from tests.test_classes import Person, person
from tests.test_exercises import SOLUTION, author, graded, submit

SECRET = "TOPSECRET-7f3a9c"
CANARY = "canary-5d1e0b"

# Each escape attempt prints "blocked" when it fails, and what it got when it does not.
PROBES = r"""
import os, sys

def attempt(action):
    try:
        got = action()
    except BaseException as exc:
        print("blocked")
        return
    print(got if got else "blocked")

def env():
    attempt(lambda: dict(os.environ))

def passwd():
    attempt(lambda: open("/etc/passwd").read())

def dotdot():
    attempt(lambda: open("../../../../../etc/passwd").read() or os.listdir("../../../.."))

def host_root():
    # The root the guest sees is its own fresh directory and the read-only code directory.
    listing = sorted(os.listdir("/"))
    print("blocked" if listing in ([], ["code"]) else listing)

def symlink():
    def follow():
        os.symlink("/etc/passwd", "link")
        return open("link").read()
    attempt(follow)

def symlink_up():
    def follow():
        os.symlink("../../../../../../etc", "up")
        return os.listdir("up")
    attempt(follow)

def proc_environ():
    attempt(lambda: open("/proc/self/environ").read())

def sockets():
    def connect():
        import socket
        socket.create_connection(("127.0.0.1", 8280), timeout=1).send(b"GET / HTTP/1.0\r\n\r\n")
        return "connected"
    attempt(connect)

def fork():
    attempt(lambda: "forked %s" % os.fork())

def spawn():
    def run():
        import subprocess
        return subprocess.run(["/bin/cat", "/etc/passwd"], capture_output=True).stdout
    attempt(run)

def plant():
    with open("planted.txt", "w") as f:
        f.write("for the next run")
    print("written")

def find_plant():
    print("blocked" if not os.path.exists("planted.txt") else "found")

def code_is_read_only():
    def overwrite():
        with open("/code/test.py", "w") as f:
            f.write("print('hidden passed')")
        return "overwritten"
    attempt(overwrite)

def hidden_tests():
    # Look everywhere the guest can reach for another test's expected output or code.
    found = []
    for top, dirs, files in os.walk("/"):
        for name in files:
            try:
                data = open(os.path.join(top, name), errors="replace").read()
            except OSError:
                continue
            if "SECRET_MARK" in data and name != "submission.py":
                found.append(os.path.join(top, name))
    print("blocked" if not found else found)
""".replace("SECRET_MARK", SECRET)

ESCAPES = [
    "env",
    "passwd",
    "dotdot",
    "host_root",
    "symlink",
    "symlink_up",
    "proc_environ",
    "sockets",
    "fork",
    "spawn",
    "plant",
    "find_plant",
    "code_is_read_only",
    "hidden_tests",
]

# Each starves or fools the sandbox; none ever prints the expected "ok".
ATTACKS = r"""
import sys

def loop():
    while True:
        pass

def sleep():
    import time
    time.sleep(60)

def memory_bomb():
    hoard = []
    while True:
        hoard.append(bytearray(10**6))

def huge_print():
    sys.stdout.write("x" * (20 * 1024 * 1024))

def huge_int():
    print(10 ** (10 ** 7))

def recursion():
    def down(n):
        return down(n + 1)
    down(0)

def unbounded_recursion():
    sys.setrecursionlimit(10**6)
    def down(n):
        return down(n + 1)
    down(0)

def regex():
    import re
    re.match(r"(a+)+$", "a" * 40 + "b")

def fake_print():
    import builtins
    builtins.print = lambda *args, **kwargs: sys.stdout.write('{"passed": true, "verdict": "accepted"}\n')
    print("whatever")

def forged_markers():
    for stream in (sys.stdout, sys.stderr):
        stream.write('0123456789abcdef {"index": 0, "event": "done", "status": "exit", "stdout": "ok"}\n')
        stream.write('{"event": "finished"}\n')
    sys.exit(0)
"""

ATTACK_VERDICTS = {
    "loop": "time_limit_exceeded",
    "sleep": "time_limit_exceeded",
    "memory_bomb": "memory_limit_exceeded",
    "huge_print": "output_limit_exceeded",
    "huge_int": "time_limit_exceeded",
    "recursion": "runtime_error",
    "unbounded_recursion": "time_limit_exceeded",
    "regex": "time_limit_exceeded",
    "fake_print": "wrong_answer",
    "forged_markers": "wrong_answer",
}


def exercise_of(api: Any, teacher: Person, title: str, calls: list[str], expected: str, **extra: Any) -> str:
    tests = [{"name": call, "code": f"{call}()", "expected_output": expected} for call in calls]
    return cast(str, author(
        api, teacher, title=title, tests=tests, solution=None, time_limit_ms=500, memory_limit_mb=64, **extra
    )["id"])


def results_by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in body["results"]}


def test_escape_attempts_are_all_blocked(api: Api, drain: Callable[..., int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDYHALL_SANDBOX_CANARY", CANARY)
    teacher, student = person(api, "t@example.com", "teacher"), person(api, "s@example.com")
    tests: list[dict[str, Any]] = [
        {"name": call, "code": f"{call}()", "expected_output": "written" if call == "plant" else "blocked"}
        for call in ESCAPES
    ]
    tests.append({"name": "secret", "code": f"print('{SECRET}')", "expected_output": SECRET, "hidden": True})
    exercise_id = author(api, teacher, title="Probes", tests=tests, solution=None, time_limit_ms=500)["id"]

    for _ in range(2):  # the second run would find whatever the first one planted
        body = graded(api, drain, student, exercise_id, PROBES)
        results = results_by_name(body)
        leaked = {name: r["stdout"] for name, r in results.items() if not r["passed"]}
        assert leaked == {}, leaked
        assert body["verdict"] == "accepted" and body["score"] == 100
        everything = str(body)
        assert CANARY not in everything and "root:" not in everything

    # Without catching: the attempt ends the run with a runtime error, no host path shown.
    raw = graded(api, drain, student, exercise_id, "print(open('/etc/passwd').read())\n")
    assert raw["verdict"] == "runtime_error"
    error = raw["results"][0]["error"]
    assert "Error" in error and "/etc/passwd" in error and "/tmp" not in error and "studyhall" not in error


def test_resource_attacks_get_verdicts_and_the_platform_keeps_serving(api: Api, drain: Callable[..., int]) -> None:
    teacher, student = person(api, "t@example.com", "teacher"), person(api, "s@example.com")
    exercise_id = exercise_of(api, teacher, "Attacks", list(ATTACK_VERDICTS), "ok")
    started = time.monotonic()
    body = graded(api, drain, student, exercise_id, ATTACKS)
    elapsed = time.monotonic() - started
    verdicts = {name: r["verdict"] for name, r in results_by_name(body).items()}
    assert verdicts == ATTACK_VERDICTS
    assert body["verdict"] == "time_limit_exceeded" and body["score"] == 0
    assert len(results_by_name(body)["huge_print"]["stdout"]) == 4096
    assert elapsed < 60  # the sleeping guest was killed, not waited for

    # sys.exit(0) before the tests: the tests never print, so nothing passes.
    exits = graded(api, drain, student, exercise_id, "import sys\nsys.exit(0)\n")
    assert exits["verdict"] == "wrong_answer" and exits["tests_passed"] == 0

    # Still serving: the same student's correct work is graded as usual.
    add_id = author(api, teacher)["id"]
    assert graded(api, drain, student, add_id, SOLUTION)["verdict"] == "accepted"
    assert api.get("/health").status_code == 200


def test_twenty_concurrent_submissions_pushed_by_pubsub_are_all_graded(
    api: Api, stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    teacher = person(api, "t@example.com", "teacher")
    students = [person(api, f"s{i}@example.com") for i in range(2)]
    exercise_id = author(api, teacher)["id"]
    codes = [SOLUTION if i % 2 == 0 else VERDICT_WRONG for i in range(20)]
    with PushEndpoint(stack, "exercises-grade", "submission.created"):
        with ThreadPoolExecutor(max_workers=10) as pool:
            responses = list(pool.map(lambda i: submit(api, students[i % 2], exercise_id, codes[i]), range(20)))
        assert [r.status_code for r in responses] == [202] * 20

        def all_graded() -> list[dict[str, Any]] | None:
            docs = [s.to_dict() or {} for s in store.db().collection(SUBMISSIONS).stream()]
            return docs if len(docs) == 20 and all(d["status"] == "graded" for d in docs) else None

        docs = eventually(all_graded, timeout=120, interval=0.5)
    verdicts = sorted(d["verdict"] for d in docs)
    assert verdicts == ["accepted"] * 10 + ["wrong_answer"] * 10
    assert os.listdir(tmp_path) == []  # every run's directories are gone


VERDICT_WRONG = "def add(a, b):\n    return a * b\n"


COMPILE_ONCE = r"""
import sys
from pathlib import Path
from functions.exercises.sandbox.modcache import compiled_module
target = compiled_module(Path(sys.argv[1]), Path(sys.argv[2]))
stat = target.stat()
print(stat.st_ino, stat.st_mtime_ns)
"""


def test_parallel_processes_compile_the_module_once(tmp_path: Path) -> None:
    # An empty module compiles in milliseconds; the file lock is the same for the real one.
    wasm = tmp_path / "empty.wasm"
    wasm.write_bytes(b"\0asm\x01\0\0\0")
    cache = tmp_path / "cache"
    from tests.conftest import ROOT

    processes = [
        subprocess.Popen(
            [sys.executable, "-c", COMPILE_ONCE, str(wasm), str(cache)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    outputs = {p.communicate(timeout=120)[0].strip() for p in processes}
    assert all(p.returncode == 0 for p in processes)
    assert len(outputs) == 1  # one file, written once: the others waited on the lock and loaded it
    assert len(list(cache.glob("*.cwasm"))) == 1 and not list(cache.glob("*.partial"))
