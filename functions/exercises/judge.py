"""From sandbox runs to verdicts, results and a score: plain values in, plain values out.

Everything a submission could forge from inside the sandbox (its standard output, its exit
status, its standard error) can only make its own verdict worse: a test passes only when the
run ended normally and its output equals the expected output, which never entered the sandbox.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from functions.exercises.sandbox.runner import Limits, TestInput, TestRun, prestart, run_tests

STDOUT_SHOWN = 4 * 1024
ERROR_LINES = 5
ERROR_CHARS = 1000
SYNTAX_ERRORS = ("SyntaxError", "IndentationError", "TabError")
_PATH = re.compile(r'File "(?:[^"]*/)?([^"/]*)"')


@dataclass(frozen=True)
class Judged:
    name: str
    hidden: bool
    weight: float
    passed: bool
    verdict: str
    time_ms: int
    stdout: str
    expected_output: str
    error: str | None

    def result(self) -> dict[str, Any]:
        """What a submission stores and shows: a hidden test only its name and outcome."""
        item: dict[str, Any] = {
            "name": self.name,
            "passed": self.passed,
            "verdict": self.verdict,
            "time_ms": self.time_ms,
            "hidden": self.hidden,
        }
        if not self.hidden:
            item.update(stdout=self.stdout[:STDOUT_SHOWN], expected_output=self.expected_output, error=self.error)
        return item


def normalise(text: str) -> str:
    """Trailing white space of each line and trailing blank lines do not count."""
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def error_text(stderr: str) -> str | None:
    """The last lines of a traceback, file names without their directories."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    if not lines:
        return None
    tail = "\n".join(_PATH.sub(r'File "\1"', line) for line in lines[-ERROR_LINES:])
    return tail[-ERROR_CHARS:]


def _last_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def verdict_of(run: TestRun, expected_output: str) -> str:
    if run.status == "killed":
        return "time_limit_exceeded"
    if run.status == "crashed":
        return "runtime_error"
    # Past the output cap every write fails: a guest that ignored that and ran on still
    # printed too much first.
    if run.stdout_overflow:
        return "output_limit_exceeded"
    if run.status == "trap":
        if run.trap == "cpu_limit":
            return "time_limit_exceeded"
        if run.trap == "instantiate":
            return "memory_limit_exceeded"
        return "runtime_error"
    if run.exit_code not in (0, None):
        last = _last_line(run.stderr)
        if run.exit_code == 2 and last.startswith(SYNTAX_ERRORS):
            return "syntax_error"
        if last.startswith("MemoryError"):
            return "memory_limit_exceeded"
        return "runtime_error"
    return "accepted" if normalise(run.stdout) == normalise(expected_output) else "wrong_answer"


def judge(tests: list[dict[str, Any]], runs: list[TestRun]) -> list[Judged]:
    judged = []
    for test, run in zip(tests, runs, strict=True):
        verdict = verdict_of(run, test["expected_output"])
        judged.append(
            Judged(
                name=test["name"],
                hidden=bool(test.get("hidden")),
                weight=float(test.get("weight", 1)),
                passed=verdict == "accepted",
                verdict=verdict,
                time_ms=run.time_ms,
                stdout=run.stdout,
                expected_output=test["expected_output"],
                # Past the output cap the guest's own error is the refused write: nothing to show.
                error=error_text(run.stderr) if verdict not in ("accepted", "output_limit_exceeded") else None,
            )
        )
    return judged


def overall(judged: list[Judged]) -> tuple[str, float, int]:
    """The submission's verdict (the first failing test's), score 0-100 by weight, tests passed."""
    failing = next((j for j in judged if not j.passed), None)
    total = sum(j.weight for j in judged)
    earned = sum(j.weight for j in judged if j.passed)
    score = round(100 * earned / total, 2) if total else 0.0
    return (failing.verdict if failing else "accepted"), score, sum(1 for j in judged if j.passed)


def run_exercise(code: str, exercise: dict[str, Any]) -> list[Judged]:
    """Run `code` against every test of `exercise` in the sandbox and judge each run."""
    tests = exercise["tests"]
    limits = Limits(
        time_limit_ms=int(exercise.get("time_limit_ms", 2000)),
        memory_limit_mb=int(exercise.get("memory_limit_mb", 128)),
    )
    inputs = [TestInput(code=t.get("code", ""), stdin=t.get("stdin", ""), hidden=bool(t.get("hidden"))) for t in tests]

    def passes(index: int, run: TestRun) -> bool:
        return verdict_of(run, tests[index]["expected_output"]) == "accepted"

    return judge(tests, run_tests(code, inputs, limits, passes))


# Whatever loads the judge (the grader, the routes that check a solution) will run the sandbox:
# its child starts now, beside the rest of the function's loading.
prestart()
