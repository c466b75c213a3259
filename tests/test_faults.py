"""Nothing lost, nothing doubled, whatever fails (issue 22).

For every event consumer and every route that writes (both found in the registry: a route or
consumer without a scenario fails `test_every_writer_has_a_scenario`), the happy path runs
once and its calls are counted: Firestore RPCs, Pub/Sub publishes, Storage calls, sandbox runs.
Then each run fails one of them (tests/faults.py) and lets the system recover as it would in
production: the client sends its request again when it got no success (at most RETRIES times),
Pub/Sub redelivers what a consumer failed, Eventarc the storage event, the outbox flush
publishes what was staged, the sweeps run. The end state (every document, normalised for ids,
tokens and times, and every stored object) must equal the happy path's.

`make test` runs one fault at every Firestore write (commit or batch write, the errors taking
turns), the first publish, the first Storage call and the first sandbox run of each scenario.
`STUDYHALL_FAULTS=full` runs the whole matrix (every call, each of UNAVAILABLE, ABORTED and
DEADLINE_EXCEEDED for Firestore) and writes docs/reliability.md:

    STUDYHALL_FAULTS=full STUDYHALL_TEST_PROJECT=studyhall-faults .venv/bin/pytest tests/test_faults.py -q

With `-k` (new scenarios, a fix) it replaces only the rows of the scenarios it ran.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import pytest
from PIL import Image
from pytest_mock import MockerFixture

from infra.local.emulators import clear_firestore
from infra.local.gateway import StorageWatcher
from infra.manifest import TEST_PORTS
from shared import store
from shared.config import settings
from shared.registry import load_all
from tests.conftest import PROJECT, ROOT
from tests.faults import FIRESTORE_ERRORS, KINDS, OTHER_ERRORS, Faults
from tests.support import PASSWORD, Api, JsonResponse, Stack
from tests.test_exercises import ADD, SOLUTION

FULL = os.environ.get("STUDYHALL_FAULTS") == "full"
RETRIES = 3
SEC = "security-plus"
TUTOR_BUCKET = f"{PROJECT}-tutor-index"  # set only while chat-index-rebuild's scenario runs
# The exercises suite's exercise, without its solution: writing it runs no sandbox.
EXERCISE: dict[str, Any] = {k: v for k, v in ADD.items() if k != "solution"}


# The world a scenario needs, built on demand through the API --------------------------------


class World:
    """Accounts and content, each made the first time a scenario asks for it (and its events
    delivered), so a run builds only what its scenario needs."""

    def __init__(self, api: Api, stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
        self.api, self.stack, self.monkeypatch = api, stack, monkeypatch
        self.counter = 0

    def drain(self) -> None:
        self.stack.drain()

    def made(self, path: str, body: Any, who: dict[str, Any], status: int = 201) -> dict[str, Any]:
        """What a POST by `who` answered, which must be `status`."""
        response = self.api.post(path, body, token=who["token"])
        assert response.status_code == status, response.json
        return dict(response.json)

    def account(self, email: str, role: str = "student") -> dict[str, Any]:
        made = self.api.register(email, role=role)
        self.drain()
        return {"id": made["user"]["id"], "token": made["access_token"], "refresh": made["refresh_token"]}

    @cached_property
    def admin(self) -> dict[str, Any]:
        made = self.api.admin()
        return {"id": made["user"]["id"], "token": made["access_token"]}

    @cached_property
    def teacher(self) -> dict[str, Any]:
        return self.account("teacher@example.com", "teacher")

    @cached_property
    def student(self) -> dict[str, Any]:
        return self.account("student@example.com")

    @cached_property
    def klass(self) -> dict[str, Any]:
        return self.made("/api/v1/teachers/classes", {"name": "Sec", "subject": "security"}, self.teacher)

    @cached_property
    def member(self) -> dict[str, Any]:
        """The student, in the teacher's class."""
        joined = self.api.post(
            f"/api/v1/students/{self.student['id']}/classes/join",
            {"class_code": self.klass["class_code"]},
            token=self.student["token"],
        )
        assert joined.status_code in (200, 201), joined.json
        self.drain()
        return self.student

    @cached_property
    def bank(self) -> list[str]:
        """Four questions of the demo exam type, written by the admin."""
        ids = []
        for i in range(4):
            body = {
                "exam_type": SEC,
                "question_id": f"Q{i}",
                "domain": "1.1",
                "question_text": "Which one?",  # alike: which ones a session draws is chance
                "options": {"A": "a", "B": "b", "C": "c", "D": "d"},
                "explanations": {"A": "Why a", "B": "Why b", "C": "Why c", "D": "Why d"},
                "correct_answer": "A",
            }
            ids.append(str(self.made("/api/v1/questions", body, self.admin)["id"]))
        return ids

    def exam_session(self, mode: str = "practice") -> dict[str, Any]:
        assert self.bank
        return self.made("/api/v1/exam-sessions", {"exam_type": SEC, "question_count": 2, "mode": mode}, self.student)

    @cached_property
    def session(self) -> dict[str, Any]:
        return self.exam_session()

    def answer_all(self, session: dict[str, Any]) -> None:
        for question in session["questions"]:
            answer = {"question_id": question["id"], "answer": "A"}
            response = self.api.post(
                f"/api/v1/exam-sessions/{session['id']}/answers", answer, token=self.student["token"]
            )
            assert response.status_code == 200, response.json

    @cached_property
    def exercise(self) -> dict[str, Any]:
        return self.made("/api/v1/exercises", EXERCISE, self.teacher)

    def submit(self, who: dict[str, Any] | None = None) -> dict[str, Any]:
        """A submission of the solution, by `who` (the student, in the class, by default)."""
        body = {"exercise_id": self.exercise["id"], "code": SOLUTION, "language": "python"}
        return self.made("/api/v1/submissions", body, who or self.member, 202)

    @cached_property
    def graded(self) -> dict[str, Any]:
        submission = self.submit()
        self.drain()
        return submission

    @cached_property
    def path(self) -> dict[str, Any]:
        """A reading lesson, then the exercise."""
        body = reading_path("Python")
        exercise = dict(
            title="Add", kind="exercise", topic="python", duration_seconds=600, exercise_id=self.exercise["id"]
        )
        body["modules"][0]["lessons"].append(exercise)
        return self.made("/api/v1/paths", body, self.teacher)

    @cached_property
    def enrolled(self) -> dict[str, Any]:
        response = self.api.post(f"/api/v1/paths/{self.path['id']}/enrollment", token=self.member["token"])
        assert response.status_code == 201, response.json
        return self.path

    def lesson(self, index: int) -> str:
        return str(self.path["modules"][0]["lessons"][index]["id"])

    @cached_property
    def chat(self) -> dict[str, Any]:
        return self.made("/api/v1/chat/sessions", {"topic": "sums"}, self.student)

    @cached_property
    def student_request(self) -> dict[str, Any]:
        body = {"class_id": self.klass["id"], "email": "kim@example.com", "first_name": "Kim", "last_name": "K"}
        return self.made("/api/v1/teachers/student-requests", body, self.teacher)

    def mailed_token(self, email: str, kind: str, param: str = "token") -> str:
        """The token of the last `kind` mail to `email`, from its link's `param`."""
        mails = [m.to_dict() or {} for m in store.db().collection("mail").stream()]
        texts = [m["message"]["text"] for m in mails if m.get("to") == [email] and kind in m["message"]["text"]]
        found = re.search(rf"{param}=([A-Za-z0-9_.\-]+)", texts[-1])
        assert found is not None
        return found.group(1).rstrip(".")  # a token has no dot at its end: the sentence's

    @cached_property
    def school(self) -> dict[str, Any]:
        return self.made("/api/v1/schools", {"name": "Hill School"}, self.admin)

    @cached_property
    def invitation(self) -> dict[str, Any]:
        """The teacher's invitation into the school, as a teacher (its mail queued)."""
        assert self.teacher
        body = {"email": "teacher@example.com", "role": "teacher"}
        return self.made(f"/api/v1/schools/{self.school['id']}/invitations", body, self.admin)

    @cached_property
    def staff(self) -> dict[str, Any]:
        """The teacher, a verified teacher of the school (the invitation accepted)."""
        token = self.invitation and self.mailed_token("teacher@example.com", "/join", "invitation")
        accepted = self.api.post("/api/v1/schools/invitations/accept", {"token": token}, token=self.teacher["token"])
        assert accepted.status_code == 200, accepted.json
        return self.teacher

    @cached_property
    def shared_index(self) -> str:
        """A bucket the tutor's index is shared through, empty (the rebuild job writes it)."""
        from google.cloud import storage

        from functions.chat.retrieval import CONTENT

        client = storage.Client(project=PROJECT)
        bucket = client.lookup_bucket(TUTOR_BUCKET) or client.create_bucket(TUTOR_BUCKET)
        for blob in bucket.list_blobs():
            blob.delete()
        self.monkeypatch.setattr(settings(), "tutor_index_bucket", TUTOR_BUCKET)
        CONTENT.forget()
        return TUTOR_BUCKET

    @cached_property
    def avatar(self) -> bytes:
        picture = io.BytesIO()
        Image.new("RGB", (32, 32), (200, 30, 30)).save(picture, format="PNG")
        return picture.getvalue()

    def run_job(self, name: str, after: object = None) -> None:
        """Run a scheduled job now (`after`: what must exist first)."""
        response = self.api.post(f"/api/v1/admin/jobs/{name}/run", token=self.admin["token"])
        assert response.status_code == 202, response.json


