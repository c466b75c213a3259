"""Classes: creation with unique join codes, listing, editing, archiving, joining, the roster,
student account requests and the teacher dashboard; every foreign attempt refused."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

# google-cloud-pubsub ships no type information (no py.typed).
from google.cloud import pubsub_v1
from pytest_mock import MockerFixture

from functions.classes import service
from shared import store
from shared.auth import hash_token
from shared.emails import email_key
from tests.support import Api, Stack, fields, ops

CODE = re.compile(r"^[A-Z]{2,4}-[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{3}-[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{3}$")


# Helpers (imported by test_students.py too) -------------------------------------------------------


class Person:
    def __init__(self, tokens: dict[str, Any]) -> None:
        self.token: str = tokens["access_token"]
        self.id: str = tokens["user"]["id"]
        self.email: str = tokens["user"]["email"]


def person(api: Any, email: str, role: str = "student", **extra: Any) -> Person:
    return Person(api.register(email, role=role, **extra))


def admin(api: Any) -> Person:
    return Person(api.admin())


def new_class(api: Any, teacher: Person, name: str = "Algebra I", subject: str = "Mathematics") -> dict[str, Any]:
    response = api.post("/api/v1/teachers/classes", {"name": name, "subject": subject}, token=teacher.token)
    assert response.status_code == 201, response.json
    return dict(response.json)


def join(api: Any, student: Person, code: str) -> Any:
    return api.post(f"/api/v1/students/{student.id}/classes/join", {"class_code": code}, token=student.token)


def doc(collection: str, doc_id: str) -> dict[str, Any] | None:
    return store.db().collection(collection).document(doc_id).get().to_dict()


def existing(collection: str, doc_id: str) -> dict[str, Any]:
    """A stored document the test expects to be there."""
    found = doc(collection, doc_id)
    assert found is not None, f"{collection}/{doc_id}"
    return found


def count(collection: str) -> int:
    return len(list(store.db().collection(collection).stream()))


@pytest.fixture
def listen(stack: Any) -> Iterator[Any]:
    """Pull subscriptions on event topics: what a consumer of our events would receive."""
    subscriber = pubsub_v1.SubscriberClient()
    made: list[str] = []

    def subscribe(topic: str) -> Any:
        path = subscriber.subscription_path(stack.project, f"test-classes-{uuid.uuid4().hex[:12]}")
        subscriber.create_subscription(request={"name": path, "topic": f"projects/{stack.project}/topics/{topic}"})
        made.append(path)

        def received() -> list[dict[str, Any]]:
            response = subscriber.pull(request={"subscription": path, "max_messages": 50}, timeout=10)
            if response.received_messages:
                subscriber.acknowledge(
                    request={"subscription": path, "ack_ids": [m.ack_id for m in response.received_messages]}
                )
            return [json.loads(m.message.data)["data"] for m in response.received_messages]

        return received

    yield subscribe
    for path in made:
        subscriber.delete_subscription(request={"subscription": path})
    subscriber.close()


# Creating classes ---------------------------------------------------------------------------------


def test_teacher_creates_class_with_readable_unique_code(api: Api) -> None:
    teacher = person(api, "t@example.com", "teacher")
    response = api.post(
        "/api/v1/teachers/classes",
        {"name": "Algebra I", "subject": "Mathematics", "description": "Period 3", "grade_levels": [10, 9]},
        token=teacher.token,
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert CODE.match(body["class_code"]) and body["class_code"].startswith("MATH-")
    assert body["teacher_id"] == teacher.id
    assert body["status"] == "active" and body["student_count"] == 0
    assert body["grade_levels"] == [9, 10]
    stored = doc("classes", body["id"])
    assert stored is not None and stored["class_code"] == body["class_code"]
    assert doc("class_codes", body["class_code"]) == {
        "class_id": body["id"],
        "teacher_id": teacher.id,
        "created_at": stored["created_at"],
    }
    assert ops(response) == {"reads": 1, "writes": 2, "deletes": 0}


@pytest.mark.parametrize(
    "body",
    [
        {"subject": "Math"},
        {"name": "", "subject": "Math"},
        {"name": "A", "subject": "Math", "grade_levels": [8]},
        {"name": "A", "subject": "Math", "grade_levels": [9, 9]},
        {"name": "A", "subject": "Math", "teacher_id": "someone-else"},
        {"name": "A" * 101, "subject": "Math"},
        {"name": "A", "subject": "Math", "class_code": "MATH-AAA-AAA"},
    ],
)
def test_bad_class_input_is_refused_and_writes_nothing(api: Api, body: dict[str, Any]) -> None:
    teacher = person(api, "t@example.com", "teacher")
    response = api.post("/api/v1/teachers/classes", body, token=teacher.token)
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "validation_error"
    assert count("classes") == 0 and count("class_codes") == 0


def test_only_teachers_create_classes(api: Api) -> None:
    student = person(api, "s@example.com")
    assert (
        api.post("/api/v1/teachers/classes", {"name": "A", "subject": "Math"}, token=student.token).status_code == 403
    )
    assert api.post("/api/v1/teachers/classes", {"name": "A", "subject": "Math"}).status_code == 401
    assert count("classes") == 0


def test_codes_unique_when_many_classes_are_created_at_once(stack: Stack) -> None:
    now = store.now()

    def create(n: int) -> Any:
        return service.create_class(
            teacher_id="t1", name=f"Class {n}", subject="Biology", description="", grade_levels=[], now=now
        )

    with ThreadPoolExecutor(max_workers=16) as pool:
        created = list(pool.map(create, range(40)))
    codes = {c.class_code for c in created}
    assert len(codes) == 40 and all(CODE.match(c) and c.startswith("BIOL-") for c in codes)
    stored = {s.id: fields(s)["class_id"] for s in store.db().collection("class_codes").stream()}
    assert stored == {c.class_code: c.id for c in created}


def test_colliding_codes_are_redrawn_under_concurrency(stack: Stack, mocker: MockerFixture) -> None:
    """Fault injection: every class's first draw is the same code; exactly one keeps it, the
    others draw again and every class is created with a code of its own."""
    lock = threading.Lock()
    draws = {"n": 0}
    seen = threading.local()

    def suffix() -> str:
        if not getattr(seen, "drawn", False):
            seen.drawn = True
            return "AAA-AAA"
        with lock:
            draws["n"] += 1
            return f"Z{draws['n']:02d}-QQQ"

    mocker.patch.object(service, "random_suffix", side_effect=suffix)
    now = store.now()
    with ThreadPoolExecutor(max_workers=12) as pool:
        created = list(
            pool.map(
                lambda n: service.create_class(
                    teacher_id="t1", name=f"C{n}", subject="Math", description="", grade_levels=[], now=now
                ),
                range(12),
            )
        )
    codes = [c.class_code for c in created]
    assert len(set(codes)) == 12
    assert codes.count("MATH-AAA-AAA") == 1
    assert count("classes") == 12 and count("class_codes") == 12


# Listing, reading, editing, archiving -----------------------------------------------------------


def test_teacher_lists_own_classes_paged_never_anothers(api: Api) -> None:
    teacher, other = person(api, "t@example.com", "teacher"), person(api, "o@example.com", "teacher")
    names = [new_class(api, teacher, f"Class {n}")["name"] for n in range(3)]
    new_class(api, other, "Other's class")

    first = api.get(f"/api/v1/teachers/{teacher.id}/classes?limit=2", token=teacher.token)
    assert first.status_code == 200, first.json
    assert [c["name"] for c in first.json["items"]] == names[::-1][:2]
    assert first.json["next_cursor"]
    assert ops(first)["reads"] <= 1 + 3
    second = api.get(
        f"/api/v1/teachers/{teacher.id}/classes?limit=2&cursor={first.json['next_cursor']}", token=teacher.token
    )
    assert [c["name"] for c in second.json["items"]] == [names[0]]
    assert second.json["next_cursor"] is None

    assert api.get(f"/api/v1/teachers/{teacher.id}/classes", token=other.token).status_code == 403
    student = person(api, "s@example.com")
    assert api.get(f"/api/v1/teachers/{teacher.id}/classes", token=student.token).status_code == 403
    boss = admin(api)
    assert len(api.get(f"/api/v1/teachers/{teacher.id}/classes", token=boss.token).json["items"]) == 3
    bad = api.get(f"/api/v1/teachers/{teacher.id}/classes?cursor=nonsense", token=teacher.token)
    assert bad.status_code == 404  # a cursor's form, issued by no list: no such page
    assert api.get(f"/api/v1/teachers/{teacher.id}/classes?limit=101", token=teacher.token).status_code == 422


def test_get_edit_archive_own_class_only(api: Api) -> None:
    teacher, other = person(api, "t@example.com", "teacher"), person(api, "o@example.com", "teacher")
    student = person(api, "s@example.com")
    klass = new_class(api, teacher)
    path = f"/api/v1/classes/{klass['id']}"

    got = api.get(path, token=teacher.token)
    assert got.status_code == 200 and got.json == klass
    assert ops(got) == {"reads": 2, "writes": 0, "deletes": 0}

    # Another teacher neither sees nor changes it; a student has no business here.
    for method, body in (("GET", None), ("PATCH", {"name": "Mine now"}), ("DELETE", None)):
        assert api.call(method, path, token=other.token, json_body=body).status_code == 404
        assert api.call(method, path, token=student.token, json_body=body).status_code == 403
    assert existing("classes", klass["id"])["name"] == "Algebra I"

    assert api.patch(path, {}, token=teacher.token).status_code == 422
    assert api.patch(path, {"class_code": "MATH-AAA-AAA"}, token=teacher.token).status_code == 422
    assert api.patch(path, {"name": None}, token=teacher.token).status_code == 422
    edited = api.patch(path, {"name": "Algebra II", "grade_levels": [11]}, token=teacher.token)
    assert edited.status_code == 200, edited.json
    assert edited.json["name"] == "Algebra II" and edited.json["grade_levels"] == [11]
    assert edited.json["class_code"] == klass["class_code"]
    assert ops(edited) == {"reads": 2, "writes": 1, "deletes": 0}
    assert existing("classes", klass["id"])["name"] == "Algebra II"

    archived = api.delete(path, token=teacher.token)
    assert archived.status_code == 204
    assert ops(archived) == {"reads": 2, "writes": 1, "deletes": 0}
    assert existing("classes", klass["id"])["status"] == "archived"
    assert api.delete(path, token=teacher.token).status_code == 204  # idempotent
    assert api.patch(path, {"name": "Late"}, token=teacher.token).status_code == 409
    listed = api.get(f"/api/v1/teachers/{teacher.id}/classes", token=teacher.token).json["items"]
    assert listed == []
    archived_list = api.get(f"/api/v1/teachers/{teacher.id}/classes?status=archived", token=teacher.token)
    assert [c["id"] for c in archived_list.json["items"]] == [klass["id"]]
    assert api.get("/api/v1/classes/no-such-class", token=teacher.token).status_code == 404


# Joining and the roster ----------------------------------------------------------------------------


def test_student_joins_once_with_forgiving_code(api: Api, listen: Any) -> None:
    joined_events = listen("class.joined")
    teacher = person(api, "t@example.com", "teacher")
    student = person(api, "s@example.com", first_name="Sam")
    klass = new_class(api, teacher)
    typed = "  " + klass["class_code"].lower().replace("-", " - ") + " "

    response = join(api, student, typed)
    assert response.status_code == 201, response.json
    assert response.json["class_id"] == klass["id"] and response.json["name"] == "Algebra I"
    assert ops(response) == {"reads": 5, "writes": 3, "deletes": 1}  # + class.joined's outbox entry
    membership = doc("class_memberships", f"{klass['id']}_{student.id}")
    assert membership is not None
    assert {k: membership[k] for k in ("class_id", "student_id", "teacher_id", "status")} == {
        "class_id": klass["id"],
        "student_id": student.id,
        "teacher_id": teacher.id,
        "status": "active",
    }
    assert existing("classes", klass["id"])["student_count"] == 1
    assert joined_events() == [{"user_id": student.id, "class_id": klass["id"]}]

    again = join(api, student, klass["class_code"])
    assert again.status_code == 409
    assert existing("classes", klass["id"])["student_count"] == 1


def test_join_refusals(api: Api) -> None:
    teacher = person(api, "t@example.com", "teacher")
    student, other = person(api, "s@example.com"), person(api, "x@example.com")
    klass = new_class(api, teacher)

    assert join(api, student, "MATH-ZZZ-ZZZ").status_code == 404
    assert join(api, student, "not a code!").status_code == 404
    assert (
        api.post(f"/api/v1/students/{student.id}/classes/join", {"code": "x"}, token=student.token).status_code == 422
    )
    # On someone else's behalf, or as a teacher: refused.
    path = f"/api/v1/students/{other.id}/classes/join"
    assert api.post(path, {"class_code": klass["class_code"]}, token=student.token).status_code == 403
    teacher_path = f"/api/v1/students/{teacher.id}/classes/join"
    assert api.post(teacher_path, {"class_code": klass["class_code"]}, token=teacher.token).status_code == 403
    assert count("class_memberships") == 0

    api.delete(f"/api/v1/classes/{klass['id']}", token=teacher.token)
    assert join(api, student, klass["class_code"]).status_code == 409
    assert count("class_memberships") == 0
    assert existing("classes", klass["id"])["student_count"] == 0


def test_roster_paged_and_removal(api: Api, listen: Any) -> None:
    left_events = listen("class.left")
    teacher, other = person(api, "t@example.com", "teacher"), person(api, "o@example.com", "teacher")
    ann = person(api, "ann@example.com", first_name="Ann", grade_level=10)
    bob = person(api, "bob@example.com", first_name="Bob")
    klass = new_class(api, teacher)
    for student in (ann, bob):
        assert join(api, student, klass["class_code"]).status_code == 201
    path = f"/api/v1/classes/{klass['id']}/students"

    first = api.get(f"{path}?limit=1", token=teacher.token)
    assert first.status_code == 200, first.json
    assert [(s["student_id"], s["first_name"], s["grade_level"]) for s in first.json["items"]] == [(ann.id, "Ann", 10)]
    assert "email" not in first.json["items"][0]
    assert ops(first) == {"reads": 1 + 1 + 2, "writes": 0, "deletes": 0}
    second = api.get(f"{path}?limit=1&cursor={first.json['next_cursor']}", token=teacher.token)
    assert [s["student_id"] for s in second.json["items"]] == [bob.id] and second.json["next_cursor"] is None

    assert api.get(path, token=other.token).status_code == 404
    assert api.get(path, token=ann.token).status_code == 403
    assert api.delete(f"{path}/{bob.id}", token=other.token).status_code == 404
    assert api.delete(f"{path}/{bob.id}", token=bob.token).status_code == 403
    assert existing("class_memberships", f"{klass['id']}_{bob.id}")["status"] == "active"

    removed = api.delete(f"{path}/{bob.id}", token=teacher.token)
    assert removed.status_code == 204
    assert ops(removed) == {"reads": 3, "writes": 3, "deletes": 1}  # + class.left's outbox entry
    assert existing("class_memberships", f"{klass['id']}_{bob.id}")["status"] == "removed"
    assert existing("classes", klass["id"])["student_count"] == 1
    assert [s["student_id"] for s in api.get(path, token=teacher.token).json["items"]] == [ann.id]
    assert left_events() == [{"user_id": bob.id, "class_id": klass["id"]}]
    assert api.delete(f"{path}/{bob.id}", token=teacher.token).status_code == 404
    assert join(api, bob, klass["class_code"]).status_code == 409  # removal holds
    assert existing("classes", klass["id"])["student_count"] == 1


# Student account requests -------------------------------------------------------------------------


def request_body(klass: dict[str, Any], email: str = "newbie@example.com") -> dict[str, Any]:
    return {"first_name": "Nia", "last_name": "New", "email": email, "class_id": klass["id"], "grade_level": 9}


def test_request_and_approve_creates_enrolled_account_with_welcome_mail(
    api: Api, drain: Callable[..., int], listen: Any
) -> None:
    joined_events = listen("class.joined")
    teacher, boss = person(api, "t@example.com", "teacher"), admin(api)
    klass = new_class(api, teacher)

    asked = api.post(
        "/api/v1/teachers/student-requests", request_body(klass, "Newbie@Example.com"), token=teacher.token
    )
    assert asked.status_code == 201, asked.json
    assert asked.json["status"] == "pending" and asked.json["email"] == "newbie@example.com"
    assert ops(asked) == {"reads": 4, "writes": 1, "deletes": 0}
    request_id = asked.json["id"]

    mine = api.get(f"/api/v1/teachers/{teacher.id}/student-requests", token=teacher.token)
    assert [r["id"] for r in mine.json["items"]] == [request_id]
    pending = api.get("/api/v1/student-requests", token=boss.token)
    assert [r["id"] for r in pending.json["items"]] == [request_id]
    assert api.get("/api/v1/student-requests", token=teacher.token).status_code == 403
    assert api.post(f"/api/v1/student-requests/{request_id}/approve", token=teacher.token).status_code == 403

    approved = api.post(f"/api/v1/student-requests/{request_id}/approve", token=boss.token)
    assert approved.status_code == 200, approved.json
    assert approved.json["status"] == "approved" and approved.json["decided_by"] == boss.id
    assert ops(approved) == {"reads": 1 + 4, "writes": 9, "deletes": 2}  # + two outbox entries
    student_id = approved.json["student_id"]

    user = doc("users", student_id)
    assert user is not None
    assert (user["email"], user["role"], user["grade_level"], user["password_hash"]) == (
        "newbie@example.com",
        "student",
        9,
        None,
    )
    assert existing("class_memberships", f"{klass['id']}_{student_id}")["status"] == "active"
    assert existing("classes", klass["id"])["student_count"] == 1
    roster = api.get(f"/api/v1/classes/{klass['id']}/students", token=teacher.token).json["items"]
    assert [(s["student_id"], s["first_name"]) for s in roster] == [(student_id, "Nia")]

    mails = [fields(s) for s in store.db().collection("mail").stream()]
    assert len(mails) == 1 and mails[0]["to"] == ["newbie@example.com"]
    match = re.search(r"https?://\S+", mails[0]["message"]["text"])
    assert match is not None
    link = match.group(0)
    token = parse_qs(urlparse(link).query)["token"][0]
    reset = doc("password_resets", hash_token(token))
    assert reset is not None and reset["user_id"] == student_id and reset["purpose"] == "welcome"
    assert reset["used_at"] is None and reset["expires_at"] > store.now() + timedelta(days=1)
    assert token not in json.dumps(approved.json)
    # No password yet: the account cannot log in until it sets one through the link.
    login = api.post("/api/v1/auth/login", {"email": "newbie@example.com", "password": "anything-at-all"})
    assert login.status_code == 401
    chosen = "a brand new passphrase"
    confirm = api.post("/api/v1/auth/password-reset-confirm", {"token": token, "new_password": chosen})
    assert confirm.status_code == 200, confirm.json
    assert api.login("newbie@example.com", chosen)["user"]["id"] == student_id

    assert joined_events() == [{"user_id": student_id, "class_id": klass["id"]}]
    drain()
    assert doc("user_stats", student_id) is not None  # user.registered reached the progress area

    assert api.post(f"/api/v1/student-requests/{request_id}/approve", token=boss.token).status_code == 409
    assert api.post(f"/api/v1/student-requests/{request_id}/reject", {}, token=boss.token).status_code == 409
    assert count("users") == 3


def test_approval_and_its_welcome_mail_commit_together(api: Api, mocker: MockerFixture) -> None:
    """Fault injection: the mail step fails. Nothing is written (no account without its mail),
    and the approval sent again creates both."""
    from shared import password_mail

    teacher, boss = person(api, "t@example.com", "teacher"), admin(api)
    klass = new_class(api, teacher)
    asked = api.post("/api/v1/teachers/student-requests", request_body(klass), token=teacher.token)
    real = password_mail.create_password_reset
    mocker.patch.object(password_mail, "create_password_reset", side_effect=RuntimeError("mail store down"))
    failed = api.post(f"/api/v1/student-requests/{asked.json['id']}/approve", token=boss.token)
    assert failed.status_code == 500
    assert count("users") == 2 and count("mail") == 0  # the teacher and the admin: nobody new
    assert existing("student_requests", asked.json["id"])["status"] == "pending"
    mocker.patch.object(password_mail, "create_password_reset", side_effect=real)
    approved = api.post(f"/api/v1/student-requests/{asked.json['id']}/approve", token=boss.token)
    assert approved.status_code == 200, approved.json
    assert doc("users", approved.json["student_id"]) is not None
    assert existing("class_memberships", f"{klass['id']}_{approved.json['student_id']}")["status"] == "active"
    assert count("mail") == 1


def test_request_refusals_and_rejection(api: Api) -> None:
    teacher, other, boss = person(api, "t@example.com", "teacher"), person(api, "o@example.com", "teacher"), admin(api)
    student = person(api, "s@example.com")
    klass = new_class(api, teacher)
    ask = "/api/v1/teachers/student-requests"

    assert api.post(ask, request_body(klass), token=other.token).status_code == 404  # not their class
    assert api.post(ask, request_body(klass), token=student.token).status_code == 403
    assert api.post(ask, request_body(klass, "s@example.com"), token=teacher.token).status_code == 409
    assert api.post(ask, {**request_body(klass), "role": "admin"}, token=teacher.token).status_code == 422
    assert api.post(ask, {**request_body(klass), "email": "not-an-email"}, token=teacher.token).status_code == 422
    assert count("student_requests") == 0

    first = api.post(ask, request_body(klass), token=teacher.token)
    assert first.status_code == 201
    assert api.post(ask, request_body(klass), token=teacher.token).status_code == 409  # already pending
    assert api.get(f"/api/v1/teachers/{teacher.id}/student-requests", token=other.token).status_code == 403
    assert api.get(f"/api/v1/teachers/{other.id}/student-requests", token=other.token).json["items"] == []

    request_id = first.json["id"]
    assert api.post(f"/api/v1/student-requests/{request_id}/reject", {}, token=teacher.token).status_code == 403
    rejected = api.post(f"/api/v1/student-requests/{request_id}/reject", {"reason": "Duplicate"}, token=boss.token)
    assert rejected.status_code == 200 and rejected.json["status"] == "rejected"
    assert rejected.json["reason"] == "Duplicate"
    assert api.post(f"/api/v1/student-requests/{request_id}/approve", token=boss.token).status_code == 409
    assert api.post("/api/v1/student-requests/nope/approve", token=boss.token).status_code == 404
    assert doc("user_emails", email_key("newbie@example.com")) is None
    assert count("mail") == 0
    listed = api.get(f"/api/v1/teachers/{teacher.id}/student-requests?status=rejected", token=teacher.token)
    assert [r["id"] for r in listed.json["items"]] == [request_id]
    assert api.get("/api/v1/student-requests?status=rejected", token=boss.token).json["items"][0]["id"] == request_id


def test_approval_refused_when_email_taken_meanwhile_writes_nothing(api: Api) -> None:
    teacher, boss = person(api, "t@example.com", "teacher"), admin(api)
    klass = new_class(api, teacher)
    asked = api.post("/api/v1/teachers/student-requests", request_body(klass), token=teacher.token)
    person(api, "newbie@example.com")  # registers on their own before the admin gets to it
    response = api.post(f"/api/v1/student-requests/{asked.json['id']}/approve", token=boss.token)
    assert response.status_code == 409
    assert existing("student_requests", asked.json["id"])["status"] == "pending"
    assert count("class_memberships") == 0 and count("mail") == 0 and count("password_resets") == 0
    assert existing("classes", klass["id"])["student_count"] == 0


def test_approval_refused_for_archived_class(api: Api) -> None:
    teacher, boss = person(api, "t@example.com", "teacher"), admin(api)
    klass = new_class(api, teacher)
    asked = api.post("/api/v1/teachers/student-requests", request_body(klass), token=teacher.token)
    api.delete(f"/api/v1/classes/{klass['id']}", token=teacher.token)
    assert api.post(f"/api/v1/student-requests/{asked.json['id']}/approve", token=boss.token).status_code == 409
    assert doc("user_emails", email_key("newbie@example.com")) is None


# Dashboard ---------------------------------------------------------------------------------------


def test_dashboard_from_student_stats_in_bounded_reads(api: Api) -> None:
    teacher, other = person(api, "t@example.com", "teacher"), person(api, "o@example.com", "teacher")
    ann, bob = person(api, "ann@example.com", first_name="Ann"), person(api, "bob@example.com", first_name="Bob")
    klass = new_class(api, teacher)
    empty = new_class(api, teacher, "Geometry")
    for student in (ann, bob):
        join(api, student, klass["class_code"])
    now = store.now()
    stats = store.db().collection("user_stats")
    stats.document(ann.id).set(
        {
            "last_active_at": now - timedelta(days=2),
            "exams_completed": 2,
            "exam_score_total": 150,
            "domains": {
                "security-plus|Cryptography": {"answered": 10, "correct": 3},
                "security-plus|Networking": {"answered": 10, "correct": 9},
            },
        }
    )
    stats.document(bob.id).set(
        {
            "last_active_at": now - timedelta(days=10),
            "exams_completed": 1,
            "exam_score_total": 90,
            "domains": {"security-plus|Cryptography": {"answered": 10, "correct": 5}},
        }
    )

    response = api.get(f"/api/v1/teachers/{teacher.id}/dashboard", token=teacher.token)
    assert response.status_code == 200, response.json
    by_id = {c["class_id"]: c for c in response.json["items"]}
    summary = by_id[klass["id"]]
    assert summary["student_count"] == 2 and summary["active_last_7_days"] == 1
    assert [s["student_id"] for s in summary["active_students"]] == [ann.id]
    assert summary["exams_completed"] == 3 and summary["average_exam_score"] == 80.0
    assert [(d["domain"], d["answered"], d["correct"]) for d in summary["weakest_domains"]] == [
        ("Cryptography", 20, 8),
        ("Networking", 10, 9),
    ]
    assert by_id[empty["id"]]["average_exam_score"] is None and by_id[empty["id"]]["active_last_7_days"] == 0
    # session + classes (2) + per class: memberships and their stats (empty query billed 1)
    assert ops(response) == {"reads": 1 + 2 + (2 + 2) + 1, "writes": 0, "deletes": 0}

    assert api.get(f"/api/v1/teachers/{teacher.id}/dashboard", token=other.token).status_code == 403
    assert api.get(f"/api/v1/teachers/{teacher.id}/dashboard", token=ann.token).status_code == 403
    assert api.get(f"/api/v1/teachers/{teacher.id}/dashboard?limit=11", token=teacher.token).status_code == 422


# Acceptance --------------------------------------------------------------------------------------


def test_acceptance_teacher_two_students_and_admin(api: Api, drain: Callable[..., int]) -> None:
    teacher, rival, boss = person(api, "t@example.com", "teacher"), person(api, "r@example.com", "teacher"), admin(api)
    ann, bob = person(api, "ann@example.com"), person(api, "bob@example.com")
    klass = new_class(api, teacher)
    rival_class = new_class(api, rival, "Rival", "History")
    assert rival_class["class_code"].startswith("HIST-")

    assert join(api, ann, klass["class_code"]).status_code == 201
    assert join(api, bob, klass["class_code"].lower()).status_code == 201
    roster = api.get(f"/api/v1/classes/{klass['id']}/students", token=teacher.token).json["items"]
    assert {s["student_id"] for s in roster} == {ann.id, bob.id}
    assert api.delete(f"/api/v1/classes/{klass['id']}/students/{bob.id}", token=teacher.token).status_code == 204

    asked = api.post("/api/v1/teachers/student-requests", request_body(klass), token=teacher.token)
    approved = api.post(f"/api/v1/student-requests/{asked.json['id']}/approve", token=boss.token)
    assert approved.status_code == 200
    assert existing("classes", klass["id"])["student_count"] == 2

    # Every attempt on another teacher's class, or another student's profile, is refused.
    rival_path = f"/api/v1/classes/{rival_class['id']}"
    assert api.get(rival_path, token=teacher.token).status_code == 404
    assert api.patch(rival_path, {"name": "x"}, token=teacher.token).status_code == 404
    assert api.delete(rival_path, token=teacher.token).status_code == 404
    assert api.get(f"{rival_path}/students", token=teacher.token).status_code == 404
    assert api.get(f"/api/v1/teachers/{rival.id}/classes", token=teacher.token).status_code == 403
    assert api.get(f"/api/v1/teachers/{rival.id}/dashboard", token=teacher.token).status_code == 403
    rival_ask = {**request_body(klass, "z@example.com"), "class_id": rival_class["id"]}
    assert api.post("/api/v1/teachers/student-requests", rival_ask, token=teacher.token).status_code == 404
    assert api.get(f"/api/v1/students/{bob.id}", token=ann.token).status_code == 403
    assert api.patch(f"/api/v1/students/{bob.id}", {"first_name": "X"}, token=ann.token).status_code == 403
    assert api.get(f"/api/v1/students/{ann.id}", token=rival.token).status_code == 403
    assert api.get(f"/api/v1/students/{bob.id}", token=teacher.token).status_code == 403  # removed: no longer theirs
    assert api.get(f"/api/v1/students/{ann.id}", token=teacher.token).status_code == 200
    assert existing("classes", rival_class["id"])["name"] == "Rival"

    # The events reach the progress area, which keeps each student's class_ids.
    drain()
    assert existing("user_stats", ann.id)["class_ids"] == [klass["id"]]
    assert existing("user_stats", bob.id)["class_ids"] == []
    assert existing("user_stats", approved.json["student_id"])["class_ids"] == [klass["id"]]


# Demo data ------------------------------------------------------------------------------------------


def test_demo_class_loader_is_idempotent(api: Api) -> None:
    from infra.local import demo_classes, seed

    for account in seed.DEMO_ACCOUNTS:
        seed.ensure_account(account)
    first = demo_classes.load()
    assert demo_classes.load() == first
    assert count("classes") == 1 and count("class_memberships") == 1
    student = api.login("student@studyhall.dev", seed.DEMO_PASSWORD)
    profile = api.get(f"/api/v1/students/{student['user']['id']}", token=student["access_token"]).json
    assert [c["name"] for c in profile["classes"]] == [demo_classes.DEMO_CLASS["name"]]
    assert profile["interest_ids"] == demo_classes.DEMO_INTERESTS
    assert "join code" in first


def test_many_students_joining_at_once_keep_the_count_exact(api: Api) -> None:
    teacher = person(api, "t@example.com", "teacher")
    klass = new_class(api, teacher)
    now = store.now()
    students = [f"student{n:02d}" for n in range(25)]

    def attempt(student_id: str) -> int:
        try:
            service.join_class(student_id, klass["class_code"], now)
            return 201
        except Exception as exc:  # an API error the caller would see
            return int(getattr(exc, "status", 500))

    with ThreadPoolExecutor(max_workers=25) as pool:
        statuses = list(pool.map(attempt, students))
    assert statuses == [201] * 25  # no contention on the class document: everyone gets in
    assert existing("classes", klass["id"])["student_count"] == 25 == count("class_memberships")
