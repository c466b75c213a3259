"""Defects found by the acceptance pass over the local stack (issues 9-15), each held here as a
user saw it: the request, the answer they got, the answer the contract promises."""

from __future__ import annotations

import pytest

from tests.support import Api


@pytest.mark.parametrize(
    "path",
    ["/api/v1/exercises/%00", "/api/v1/paths/%00", "/api/v1/chat/sessions/%00/messages", "/health%00"],
)
def test_a_nul_byte_in_the_path_is_a_json_404_not_a_500(api: Api, path: str) -> None:
    """`GET /api/v1/exercises/%00` on the local stack answered an HTML 500 (the gateway's
    static-file lookup raised on the NUL byte before any route was tried)."""
    student = api.register("nul-byte@example.com")
    response = api.get(path, token=student["access_token"])
    assert response.status_code == 404, response.get_data(as_text=True)[:200]
    assert response.json["error"]["code"] == "not_found"


PRINT_LOOPS = {
    "print_loop": "def run():\n    i = 0\n    while True:\n        print(i)\n        i += 1\n",
    "write_loop": "import sys\ndef run():\n    while True:\n        sys.stdout.write('y' * 60000)\n",
    "caught": (
        "def run():\n    while True:\n        try:\n            print('z' * 1000)\n"
        "        except OSError:\n            pass\n"
    ),
}


@pytest.mark.parametrize("name", list(PRINT_LOOPS))
def test_a_program_printing_forever_gets_output_limit_exceeded_and_its_first_output(name: str) -> None:
    """A student's `while True: print(i)` came back `time_limit_exceeded` with an empty
    `stdout` (the guest ran on past the 64 KiB cap until fuel or the wall clock ended it, and a
    killed run lost its output); the verdict is `output_limit_exceeded`, with what it printed."""
    from functions.exercises.judge import STDOUT_SHOWN, run_exercise

    exercise = {
        "time_limit_ms": 2000,
        "memory_limit_mb": 128,
        "tests": [{"name": "forever", "code": "run()", "stdin": "", "expected_output": "done"}],
    }
    [result] = run_exercise(PRINT_LOOPS[name], exercise)
    assert result.verdict == "output_limit_exceeded"
    shown = result.result()["stdout"]
    assert len(shown) == STDOUT_SHOWN and shown[:1] in ("0", "y", "z")
    assert result.error is None or "OSError" not in result.error


def test_the_tutor_describes_a_lesson_without_a_body_in_plain_english() -> None:
    """The tutor's reply about FizzBuzz cited "A exercise lesson on python ..."; a practice
    exam lesson read "A practice_exam lesson"."""
    from functions.chat.retrieval import path_passages

    path = {
        "title": "Python: first programs",
        "modules": [
            {
                "title": "Numbers",
                "lessons": [
                    {"id": "l1", "title": "FizzBuzz", "kind": "exercise", "topic": "python"},
                    {"id": "l2", "title": "Mock exam", "kind": "practice_exam", "topic": "security-plus"},
                    {"id": "l3", "title": "Intro", "kind": "video", "topic": "python"},
                ],
            }
        ],
    }
    texts = [p.text for p in path_passages("p1", path)]
    assert texts == [
        "An exercise lesson on python in the path Python: first programs, module Numbers.",
        "A practice exam lesson on security-plus in the path Python: first programs, module Numbers.",
        "A video lesson on python in the path Python: first programs, module Numbers.",
    ]