# Scenarios ------------------------------------------------------------------------------------


def reading_path(title: str) -> dict[str, Any]:
    """A path of one reading lesson."""
    lesson = {"title": "Why", "kind": "reading", "topic": "python", "duration_seconds": 60, "body": "Text."}
    return {"title": title, "subject": "Programming", "modules": [{"title": "Start", "lessons": [lesson]}]}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    token: str | None = None
    json: Any = None
    data: bytes | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class Scenario:
    """What a route or consumer does on its happy path. A route scenario prepares the world and
    answers the request to send; a consumer scenario prepares the world and leaves the events
    (or the stored object) that its function will receive pending."""

    name: str
    prepare: Callable[[World], Request | None]
    status: int | None = None  # a route's happy status


def route(method: str, path: str, status: int, prepare: Callable[[World], Request | None]) -> Scenario:
    return Scenario(f"{method} {path}", prepare, status)


def consumer(name: str, prepare: Callable[[World], object]) -> Scenario:
    """`prepare` leaves the events (or the stored object) pending; what it returns is not used."""

    def pending(world: World) -> None:
        prepare(world)

    return Scenario(name, pending)


def _student_path(w: World, tail: str) -> str:
    return f"/api/v1/students/{w.student['id']}{tail}"


def _bank_imported(w: World) -> None:
    from tests.test_imports import csv_bytes, row, upload

    rows = [row(f"I{i}", "1.1", "A") for i in range(3)]
    assert upload(w.api, w.admin["token"], SEC, csv_bytes(rows)).status_code == 202


def _expired_exam(w: World) -> None:
    session = w.exam_session("exam")
    store.db().collection("exam_sessions").document(session["id"]).update(
        {"deadline": datetime(2020, 1, 1, tzinfo=UTC)}
    )
    w.drain()
    w.run_job("exams-expire-sessions")


