"""Firestore operations per endpoint: one walk through the API as its users would take it
(an admin, a teacher, a student), each request's reads and writes read from X-Firestore-Ops.

Run through `make bench`, or alone with the emulators up: `.venv/bin/python -m bench.operations`.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("STUDYHALL_BENCH_PROJECT", "studyhall-bench-ops")
from bench.environment import BENCH_PROJECT, configure

configure()
os.environ["STUDYHALL_BCRYPT_ROUNDS"] = "4"  # operations are counted here, not hashing time


def main() -> None:
    from infra.local import demo_exams
    from infra.local.emulators import clear_firestore
    from infra.manifest import TEST_PORTS
    from tests.support import PASSWORD, Api, Stack, ops

    clear_firestore(BENCH_PROJECT, TEST_PORTS["firestore"])
    stack = Stack.start(BENCH_PROJECT)
    stack.purge()
    api = Api(stack.gateway)
    demo_exams.load()
    rows: list[tuple[str, str, dict[str, int], int]] = []

    def record(method: str, path: str, response: Any) -> Any:
        function = stack.gateway.route(path.split("?")[0]) or "?"
        rows.append((f"{method} {path.split('?')[0]}", function, ops(response), response.status_code))
        return response

    def call(method: str, path: str, token: str | None = None, body: Any = None) -> Any:
        return record(method, path, api.call(method, path, token=token, json_body=body))

    admin = api.admin()["access_token"]
    reg = call(
        "POST",
        "/api/v1/auth/register",
        body={
            "email": "sam@example.com",
            "password": PASSWORD,
            "first_name": "Sam",
            "last_name": "S",
            "grade_level": 10,
        },
    )
    student, student_id = reg.json["access_token"], reg.json["user"]["id"]
    login = call("POST", "/api/v1/auth/login", body={"email": "sam@example.com", "password": PASSWORD})
    call("GET", "/api/v1/auth/me", student)
    call("POST", "/api/v1/auth/refresh", body={"refresh_token": login.json["refresh_token"]})
    call("GET", "/api/v1/auth/sessions", student)
    teacher = api.register("tess@example.com", role="teacher")["access_token"]
    created = call("POST", "/api/v1/teachers/classes", teacher, {"name": "Sec+", "subject": "Security"})
    class_id = created.json["id"]
    call("POST", f"/api/v1/students/{student_id}/classes/join", student, {"class_code": created.json["class_code"]})
    call("GET", f"/api/v1/classes/{class_id}/students", teacher)
    call("GET", f"/api/v1/students/{student_id}", teacher)
    call("GET", "/api/v1/exams", student)
    session = call(
        "POST",
        "/api/v1/exam-sessions",
        student,
        {"exam_type": "security-plus", "question_count": 10, "mode": "practice"},
    ).json
    for question in session["questions"]:
        call(
            "POST",
            f"/api/v1/exam-sessions/{session['id']}/answers",
            student,
            {"question_id": question["id"], "answer": "A"},
        )
    call("POST", f"/api/v1/exam-sessions/{session['id']}/submit", student)
    call("GET", f"/api/v1/users/{student_id}/weak-areas", student)
    stack.drain()
    call("GET", f"/api/v1/students/{student_id}/progress", student)
    call("GET", f"/api/v1/users/{student_id}/badges", student)
    call("POST", "/api/v1/admin/jobs/leaderboards-rebuild/run", admin)
    stack.drain()
    call("GET", "/api/v1/leaderboards/global", student)
    call("GET", f"/api/v1/analytics/students/{student_id}", teacher)
    call("GET", f"/api/v1/analytics/classes/{class_id}", teacher)
    teacher_id = created.json["teacher_id"]
    call("GET", f"/api/v1/teachers/{teacher_id}/dashboard", teacher)
    call("GET", "/api/v1/users?limit=20", admin)
    call("GET", "/api/v1/audit-logs?limit=20", admin)
    call("POST", "/api/v1/auth/logout", student)

    # One line per route: the first call, and the spread when it was called more than once.
    seen: dict[str, list[tuple[str, dict[str, int], int]]] = {}
    for route, function, counts, status in rows:
        seen.setdefault(route if "/answers" not in route else "POST /api/v1/exam-sessions/{id}/answers", []).append(
            (function, counts, status)
        )
    print("Every request below includes the one read that authenticates it (where signed in). Per-IP limits")
    print("are off here (each adds one write in production); the exam bank is the 160-question demo bank.\n")
    print("| request | function | status | reads | writes | deletes |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for route, calls in seen.items():
        function, counts, status = calls[0]
        note = f" (x{len(calls)})" if len(calls) > 1 else ""
        label = route
        for value, name in (
            (student_id, "{student}"),
            (class_id, "{class}"),
            (session["id"], "{session}"),
            (teacher_id, "{teacher}"),
        ):
            label = label.replace(value, name)
        print(
            f"| {label}{note} | {function} | {status} | {counts['reads']} | {counts['writes']} | {counts['deletes']} |"
        )


if __name__ == "__main__":
    main()
