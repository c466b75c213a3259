"""Demo coding exercises for the local stack: five original beginner exercises authored by
teacher@studyhall.dev, under fixed ids (the demo Python learning path points at them).
Idempotent: an exercise already there is left as it is. The solutions are not run here (that
would compile the sandbox during `make dev`); tests/test_exercises.py grades each one."""

from __future__ import annotations

from typing import Any

from shared import accounts, store
from shared.collections import EXERCISES


def _test(name: str, code: str, expected: str, *, stdin: str = "", hidden: bool = False) -> dict[str, Any]:
    return {"name": name, "stdin": stdin, "code": code, "expected_output": expected, "hidden": hidden, "weight": 1}


DEMO_EXERCISES: dict[str, dict[str, Any]] = {
    "demo-hello-world": {
        "title": "Hello, world",
        "description": "Write `greet(name)` that returns the text `Hello, <name>!`.",
        "topic": "python-basics",
        "hints": ['An f-string puts a value inside text: f"Hello, {name}!"'],
        "starter_code": "def greet(name):\n    # your code here\n    pass\n",
        "tests": [
            _test("world", "print(greet('world'))", "Hello, world!"),
            _test("a name", "print(greet('Ada'))", "Hello, Ada!"),
            _test("from input", "print(greet(input()))", "Hello, Grace!", stdin="Grace\n", hidden=True),
        ],
        "solution": 'def greet(name):\n    return f"Hello, {name}!"\n',
    },
    "demo-sum-two": {
        "title": "Sum of two numbers",
        "description": "Write `add(a, b)` that returns the sum of two integers.",
        "topic": "python-basics",
        "hints": ["Python adds numbers with +."],
        "starter_code": "def add(a, b):\n    pass\n",
        "tests": [
            _test("small numbers", "print(add(2, 3))", "5"),
            _test("negatives", "print(add(-4, 1))", "-3"),
            _test("big numbers", "print(add(10**12, 1))", "1000000000001", hidden=True),
        ],
        "solution": "def add(a, b):\n    return a + b\n",
    },
    "demo-fizzbuzz": {
        "title": "FizzBuzz",
        "description": (
            "Write `fizzbuzz(n)` that prints the numbers from 1 to n, one a line, but `Fizz` for "
            "multiples of 3, `Buzz` for multiples of 5 and `FizzBuzz` for multiples of both."
        ),
        "topic": "loops",
        "hints": ["Check the multiple of 15 first.", "`i % 3 == 0` tells whether i is a multiple of 3."],
        "starter_code": "def fizzbuzz(n):\n    for i in range(1, n + 1):\n        pass\n",
        "tests": [
            _test("up to 5", "fizzbuzz(5)", "1\n2\nFizz\n4\nBuzz"),
            _test(
                "fifteen",
                "fizzbuzz(15)",
                "\n".join(
                    "FizzBuzz" if i % 15 == 0 else "Fizz" if i % 3 == 0 else "Buzz" if i % 5 == 0 else str(i)
                    for i in range(1, 16)
                ),
            ),
            _test("nothing", "fizzbuzz(0)", "", hidden=True),
        ],
        "solution": (
            "def fizzbuzz(n):\n"
            "    for i in range(1, n + 1):\n"
            "        if i % 15 == 0:\n            print('FizzBuzz')\n"
            "        elif i % 3 == 0:\n            print('Fizz')\n"
            "        elif i % 5 == 0:\n            print('Buzz')\n"
            "        else:\n            print(i)\n"
        ),
    },
    "demo-reverse-words": {
        "title": "Reverse the words",
        "description": "Write `reverse_words(text)`: the words of `text` in reverse order, one space apart.",
        "topic": "strings",
        "hints": ["`text.split()` gives the words; `' '.join(...)` puts them back together."],
        "starter_code": "def reverse_words(text):\n    pass\n",
        "tests": [
            _test("three words", "print(reverse_words('one two three'))", "three two one"),
            _test("extra spaces", "print(reverse_words('  hello   world '))", "world hello"),
            _test("one word", "print(reverse_words('alone'))", "alone", hidden=True),
        ],
        "solution": "def reverse_words(text):\n    return ' '.join(reversed(text.split()))\n",
    },
    "demo-count-vowels": {
        "title": "Count the vowels",
        "description": "Write `count_vowels(text)`: how many of its letters are vowels (a, e, i, o, u, any case).",
        "topic": "strings",
        "hints": ["Loop over the letters and test `letter.lower() in 'aeiou'`."],
        "starter_code": "def count_vowels(text):\n    pass\n",
        "tests": [
            _test("a word", "print(count_vowels('banana'))", "3"),
            _test("capitals", "print(count_vowels('AEIOU xyz'))", "5"),
            _test("from input", "print(count_vowels(input()))", "0", stdin="rhythm\n", hidden=True),
        ],
        "solution": "def count_vowels(text):\n    return sum(1 for letter in text if letter.lower() in 'aeiou')\n",
    },
}


def load() -> str:
    teacher = accounts.find_user_by_email("teacher@studyhall.dev")
    if teacher is None:
        return "skipped (demo teacher missing)"
    now = store.now()
    added = 0
    for exercise_id, fields in DEMO_EXERCISES.items():
        ref = store.db().collection(EXERCISES).document(exercise_id)
        if ref.get().exists:
            continue
        ref.set(
            {
                "difficulty": "beginner",
                "language": "python",
                "time_limit_ms": 2000,
                "memory_limit_mb": 128,
                **fields,
                "author_id": teacher[0],
                # The demo school's (loaded first): its verified teachers hold these keys (shared.answers).
                "author_school_id": teacher[1].get("school_id"),
                "created_at": now,
                "updated_at": now,
            }
        )
        added += 1
    return f"{len(DEMO_EXERCISES)} beginner exercises ({added} added): " + ", ".join(DEMO_EXERCISES)