def _stale_submission(w: World) -> None:
    submission = w.submit()
    store.db().collection("submissions").document(submission["id"]).update(
        {"stale_at": datetime(2020, 1, 1, tzinfo=UTC)}
    )
    w.stack.purge()  # its grading event is lost: only the sweep can end it
    w.run_job("exercises-sweep")


def _parked_event(w: World) -> None:
    from shared.event_types import UserRegistered
    from shared.events import OUTBOX

    assert w.student
    batch = store.db().batch()
    from shared.events import publish_in

    publish_in(batch, "user.registered", UserRegistered(user_id=w.student["id"], role="student"), event_id="parked-1")
    batch.commit()
    store.db().collection(OUTBOX).document("parked-1").update({"due_at": datetime(2020, 1, 1, tzinfo=UTC)})
    w.run_job("ops-flush-outbox")


SCENARIOS: list[Scenario] = [
    # auth
    route(
        "POST",
        "/api/v1/auth/register",
        201,
        lambda w: Request(
            "POST",
            "/api/v1/auth/register",
            json={"email": "new@example.com", "password": PASSWORD, "first_name": "N", "last_name": "U"},
        ),
    ),
    route(
        "POST",
        "/api/v1/auth/login",
        200,
        lambda w: (
            Request("POST", "/api/v1/auth/login", json={"email": "student@example.com", "password": PASSWORD})
            if w.student
            else None
        ),
    ),
    route("POST", "/api/v1/auth/logout", 204, lambda w: Request("POST", "/api/v1/auth/logout", w.student["token"])),
    route(
        "POST",
        "/api/v1/auth/refresh",
        200,
        lambda w: Request("POST", "/api/v1/auth/refresh", json={"refresh_token": w.student["refresh"]}),
    ),
    route(
        "POST",
        "/api/v1/auth/change-password",
        200,
        lambda w: Request(
            "POST",
            "/api/v1/auth/change-password",
            w.student["token"],
            json={"current_password": PASSWORD, "new_password": "another long passphrase"},
        ),
    ),
    route(
        "POST",
        "/api/v1/auth/password-reset-request",
        202,
        lambda w: (
            Request("POST", "/api/v1/auth/password-reset-request", json={"email": "student@example.com"})
            if w.student
            else None
        ),
    ),
    route("POST", "/api/v1/auth/password-reset-confirm", 200, lambda w: _reset_confirm(w)),
    route("DELETE", "/api/v1/auth/sessions/{id}", 204, lambda w: _session_delete(w)),
    route(
        "POST",
        "/api/v1/auth/verify-email",
        200,
        lambda w: (
            Request(
                "POST",
                "/api/v1/auth/verify-email",
                json={"token": w.mailed_token("student@example.com", "verify-email")},
            )
            if w.student
            else None
        ),
    ),
    route(
        "POST",
        "/api/v1/auth/verify-email/resend",
        202,
        lambda w: Request("POST", "/api/v1/auth/verify-email/resend", w.student["token"]),
    ),
    route(
        "POST",
        "/api/v1/auth/firebase-token",
        200,
        lambda w: Request("POST", "/api/v1/auth/firebase-token", w.student["token"]),
    ),
    # chat
    route(
        "POST",
        "/api/v1/chat/sessions",
        201,
        lambda w: Request("POST", "/api/v1/chat/sessions", w.student["token"], json={"topic": "sums"}),
    ),
    route(
        "POST",
        "/api/v1/chat/sessions/{session_id}/messages",
        202,
        lambda w: Request(
            "POST",
            f"/api/v1/chat/sessions/{w.chat['id']}/messages",
            w.student["token"],
            json={"content": "How do I add?"},
        ),
    ),
    route(
        "POST",
        "/api/v1/chat/sessions/{session_id}/end",
        200,
        lambda w: Request("POST", f"/api/v1/chat/sessions/{w.chat['id']}/end", w.student["token"]),
    ),
    # schools
    route(
        "POST",
        "/api/v1/schools",
        201,
        lambda w: Request("POST", "/api/v1/schools", w.admin["token"], json={"name": "Hill School"}),
    ),
    route(
        "PATCH",
        "/api/v1/schools/{school_id}",
        200,
        lambda w: Request("PATCH", f"/api/v1/schools/{w.school['id']}", w.admin["token"], json={"name": "Dale"}),
    ),
    route(
        "POST",
        "/api/v1/schools/{school_id}/invitations",
        201,
        lambda w: Request(
            "POST",
            f"/api/v1/schools/{w.school['id']}/invitations",
            w.admin["token"],
            json={"email": "teacher@example.com", "role": "teacher"},
        ),
    ),
    route(
        "DELETE",
        "/api/v1/schools/{school_id}/invitations/{invitation_id}",
        204,
        lambda w: Request(
            "DELETE", f"/api/v1/schools/{w.school['id']}/invitations/{w.invitation['id']}", w.admin["token"]
        ),
    ),
    route(
        "POST",
        "/api/v1/schools/invitations/accept",
        200,
        lambda w: Request(
            "POST",
            "/api/v1/schools/invitations/accept",
            w.teacher["token"],
            json={"token": w.invitation and w.mailed_token("teacher@example.com", "/join", "invitation")},
        ),
    ),
    route(
        "PATCH",
        "/api/v1/schools/{school_id}/members/{user_id}",
        200,
        lambda w: Request(
            "PATCH",
            f"/api/v1/schools/{w.school['id']}/members/{w.staff['id']}",
            w.admin["token"],
            json={"role": "school_admin"},
        ),
    ),
    route(
        "DELETE",
        "/api/v1/schools/{school_id}/members/{user_id}",
        204,
        lambda w: Request("DELETE", f"/api/v1/schools/{w.school['id']}/members/{w.staff['id']}", w.admin["token"]),
    ),
    # classes
    route(
        "POST",
        "/api/v1/teachers/classes",
        201,
        lambda w: Request(
            "POST", "/api/v1/teachers/classes", w.teacher["token"], json={"name": "Sec", "subject": "security"}
        ),
    ),
    route(
        "PATCH",
        "/api/v1/classes/{class_id}",
        200,
        lambda w: Request("PATCH", f"/api/v1/classes/{w.klass['id']}", w.teacher["token"], json={"name": "Security"}),
    ),
    route(
        "DELETE",
        "/api/v1/classes/{class_id}",
        204,
        lambda w: Request("DELETE", f"/api/v1/classes/{w.klass['id']}", w.teacher["token"]) if w.member else None,
    ),
    route(
        "POST",
        "/api/v1/students/{student_id}/classes/join",
        201,
        lambda w: Request(
            "POST", _student_path(w, "/classes/join"), w.student["token"], json={"class_code": w.klass["class_code"]}
        ),
    ),
    route(
        "POST",
        "/api/v1/teachers/student-requests",
        201,
        lambda w: Request(
            "POST",
            "/api/v1/teachers/student-requests",
            w.teacher["token"],
            json={"class_id": w.klass["id"], "email": "kim@example.com", "first_name": "Kim", "last_name": "K"},
        ),
    ),
    route(
        "POST",
        "/api/v1/student-requests/{request_id}/approve",
        200,
        lambda w: Request("POST", f"/api/v1/student-requests/{w.student_request['id']}/approve", w.admin["token"]),
    ),
    route(
        "POST",
        "/api/v1/student-requests/{request_id}/reject",
        200,
        lambda w: Request(
            "POST", f"/api/v1/student-requests/{w.student_request['id']}/reject", w.admin["token"], json={}
        ),
    ),
    route(
        "DELETE",
        "/api/v1/classes/{class_id}/students/{student_id}",
        204,
        lambda w: Request("DELETE", f"/api/v1/classes/{w.klass['id']}/students/{w.member['id']}", w.teacher["token"]),
    ),
    # exams
    route("POST", "/api/v1/imports", 202, lambda w: _import_request(w)),
    route(
        "POST",
        "/api/v1/questions",
        201,
        lambda w: Request(
            "POST",
            "/api/v1/questions",
            w.admin["token"],
            json={
                "exam_type": SEC,
                "question_id": "N1",
                "domain": "1.1",
                "question_text": "New?",
                "options": {"A": "a", "B": "b", "C": "c", "D": "d"},
                "explanations": {"A": "1", "B": "2", "C": "3", "D": "4"},
                "correct_answer": "B",
            },
        ),
    ),
    route(
        "PATCH",
        "/api/v1/questions/{question_id}",
        200,
        lambda w: Request(
            "PATCH", f"/api/v1/questions/{w.bank[0]}", w.admin["token"], json={"question_text": "Changed?"}
        ),
    ),
    route(
        "DELETE",
        "/api/v1/questions/{question_id}",
        204,
        lambda w: Request("DELETE", f"/api/v1/questions/{w.bank[0]}", w.admin["token"]),
    ),
    route(
        "POST",
        "/api/v1/exam-sessions",
        201,
        lambda w: (
            Request(
                "POST",
                "/api/v1/exam-sessions",
                w.student["token"],
                json={"exam_type": SEC, "question_count": 2, "mode": "practice"},
            )
            if w.bank
            else None
        ),
    ),
    route(
        "POST",
        "/api/v1/exam-sessions/{session_id}/answers",
        200,
        lambda w: Request(
            "POST",
            f"/api/v1/exam-sessions/{w.session['id']}/answers",
            w.student["token"],
            json={"question_id": w.session["questions"][0]["id"], "answer": "A"},
        ),
    ),
    route("POST", "/api/v1/exam-sessions/{session_id}/submit", 200, lambda w: _submit_exam(w)),
    # exercises
    route(
        "POST",
        "/api/v1/exercises",
        201,
        lambda w: Request("POST", "/api/v1/exercises", w.teacher["token"], json=EXERCISE),
    ),
    route(
        "PUT",
        "/api/v1/exercises/{exercise_id}",
        200,
        lambda w: Request(
            "PUT", f"/api/v1/exercises/{w.exercise['id']}", w.teacher["token"], json={**EXERCISE, "title": "Add"}
        ),
    ),
    route(
        "DELETE",
        "/api/v1/exercises/{exercise_id}",
        204,
        lambda w: Request("DELETE", f"/api/v1/exercises/{w.exercise['id']}", w.teacher["token"]),
    ),
    route(
        "POST",
        "/api/v1/submissions",
        202,
        lambda w: Request(
            "POST",
            "/api/v1/submissions",
            w.member["token"],
            json={"exercise_id": w.exercise["id"], "code": SOLUTION, "language": "python"},
        ),
    ),
    route(
        "PUT",
        "/api/v1/submissions/{submission_id}/evaluate",
        200,
        lambda w: Request(
            "PUT",
            f"/api/v1/submissions/{w.graded['id']}/evaluate",
            w.teacher["token"],
            json={"score": 80, "feedback": "Good."},
        ),
    ),
    # ops
    route(
        "POST",
        "/api/v1/admin/jobs/{name}/run",
        202,
        lambda w: Request("POST", "/api/v1/admin/jobs/leaderboards-rebuild/run", w.admin["token"]),
    ),
    # paths
    route(
        "POST",
        "/api/v1/paths",
        201,
        lambda w: Request(
            "POST",
            "/api/v1/paths",
            w.teacher["token"],
            json=reading_path("Reading"),
        ),
    ),
    route(
        "PUT",
        "/api/v1/paths/{path_id}",
        200,
        lambda w: Request(
            "PUT",
            f"/api/v1/paths/{w.path['id']}",
            w.teacher["token"],
            json=reading_path("Python again"),
        ),
    ),
    route(
        "DELETE",
        "/api/v1/paths/{path_id}",
        204,
        lambda w: Request("DELETE", f"/api/v1/paths/{w.path['id']}", w.teacher["token"]),
    ),
    route(
        "POST",
        "/api/v1/paths/{path_id}/enrollment",
        201,
        lambda w: Request("POST", f"/api/v1/paths/{w.path['id']}/enrollment", w.student["token"]),
    ),
    route(
        "DELETE",
        "/api/v1/paths/{path_id}/enrollment",
        204,
        lambda w: Request("DELETE", f"/api/v1/paths/{w.enrolled['id']}/enrollment", w.member["token"]),
    ),
    route(
        "POST",
        "/api/v1/lessons/{lesson_id}/progress",
        200,
        lambda w: Request(
            "POST",
            f"/api/v1/lessons/{w.enrolled and w.lesson(0)}/progress",
            w.member["token"],
            json={"completed": True},
        ),
    ),
    # students and users
    route(
        "PUT",
        "/api/v1/students/{student_id}/interests",
        200,
        lambda w: Request(
            "PUT", _student_path(w, "/interests"), w.student["token"], json={"interest_ids": ["cybersecurity"]}
        ),
    ),
    route(
        "PATCH",
        "/api/v1/students/{student_id}",
        200,
        lambda w: Request("PATCH", _student_path(w, ""), w.student["token"], json={"first_name": "Sam"}),
    ),
    route(
        "PUT",
        "/api/v1/users/{id}/avatar",
        200,
        lambda w: Request(
            "PUT",
            f"/api/v1/users/{w.student['id']}/avatar",
            w.student["token"],
            data=w.avatar,
            content_type="image/png",
        ),
    ),
    route("DELETE", "/api/v1/users/{id}/avatar", 204, lambda w: _avatar_delete(w)),
    route(
        "PATCH",
        "/api/v1/users/{id}",
        200,
        lambda w: Request("PATCH", f"/api/v1/users/{w.member['id']}", w.student["token"], json={"bio": "Hello"}),
    ),
    route(
        "DELETE",
        "/api/v1/users/{id}",
        204,
        lambda w: Request("DELETE", f"/api/v1/users/{w.member['id']}", w.student["token"]),
    ),
    route(
        "PATCH",
        "/api/v1/users/{id}/status",
        200,
        lambda w: Request(
            "PATCH", f"/api/v1/users/{w.member['id']}/status", w.admin["token"], json={"status": "suspended"}
        ),
    ),
    # event consumers
    consumer("auth-on-user-registered", lambda w: w.api.register("late@example.com")),
    consumer("progress-on-user-registered", lambda w: w.api.register("late@example.com")),
    consumer("progress-on-exam-answered", lambda w: w.answer_all(w.session)),
    consumer("exams-on-answered", lambda w: w.answer_all(w.session)),
    consumer("progress-on-exam-completed", lambda w: _submit_exam(w, send=True)),
    consumer("paths-on-exam-completed", lambda w: _submit_exam(w, send=True)),
    consumer("exercises-grade", lambda w: w.submit()),
    consumer("progress-on-submission-graded", lambda w: w.submit()),
    consumer("paths-on-submission-graded", lambda w: w.enrolled and w.submit()),
    consumer("progress-on-lesson-completed", lambda w: _complete_reading(w)),
    consumer("progress-on-class-joined", lambda w: w.member),
    consumer("progress-on-class-left", lambda w: _leave_class(w)),
    consumer(
        "chat-reply",
        lambda w: (
            w.api.post(
                f"/api/v1/chat/sessions/{w.chat['id']}/messages", {"content": "How do I add?"}, token=w.student["token"]
            )
            and None
        ),
    ),
    consumer("exercises-on-class-joined", lambda w: (w.submit(w.student), w.member)),
    consumer("exercises-on-class-left", lambda w: _leave_class(w, after=w.graded)),
    consumer("exams-import-csv", _bank_imported),
    consumer("exams-expire-sessions", _expired_exam),
    consumer("exercises-sweep", _stale_submission),
    consumer("leaderboards-rebuild", lambda w: w.run_job("leaderboards-rebuild", after=w.member)),
    consumer("ops-flush-outbox", _parked_event),
    consumer("chat-index-rebuild", lambda w: w.run_job("chat-index-rebuild", after=(w.shared_index, w.path))),
]


