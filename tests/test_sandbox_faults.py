"""The grader around the sandbox (issue 20): each fault found has its test here, run through
`judge.run_exercise` (the grader's own call) against the real interpreter, with the grader's
temp space pointed at a directory of the test's own so what a run leaves behind is seen."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_mock import MockerFixture

from functions.exercises import judge
from functions.exercises.sandbox import runner
from functions.exercises.sandbox.child import remove_tree
from functions.exercises.sandbox.runner import Limits


@pytest.fixture
def grader_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The grader's temp space for this test; it must be as it was (empty) afterwards."""
    space = tmp_path / "grader"
    space.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(space))
    yield space
    assert os.listdir(space) == []


def exercise(*tests: dict[str, Any], time_limit_ms: int = 1000, memory_limit_mb: int = 64) -> dict[str, Any]:
    return {"tests": list(tests), "time_limit_ms": time_limit_ms, "memory_limit_mb": memory_limit_mb}


def case(name: str, code: str, expected: str, *, hidden: bool = False, stdin: str = "") -> dict[str, Any]:
    return {"name": name, "code": code, "expected_output": expected, "hidden": hidden, "stdin": stdin}


def verdicts(code: str, spec: dict[str, Any]) -> dict[str, str]:
    return {j.name: j.verdict for j in judge.run_exercise(code, spec)}


# Fault 1: `mkdir n; rename t n/t; rename n t` nests a tree deeper than a recursive rmtree can go.
NEST = r"""
import os
depth = 0
try:
    os.mkdir("t")
    for depth in range(1, 1500):
        os.mkdir("n")
        os.rename("t", "n/t")
        os.rename("n", "t")
except OSError:
    pass
print("deep", depth > 900)
"""


def test_a_deep_directory_tree_is_removed_and_grading_goes_on(grader_tmp: Path) -> None:
    spec = exercise(case("nest", "", "deep True"), case("again", "", "deep True", hidden=True), time_limit_ms=3000)
    assert verdicts(NEST, spec) == {"nest": "accepted", "again": "accepted"}


