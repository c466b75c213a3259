"""Demo learning paths for the local stack, authored by teacher@studyhall.dev through the area's
own authoring code (so every reference is checked as on the API):

- "Python: first programs": reading and video lessons, then the demo exercises
  (`demo-hello-world`, ... created by the exercises loader, which runs before this one; a
  missing exercise drops its lesson rather than failing the load);
- "Security+ in four weeks": readings and practice exams on the demo `security-plus` bank.

student@studyhall.dev is enrolled in both. Idempotent: fixed path ids, a second run changes
nothing."""

from __future__ import annotations

from typing import Any

from functions.paths import authoring, learning
from functions.paths.models import PathIn
from shared import accounts, store
from shared.collections import EXAM_TYPES, EXERCISES, PATHS

PYTHON_PATH_ID = "demo-python-first-programs"
SECURITY_PATH_ID = "demo-security-plus"
DEMO_EXERCISES = ["demo-hello-world", "demo-sum-two", "demo-fizzbuzz", "demo-reverse-words", "demo-count-vowels"]


def _reading(title: str, topic: str, minutes: int, body: str) -> dict[str, Any]:
    return {"title": title, "kind": "reading", "topic": topic, "duration_seconds": minutes * 60, "body": body}


def _video(title: str, topic: str, seconds: int, name: str, notes: str) -> dict[str, Any]:
    return {
        "title": title,
        "kind": "video",
        "topic": topic,
        "duration_seconds": seconds,
        # example.com is reserved for examples: the demo has no video host of its own.
        "video_url": f"https://example.com/studyhall-demo/{name}.mp4",
        "body": notes,
    }


def _exercise(title: str, exercise_id: str, minutes: int) -> dict[str, Any]:
    return {
        "title": title,
        "kind": "exercise",
        "topic": "python",
        "duration_seconds": minutes * 60,
        "exercise_id": exercise_id,
    }


def _practice(title: str, minutes: int, pass_score: int) -> dict[str, Any]:
    return {
        "title": title,
        "kind": "practice_exam",
        "topic": "security-plus",
        "duration_seconds": minutes * 60,
        "exam_type": "security-plus",
        "pass_score": pass_score,
    }


def python_path() -> dict[str, Any]:
    return {
        "title": "Python: first programs",
        "subject": "Programming",
        "description": "From printing a line to small text puzzles: read, watch, then write code the grader checks.",
        "interests": ["programming"],
        "modules": [
            {
                "title": "Talking to the computer",
                "lessons": [
                    _reading(
                        "What a program is",
                        "python",
                        4,
                        "A program is a list of instructions that the computer follows from top to bottom. "
                        "Python reads your file one line at a time and does what each line says.\n\n"
                        "The first instruction most people learn is `print`, which writes text to the "
                        'screen: `print("Hello")`. The quotes mark the text as a *string*, a piece of '
                        "text that Python does not try to interpret as code.",
                    ),
                    _video(
                        "Your first run",
                        "python",
                        240,
                        "python-first-run",
                        "Open a file, type one print statement, run it, read the output, change it, run again.",
                    ),
                    _exercise("Say hello", "demo-hello-world", 5),
                ],
            },
            {
                "title": "Numbers and decisions",
                "lessons": [
                    _reading(
                        "Reading input and doing sums",
                        "python",
                        6,
                        "`input()` reads one line typed by the user and always gives back a string. To do "
                        "arithmetic, turn it into a number first: `int(input())`.\n\n"
                        "Variables name values so you can use them later: `total = a + b`. Python "
                        "evaluates the right-hand side, then stores the result under the name on the left.",
                    ),
                    _exercise("Add two numbers", "demo-sum-two", 10),
                    _reading(
                        "if, elif, else",
                        "python",
                        6,
                        "A condition lets a program choose. `if n % 3 == 0:` runs the indented block only "
                        "when `n` divides by three. `elif` tries another condition when the first failed, "
                        "and `else` catches everything left. Order matters: the first true branch wins, so "
                        "put the most specific test first.",
                    ),
                    _exercise("FizzBuzz", "demo-fizzbuzz", 15),
                ],
            },
            {
                "title": "Working with text",
                "lessons": [
                    _video(
                        "Strings are sequences",
                        "python",
                        300,
                        "python-strings",
                        "Indexing, slicing with [::-1], split() and join(), and looping over characters.",
                    ),
                    _exercise("Reverse the words", "demo-reverse-words", 15),
                    _exercise("Count the vowels", "demo-count-vowels", 15),
                ],
            },
        ],
    }