def _reset_confirm(w: World) -> Request:
    assert w.student
    assert w.api.post("/api/v1/auth/password-reset-request", {"email": "student@example.com"}).status_code == 202
    w.drain()
    token = w.mailed_token("student@example.com", "reset")
    return Request(
        "POST", "/api/v1/auth/password-reset-confirm", json={"token": token, "new_password": "a new passphrase"}
    )


def _session_delete(w: World) -> Request:
    assert w.student
    second = w.api.login("student@example.com")
    sessions = w.api.get("/api/v1/auth/sessions", token=w.student["token"]).json["items"]
    other = next(s["id"] for s in sessions if not s.get("current"))
    assert second
    return Request("DELETE", f"/api/v1/auth/sessions/{other}", w.student["token"])


def _import_request(w: World) -> Request:
    from tests.test_imports import csv_bytes, row

    return Request(
        "POST",
        f"/api/v1/imports?exam_type={SEC}",
        w.admin["token"],
        data=csv_bytes([row(f"I{i}", "1.1", "A") for i in range(3)]),
        content_type="text/csv",
    )


def _submit_exam(w: World, *, send: bool = False) -> Request | None:
    w.answer_all(w.session)
    request = Request("POST", f"/api/v1/exam-sessions/{w.session['id']}/submit", w.student["token"])
    if send:
        assert w.api.post(request.path, token=request.token).status_code == 200
        return None
    return request