def test_clean_up_removes_any_tree_without_recursion(tmp_path: Path) -> None:
    # Deeper than Python's recursion limit, and a path far longer than PATH_MAX (4,096).
    root = tmp_path / "tree"
    root.mkdir()
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for level in range(1500):
        os.mkdir("d" * 100, dir_fd=fd)
        if level % 100 == 0:
            os.close(os.open(f"file{level}", os.O_CREAT | os.O_WRONLY, dir_fd=fd))
            os.symlink("/etc", f"link{level}", dir_fd=fd)
        inner = os.open("d" * 100, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(fd)
    remove_tree(str(root))
    assert not root.exists() and Path("/etc/passwd").exists()


# Fault 2: writes were bounded per file only.
FILL = r"""
import errno
written = 0
try:
    for i in range(100):
        with open(f"f{i}", "wb") as f:
            f.write(b"x" * (1 << 20))
        written += 1
except OSError as exc:
    print("bytes refused after", written, "MiB", exc.errno == errno.EDQUOT)
try:
    for i in range(2000):
        open(f"e{i}", "w").close()
except OSError as exc:
    print("entries refused at", written + 1 + i, exc.errno == errno.EDQUOT)
"""


def test_disk_writes_are_bounded_per_run_and_the_program_sees_the_refusal(grader_tmp: Path) -> None:
    # The 33rd MiB is refused; the files made so far (32 written + 1 opened) count as entries.
    expected = "bytes refused after 32 MiB True\nentries refused at 1000 True"
    spec = exercise(case("fill", "", expected), time_limit_ms=5000)
    assert verdicts(FILL, spec) == {"fill": "accepted"}


def test_the_disk_budget_is_each_runs_own(grader_tmp: Path) -> None:
    # Together the two tests write 40 MiB: combined in one run they are refused, so each runs
    # alone (its own fresh directory and budget) and both pass.
    write = "with open('big', 'wb') as f:\n    f.write(b'x' * (20 << 20))\nprint('ok')"
    spec = exercise(case("one", write, "ok"), case("two", write, "ok"), time_limit_ms=2000)
    assert verdicts("", spec) == {"one": "accepted", "two": "accepted"}


# Fault 3: time_ms was wall time, so a sleep read out a hidden input.
def test_time_is_guest_cpu_time_so_sleeping_reads_out_nothing(grader_tmp: Path) -> None:
    leak = "import time\ntime.sleep(int(input()) * 0.15)\nprint('ok')"
    busy = "s = 0\nfor i in range(300000):\n    s += i\nprint('ok')"
    spec = exercise(
        case("one", leak, "ok", stdin="1\n", hidden=True),
        case("nine", leak, "ok", stdin="9\n", hidden=True),
        case("busy", busy, "ok"),
        time_limit_ms=2000,
    )
    judged = {j.name: j for j in judge.run_exercise("", spec)}
    assert all(j.verdict == "accepted" for j in judged.values())
    assert judged["one"].time_ms < 100 and judged["nine"].time_ms < 100  # slept 150 ms and 1,350 ms
    assert judged["busy"].time_ms > 20  # computing does show


# Fault 4: the harness looked `exec`, `compile` and `open` up after the submission ran.
REBINDINGS = {
    "exec": "import builtins\nbuiltins.exec = lambda *args, **kwargs: print('ok')\n",
    "compile": (
        "import builtins\nreal = compile\nbuiltins.compile = lambda *a, **k: real(\"print('ok')\", 't', 'exec')\n"
    ),
    "open": ("import builtins, io\nbuiltins.open = lambda *args, **kwargs: io.StringIO(\"print('ok')\")\n"),
    "os._exit": "import os\nos._exit = lambda status: None\nos.write = lambda fd, data: len(data)\n",
}


@pytest.mark.parametrize("target", list(REBINDINGS))
def test_rebinding_builtins_does_not_change_how_the_tests_run(target: str, grader_tmp: Path) -> None:
    spec = exercise(
        case("assert", "assert add(2, 3) == 5\nprint('ok')", "ok"),
        case("hidden assert", "assert add(4, 4) == 8\nprint('ok')", "ok", hidden=True),
    )
    assert verdicts(REBINDINGS[target], spec) == {"assert": "runtime_error", "hidden assert": "runtime_error"}


def test_what_the_submission_rebinds_is_put_back_before_each_test(grader_tmp: Path) -> None:
    # A correct solution that also rebinds print and sys.stdout: the tests' own output is intact.
    code = (
        "import builtins, sys\n"
        "def add(a, b):\n    return a + b\n"
        "builtins.print = lambda *args, **kwargs: None\n"
        "sys.stdout.write = lambda text: 0\n"
    )
    spec = exercise(case("a", "print(add(2, 3))", "5"), case("b", "print(add(1, 1))", "2"), case("c", "", ""))
    assert verdicts(code, spec) == {"a": "accepted", "b": "accepted", "c": "accepted"}


# Fault 5: a wasmtime error at instantiation added a field TestRun does not take.
def test_an_interpreter_that_cannot_start_in_its_memory_gets_a_verdict(grader_tmp: Path) -> None:
    spec = exercise(case("tiny", "print('ok')", "ok"), memory_limit_mb=1)
    assert verdicts("", spec) == {"tiny": "memory_limit_exceeded"}


# Fault 6: both ended by the wall clock, named wrongly or late.
def test_a_memory_bomb_and_a_deep_recursion_end_by_their_own_limits_before_the_wall_clock(grader_tmp: Path) -> None:
    bomb = "hoard = []\nwhile True:\n    hoard.append(bytearray(10**6))"
    recursion = "import sys\nsys.setrecursionlimit(10**6)\ndef down(n):\n    return down(n + 1)\ndown(0)"
    limits = Limits(time_limit_ms=500, memory_limit_mb=64)
    started = time.monotonic()
    runs = runner.run_tests("", [runner.TestInput(bomb, ""), runner.TestInput(recursion, "")], limits)
    assert time.monotonic() - started < 2 + 3 * 0.5  # both, together, before one test's wall limit
    assert [judge.verdict_of(r, "") for r in runs] == ["memory_limit_exceeded", "time_limit_exceeded"]
    assert runs[1].status == "trap" and runs[1].trap == "cpu_limit" and runs[1].time_ms >= 500


# Verdicts do not depend on the machine's load: CPU time, not wall time, is limited.
CALIBRATION = {
    "sum loop": ("s = 0\nfor i in range(100000):\n    s += i\nprint('ok')", "ok"),
    "join": ("print(len(','.join(str(i) for i in range(50000))))", "288889"),
    "dict updates": ("d = {}\nfor i in range(50000):\n    d[i % 100] = d.get(i % 100, 0) + i\nprint(len(d))", "100"),
    "sort": ("import random\nr = random.Random(1)\nx = sorted(r.random() for _ in range(30000))\nprint('ok')", "ok"),
    "too long": ("s = 0\nfor i in range(10**7):\n    s += i\nprint('ok')", "ok"),
}


def test_calibration_verdicts_are_the_same_beside_a_cpu_hog(grader_tmp: Path) -> None:
    spec = exercise(*(case(name, code, out) for name, (code, out) in CALIBRATION.items()), time_limit_ms=400)
    expected = {name: "accepted" for name in CALIBRATION} | {"too long": "time_limit_exceeded"}
    assert verdicts("", spec) == expected
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2 * (os.cpu_count() or 1))]
    try:
        assert verdicts("", spec) == expected
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def test_a_grader_that_cannot_clean_up_takes_itself_out_of_service(
    grader_tmp: Path, mocker: MockerFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "_out_of_service", None)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign,assignment]
    logger = logging.getLogger("studyhall.exercises.sandbox")
    logger.addHandler(handler)
    monkeypatch.setattr(logger, "handlers", [handler])
    mocker.patch.object(runner, "remove_tree", side_effect=OSError(28, "No space left on device"))
    spec = exercise(case("a", "print('ok')", "ok"))
    with pytest.raises(runner.SandboxOutOfService):
        judge.run_exercise("", spec)
    logged = [(r.levelname, r.getMessage()) for r in records]
    assert len(logged) == 1 and logged[0][0] == "CRITICAL"
    assert "out of service" in logged[0][1] and "No space left" in logged[0][1]
    # It stays out: nothing more is run (the next delivery goes to another try or instance).
    started = len(os.listdir(grader_tmp))
    with pytest.raises(runner.SandboxOutOfService):
        judge.run_exercise("", spec)
    assert len(os.listdir(grader_tmp)) == started
    for left in os.listdir(grader_tmp):
        remove_tree(str(grader_tmp / left))