def security_path() -> dict[str, Any]:
    return {
        "title": "Security+ in four weeks",
        "subject": "Security",
        "description": "Short readings on each exam domain, each followed by a practice exam on the demo bank.",
        "interests": ["cybersecurity"],
        "modules": [
            {
                "title": "General security concepts",
                "lessons": [
                    _reading(
                        "Kinds of controls",
                        "security-controls",
                        8,
                        "Controls are sorted two ways. By *category*: technical (firewalls, encryption), "
                        "managerial (policies, risk assessments), operational (guards, training) and "
                        "physical (locks, fences). By *type*: preventive controls stop an incident, "
                        "deterrent ones discourage it, detective ones notice it, corrective ones repair "
                        "the damage, and compensating ones stand in when the primary control cannot be "
                        "used. A login banner warns: it deters. A log review notices: it detects.",
                    ),
                    _video(
                        "Zero trust in ten minutes",
                        "zero-trust",
                        600,
                        "zero-trust",
                        "The control plane decides (policy engine, policy administrator); the data plane "
                        "enforces (policy enforcement point). Nothing is trusted for being on the inside.",
                    ),
                    _practice("Practice: general concepts", 20, 70),
                ],
            },
            {
                "title": "Threats, vulnerabilities and mitigations",
                "lessons": [
                    _reading(
                        "How attacks arrive",
                        "threats",
                        10,
                        "Most incidents start with a message: phishing by email, smishing by text, vishing "
                        "by phone. Others ride on what people trust: a compromised software update, a "
                        "watering-hole site the victims visit, a lookalike domain. Mitigations follow the "
                        "path of the attack: filter and label mail, train people to report rather than "
                        "click, patch promptly, and allow only the software you expect.",
                    ),
                    _practice("Practice: threats and mitigations", 30, 80),
                ],
            },
        ],
    }


def _only_existing_exercises(path: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Drop exercise lessons whose exercise is not there (and modules left empty)."""
    refs = [store.db().collection(EXERCISES).document(eid) for eid in DEMO_EXERCISES]
    present = {s.id for s in store.db().get_all(refs) if s.exists}
    skipped = 0
    modules = []
    for module in path["modules"]:
        lessons = [
            lesson for lesson in module["lessons"] if lesson["kind"] != "exercise" or lesson["exercise_id"] in present
        ]
        skipped += len(module["lessons"]) - len(lessons)
        if lessons:
            modules.append({**module, "lessons": lessons})
    return {**path, "modules": modules}, skipped


def load() -> str:
    teacher = accounts.find_user_by_email("teacher@studyhall.dev")
    student = accounts.find_user_by_email("student@studyhall.dev")
    if teacher is None:
        return "skipped (demo accounts missing)"
    now = store.now()
    made: list[str] = []
    notes: list[str] = []
    python, skipped = _only_existing_exercises(python_path())
    if skipped:
        notes.append(f"{skipped} exercise lessons skipped (exercises missing)")
    wanted = [(PYTHON_PATH_ID, python)]
    if store.db().collection(EXAM_TYPES).document("security-plus").get().exists:
        wanted.append((SECURITY_PATH_ID, security_path()))
    else:
        notes.append("Security+ path skipped (no security-plus bank)")
    for path_id, body in wanted:
        if not store.db().collection(PATHS).document(path_id).get().exists:
            authoring.create_path(teacher[0], PathIn.model_validate(body), now, path_id=path_id)
        if student is not None:
            learning.enroll(path_id, student[0], now)
        made.append(path_id)
    summary = f"{len(made)} paths ({', '.join(made)}), student@studyhall.dev enrolled (GET /api/v1/paths)"
    return summary + (f"; {'; '.join(notes)}" if notes else "")