def _complete_reading(w: World) -> None:
    response = w.api.post(
        f"/api/v1/lessons/{w.enrolled and w.lesson(0)}/progress", {"completed": True}, token=w.member["token"]
    )
    assert response.status_code == 200, response.json


def _leave_class(w: World, after: object = None) -> None:
    """The student leaves the teacher's class (`after`: what must exist first)."""
    response = w.api.delete(f"/api/v1/classes/{w.klass['id']}/students/{w.member['id']}", token=w.teacher["token"])
    assert response.status_code == 204, response.json


def _avatar_delete(w: World) -> Request:
    path = f"/api/v1/users/{w.student['id']}/avatar"
    assert w.api.call("PUT", path, token=w.student["token"], data=w.avatar, content_type="image/png").status_code == 200
    return Request("DELETE", path, w.student["token"])


# The registry: every writer must have a scenario ----------------------------------------------


def writers() -> list[str]:
    """Every route method that writes (any method but GET) and every event or storage function."""
    names = []
    for spec in load_all().values():
        if spec.kind == "http":
            names += [f"{method} {spec.path}" for method in spec.spec.methods if method != "GET"]
        else:
            names.append(spec.name)
    return sorted(names)


BY_NAME = {s.name: s for s in SCENARIOS}


def test_every_writer_has_a_scenario() -> None:
    missing = sorted(set(writers()) - set(BY_NAME))
    assert not missing, f"add a scenario to tests/test_faults.py for: {missing}"
    assert not set(BY_NAME) - set(writers()), "a scenario for a route or consumer that is gone"


