"""Coding exercises: authoring (teachers and admins), listing and reading them.

Firestore layout (budgets in docs/exercises.md):
  exercises/{id}    the exercise with its tests and solution; students see a redacted view
  submissions/{id}  one graded attempt (submissions.py, grading.py)
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from functions.exercises import judge
from functions.exercises.models import ExerciseOut, TestCaseOut
from shared import answers, store
from shared.auth import Principal, new_id
from shared.collections import EXERCISES
from shared.errors import Forbidden, NotFound, ValidationFailed
from shared.registry import composite_index

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
NEWEST = ("created_at", store.DESCENDING)

BY_TOPIC = composite_index(EXERCISES, ("topic", "ASCENDING"), ("created_at", "DESCENDING"))
BY_DIFFICULTY = composite_index(EXERCISES, ("difficulty", "ASCENDING"), ("created_at", "DESCENDING"))
BY_TOPIC_DIFFICULTY = composite_index(
    EXERCISES, ("topic", "ASCENDING"), ("difficulty", "ASCENDING"), ("created_at", "DESCENDING")
)


def exercise_ref(exercise_id: str) -> Any:
    if not _ID.match(exercise_id):
        raise NotFound("No such exercise.")
    return store.db().collection(EXERCISES).document(exercise_id)


def exercise_out(exercise_id: str, data: dict[str, Any], viewer: Principal) -> ExerciseOut:
    # The solution and hidden tests: its author, verified teachers of its school, admins.
    full = answers.exercise_key_holder(answers.Viewer.of(viewer), data)
    tests = []
    for test in data.get("tests", []):
        shown = full or not test.get("hidden")
        tests.append(
            TestCaseOut(
                name=test["name"],
                hidden=bool(test.get("hidden")),
                weight=float(test.get("weight", 1)),
                stdin=test.get("stdin", "") if shown else None,
                code=test.get("code", "") if shown else None,
                expected_output=test["expected_output"] if shown else None,
            )
        )
    return ExerciseOut(
        id=exercise_id,
        title=data["title"],
        description=data["description"],
        topic=data["topic"],
        difficulty=data["difficulty"],
        language=data.get("language", "python"),
        starter_code=data.get("starter_code", ""),
        hints=list(data.get("hints", [])),
        time_limit_ms=int(data.get("time_limit_ms", 2000)),
        memory_limit_mb=int(data.get("memory_limit_mb", 128)),
        tests=tests,
        solution=data.get("solution") if full else None,
        author_id=data["author_id"],
        created_at=data["created_at"],
        updated_at=data["updated_at"],
    )


def _failure(judged: judge.Judged) -> str:
    message = f"Test '{judged.name}' fails: {judged.verdict}."
    return f"{message} {judged.error}" if judged.error else message


def check_solution(fields: dict[str, Any]) -> None:
    """A solution given must pass every one of its exercise's tests (else 422 naming them)."""
    solution = fields.get("solution")
    if not solution:
        return
    failing = [j for j in judge.run_exercise(solution, fields) if not j.passed]
    if failing:
        raise ValidationFailed(
            "The solution does not pass every test.",
            details=[{"field": "solution", "message": _failure(j)} for j in failing],
        )


def create_exercise(fields: dict[str, Any], author: Principal, now: datetime) -> ExerciseOut:
    check_solution(fields)
    exercise_id = new_id()
    # The school that vouched for the author when they wrote it: its verified teachers hold the key.
    data = {
        **fields,
        "author_id": author.user_id,
        "author_school_id": author.school_id,
        "created_at": now,
        "updated_at": now,
    }
    exercise_ref(exercise_id).create(data)
    return exercise_out(exercise_id, data, author)


def _owned(exercise_id: str, principal: Principal) -> tuple[Any, dict[str, Any]]:
    ref = exercise_ref(exercise_id)
    data = ref.get().to_dict()
    if data is None:
        raise NotFound("No such exercise.")
    if not (principal.is_admin or data.get("author_id") == principal.user_id):
        raise Forbidden("Only the exercise's author or an admin may change it.")
    return ref, data


def get_exercise(exercise_id: str, viewer: Principal) -> ExerciseOut:
    data = exercise_ref(exercise_id).get().to_dict()
    if data is None:
        raise NotFound("No such exercise.")
    return exercise_out(exercise_id, data, viewer)


def update_exercise(exercise_id: str, fields: dict[str, Any], principal: Principal, now: datetime) -> ExerciseOut:
    """Replace the exercise (PUT): the author and creation time stay."""
    ref, before = _owned(exercise_id, principal)
    check_solution(fields)
    # The author's edit moves the exercise to their school of now; an admin's keeps it where it is.
    school_id = principal.school_id if principal.user_id == before["author_id"] else before.get("author_school_id")
    data = {
        **fields,
        "author_id": before["author_id"],
        "author_school_id": school_id,
        "created_at": before["created_at"],
        "updated_at": now,
    }
    ref.set(data)
    return exercise_out(exercise_id, data, principal)


def delete_exercise(exercise_id: str, principal: Principal) -> None:
    """The exercise goes; its submissions stay in their authors' history."""
    ref, _ = _owned(exercise_id, principal)
    ref.delete()


def list_exercises(
    topic: str | None, difficulty: str | None, limit: int, cursor: str | None, viewer: Principal
) -> store.Page:
    collection = store.db().collection(EXERCISES)
    query: Any = collection
    if topic:
        query = query.where(filter=store.eq("topic", topic))
    if difficulty:
        query = query.where(filter=store.eq("difficulty", difficulty))
    return store.paginate(
        query, collection, [NEWEST], limit, cursor, lambda s: exercise_out(s.id, s.to_dict() or {}, viewer)
    )