# Running one ------------------------------------------------------------------------------------

VOLATILE = [
    (re.compile(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}"), "<bcrypt>"),
    (re.compile(r"[0-9a-f]{32}"), "<id>"),
    (re.compile(r"[A-Za-z0-9_\-]{20,}"), "<token>"),
    (re.compile(r"\b[A-Z]{2,8}-[A-Z0-9]{3}-[A-Z0-9]{3}\b"), "<class-code>"),
    (re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)?"), "<time>"),
    # Which bank questions a session draws is chance; how many, and what follows, is not.
    (re.compile(r"\bQ\d\b"), "Q#"),
]
# Fields whose value is chance or bookkeeping of retries, not an outcome: a question's random
# sort key and index shard, a claim's attempt count, a measured duration, how many sessions this
# attempt ended (a retry finds them ended), how a retried import classes the rows it finds
# already written (created, then unchanged).
CHANCE = re.compile(r"^(rand|index_shard|attempts|\w+_ms|sessions_revoked|rows_(created|updated|unchanged))$")


def _normal(value: Any) -> Any:
    if isinstance(value, datetime):
        return "<time>"
    if isinstance(value, str):
        for pattern, placeholder in VOLATILE:
            value = pattern.sub(placeholder, value)
        return value
    if isinstance(value, dict):
        return {_normal(k): "<chance>" if CHANCE.match(str(k)) else _normal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):  # the order of asynchronous effects (badges) is not an outcome
        items = [_normal(v) for v in value]
        return sorted(items) if all(isinstance(v, str | int | float) for v in items) else items
    if isinstance(value, int) and value > 10**9:  # a clock reading kept as a number
        return "<clock>"
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def end_state() -> Counter[str]:
    """Every document (subcollections included) and stored object, normalised: what a user could
    notice, without the ids, tokens and times that differ from run to run."""
    from google.cloud import storage

    state: Counter[str] = Counter()

    def record(key: str, doc_id: str, data: Any) -> None:
        state[json.dumps([key, _normal(doc_id), _normal(data)], sort_keys=True, default=str)] += 1

    def walk(collection: Any, key: str) -> None:
        if collection.id == "shards":  # a sharded counter: which shard took an increment is chance
            totals: Counter[str] = Counter()
            for snapshot in collection.stream():
                totals.update({k: v for k, v in (snapshot.to_dict() or {}).items() if isinstance(v, int | float)})
            record(key, "<sum of shards>", dict(sorted(totals.items())))
            return
        if collection.id == "question_index":  # sharded too: which questions are indexed, per domain
            indexed: dict[str, set[str]] = {}
            for snapshot in collection.stream():
                data = snapshot.to_dict() or {}
                for domain, packed in (data.get("domains") or {}).items():
                    indexed.setdefault(f"{data.get('exam_type')} {domain}", set()).update(" ".join(packed).split())
            record(key, "<all shards>", {k: sorted(v) for k, v in sorted(indexed.items())})
            return
        for ref in collection.list_documents():
            snapshot = ref.get()
            if snapshot.exists:
                record(key, ref.id, snapshot.to_dict())
            for child in ref.collections():
                walk(child, f"{key}/*/{child.id}")

    for collection in store.db().collections():
        if collection.id not in IGNORED:
            walk(collection, collection.id)
    # An avatar object no user points at is an orphan nobody can find (avatar.py `_delete_quietly`
    # accepts it after a failed delete): not an outcome.
    pictures = {str((u.to_dict() or {}).get("avatar_object")) for u in store.db().collection("users").stream()}
    buckets = [settings().imports_bucket, settings().avatars_bucket, settings().tutor_index_bucket]
    for bucket in filter(None, buckets):  # the tutor's index bucket: only while its job's scenario runs
        for blob in storage.Client(project=PROJECT).bucket(bucket).list_blobs():
            if bucket == settings().avatars_bucket and blob.name not in pictures:
                continue
            passages = (blob.metadata or {}).get("passages")  # the tutor index's: what a reply can cite
            state[json.dumps([bucket, _normal(blob.name), blob.size, blob.content_type, passages])] += 1
    return state


# A retried request counts again against its caller's rate limit, as it should: not an outcome.
IGNORED = {"rate_limits"}


@dataclass
class Outcome:
    scenario: str
    fault: str
    equal: bool
    difference: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


@dataclass
class Runner:
    api: Api
    stack: Stack
    faults: Faults
    monkeypatch: pytest.MonkeyPatch
    watcher: StorageWatcher = field(init=False)

    def fresh(self) -> World:
        clear_firestore(PROJECT, TEST_PORTS["firestore"])
        self.stack.purge()
        self.stack.reset_storage()
        return World(self.api, self.stack, self.monkeypatch)

    def send(self, request: Request) -> JsonResponse:
        kwargs: dict[str, Any] = {"token": request.token}
        if request.json is not None:
            kwargs["json_body"] = request.json
        if request.data is not None:
            kwargs["data"] = request.data
            kwargs["content_type"] = request.content_type
        return self.api.call(request.method, request.path, **kwargs)

    def deliver_armed(self, function: str) -> Callable[..., int]:
        """The gateway's delivery, with the faults armed while `function` handles an event."""
        original = self.stack.gateway.deliver

        def deliver(name: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> int:
            if name != function:
                return original(name, path, body, headers)
            with self.faults.armed():
                return original(name, path, body, headers)

        return deliver

    def run(self, scenario: Scenario, mocker: MockerFixture) -> tuple[Counter[str], list[int]]:
        """Run the scenario (its faults as set), recover, and return the end state and the
        statuses the client saw. A consumer's faults are armed whenever it handles an event."""
        world = self.fresh()
        self.watcher = StorageWatcher(self.stack.gateway, settings().imports_bucket, ["exams-import-csv"])
        armed = mocker.patch.object(self.stack.gateway, "deliver", new=self.deliver_armed(scenario.name))
        try:
            request = scenario.prepare(world)
            statuses: list[int] = []
            if scenario.status is not None:
                assert request is not None
                world.drain()
                with self.faults.armed():
                    statuses.append(self.send(request).status_code)
                for _ in range(RETRIES):  # the client sends it again until it succeeds
                    if statuses[-1] == scenario.status:
                        break
                    statuses.append(self.send(request).status_code)
            self.recover()
        finally:
            mocker.stop(armed)
        return end_state(), statuses

    def recover(self) -> None:
        """Pub/Sub redelivers (the drain nacks a failed delivery and pulls it again), Eventarc
        delivers storage events again, the outbox flush publishes what is due (time passes: every
        staged event is due), the sweeps run; until nothing moves."""
        from functions.exercises import grading
        from shared.events import OUTBOX, flush_outbox

        outbox = store.db().collection(OUTBOX)
        for _ in range(RETRIES + 2):
            moved = self.watcher.poll_once() + self.stack.drain()
            for parked in outbox.stream():
                parked.reference.update({"due_at": datetime(2020, 1, 1, tzinfo=UTC)})
            moved += flush_outbox() + self.stack.drain() + grading.sweep(store.now())
            if moved == 0:
                break


def fault_plan(happy: Faults) -> list[tuple[str, int, str]]:
    """(kind, n, error name). Full mode: every Firestore call (the errors taking turns), every
    write with each of the three errors, every call of each other kind. Else one fault at every
    Firestore write (errors taking turns) and the first call of each other kind."""
    plan: list[tuple[str, int, str]] = []
    errors = list(FIRESTORE_ERRORS)
    if FULL:
        turns = {n: errors[(n - 1) % len(errors)] for n in range(1, happy.calls["firestore"] + 1)}
        plan += [("firestore", n, e) for n, e in turns.items()]
        plan += [("firestore", n, e) for n in happy.writes for e in errors if e != turns[n]]
        plan += [(k, n, k) for k in OTHER_ERRORS for n in range(1, happy.calls[k] + 1)]
    else:
        # A route that writes nothing to Firestore (it publishes, or signs a token): its first read.
        writes = happy.writes or ([1] if happy.calls["firestore"] else [])
        plan += [("firestore", n, errors[i % len(errors)]) for i, n in enumerate(writes)]
        plan += [(k, 1, k) for k in OTHER_ERRORS if happy.calls[k]]
    return plan


RESULTS: list[Outcome] = []
HAPPY_CALLS: dict[str, Counter[str]] = {}
REPORT = ROOT / "docs" / "reliability.md"
COMMAND = "STUDYHALL_FAULTS=full STUDYHALL_TEST_PROJECT=studyhall-faults .venv/bin/pytest tests/test_faults.py -q"


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest) -> Iterator[None]:
    """In full mode, write the figures of the whole matrix to docs/reliability.md; a run of some
    scenarios only (`-k`) replaces their rows of the page and keeps the others'."""
    started = time.monotonic()
    yield
    if FULL and RESULTS:
        minutes = (time.monotonic() - started) / 60
        rows = scenario_rows()
        if set(rows) == set(BY_NAME):
            REPORT.write_text(reliability_page(minutes, rows))
        else:
            REPORT.write_text(rerun_page(REPORT.read_text(), minutes, rows, str(request.config.option.keyword)))


def scenario_rows() -> dict[str, str]:
    """The table row of each scenario this run: its happy-path calls and its faults' outcomes."""
    by_scenario: dict[str, list[Outcome]] = {}
    for outcome in RESULTS:
        by_scenario.setdefault(outcome.scenario, []).append(outcome)
    rows = {}
    for name, outcomes in by_scenario.items():
        calls = HAPPY_CALLS.get(name, Counter())
        retried = sum(1 for o in outcomes if len(o.statuses) > 1)
        differing = [o.fault for o in outcomes if not o.equal]
        rows[name] = (
            f"| {name} | {' / '.join(str(calls[k]) for k in KINDS)} | {len(outcomes)} | {retried} | "
            f"{len(outcomes) - len(differing)} | {', '.join(differing) or '-'} |"
        )
    return rows


def totals_line(rows: list[str]) -> str:
    """The page's bold summary, from its table rows (faults in the third column, equal in the fifth)."""
    cells = [row.split(" | ") for row in rows]
    faults, equal = sum(int(c[2]) for c in cells), sum(int(c[4]) for c in cells)
    summary = (
        f"{faults} faults injected into {len(rows)} scenarios: {equal} equal to the happy path, {faults - equal} not"
    )
    return f"**{summary}.**"


def rerun_page(page: str, minutes: float, rows: dict[str, str], keyword: str) -> str:
    """The page with the rows of the scenarios just run replaced (or added), the others' kept
    from the run that wrote them, the totals counted again and the re-run named under the run's
    line; what this run found that differs goes after what the page said already."""
    lines = page.rstrip("\n").split("\n")
    table = [
        i for i, line in enumerate(lines) if line.startswith("| ") and not line.startswith(("| scenario", "| ---"))
    ]
    first, last = table[0], table[-1]  # the table's header and its rule are the two lines above
    kept = {line.split(" | ")[0][2:]: line for line in lines[first : last + 1]}
    merged = [row for _, row in sorted({**kept, **rows}.items())]
    header = lines[: first - 2]
    ran = max(i for i, line in enumerate(header) if line.startswith(("Run ", "Re-run ")))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rerun = f"Re-run {when}, {minutes:.1f} min, the rows of {', '.join(sorted(rows))} only: `{COMMAND} -k '{keyword}'`."
    header = [*header[: ran + 1], rerun, *header[ran + 1 :]]
    header = [totals_line(merged) if line.startswith("**") else line for line in header]
    found = differences()
    return (
        "\n".join([*header, *lines[first - 2 : first], *merged, *lines[last + 1 :], *([""] if found else []), *found])
        + "\n"
    )


def reliability_page(minutes: float, rows: dict[str, str]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    table = [rows[name] for name in sorted(rows)]
    return "\n".join(
        [
            "# Reliability: faults injected, outcomes",
            "",
            "Written by the fault-injection suite (`tests/test_faults.py`, issue 22) in full mode:",
            "",
            f"    {COMMAND}",
            "",
            f"Run {when}, {minutes:.1f} min on the real emulators (2 shared cores).",
            "",
            "Every event consumer and every route that writes (found in the registry) runs its happy path,",
            "which counts its calls; then each run fails one of them: every Firestore RPC in turn (UNAVAILABLE,",
            "ABORTED and DEADLINE_EXCEEDED taking turns), every Firestore write (commit) with each of the three,",
            "every Pub/Sub publish, every Storage call and every sandbox run. The client then sends its",
            "request again when it got no success (at most",
            f"{RETRIES} times), Pub/Sub redelivers what failed, Eventarc the storage event, the outbox flush",
            "publishes what is due and the grading sweep runs. The outcome is **equal** when every document",
            "and stored object (normalised for ids, tokens, times and chance) is the happy path's: nothing",
            "lost, nothing doubled. `make test` runs a subset: one fault at every Firestore write (errors",
            "taking turns), the first publish, Storage call and sandbox run of each scenario.",
            "",
            totals_line(table),
            "",
            "| scenario | happy-path calls: Firestore / Pub/Sub / Storage / sandbox | faults | retried by the client |"
            " equal | not equal |",
            "| --- | --- | ---: | ---: | ---: | --- |",
            *table,
            "",
            *differences(),
        ]
    )


def differences() -> list[str]:
    """What each outcome that is not the happy path's differs in (its first documents), and the
    statuses its client saw; also an equal end state whose client never got the happy status."""
    unequal = [o for o in RESULTS if not o.equal or (o.statuses and o.statuses[-1] != BY_NAME[o.scenario].status)]
    if not unequal:
        return []
    lines = ["## Not equal (state, or the status the client ended with)", ""]
    for o in unequal:
        shown = "; ".join(d[:160] for d in o.difference[:2]).replace("|", "/")
        lines.append(f"- {o.scenario}, {o.fault}, statuses {o.statuses}: `{shown}`")
    return [*lines, ""]


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
def test_nothing_lost_nothing_doubled(
    api: Api, stack: Stack, mocker: MockerFixture, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    scenario = BY_NAME[name]
    faults = Faults(mocker).install()
    runner = Runner(api, stack, faults, monkeypatch)
    happy, statuses = runner.run(scenario, mocker)
    assert scenario.status is None or statuses == [scenario.status], statuses
    plan = fault_plan(faults)
    HAPPY_CALLS[name] = Counter(faults.calls)
    assert plan or not faults.calls, "a writer with calls to fail has a plan"
    failures = []
    for kind, n, error in plan:
        faults.reset()
        faults.fail(kind, n, FIRESTORE_ERRORS.get(error) or OTHER_ERRORS[error])
        state, statuses = runner.run(scenario, mocker)
        lost = sorted((happy - state).keys())
        extra = sorted((state - happy).keys())
        outcome = Outcome(
            name,
            f"{kind} #{n} {error}",
            not lost and not extra,
            [*("lost " + x for x in lost), *("extra " + x for x in extra)],
            statuses,
        )
        RESULTS.append(outcome)
        if not outcome.equal or (scenario.status is not None and statuses[-1] != scenario.status):
            failures.append(outcome)
    assert not failures, "\n".join(f"{f.fault}: {f.statuses} {[d[:400] for d in f.difference[:12]]}" for f in failures)
