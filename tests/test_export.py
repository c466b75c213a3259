"""The data export: one JSON document of everything held about a user, and the test that makes
forgetting a collection impossible: after a broad walk through the API, every document in the
emulator that names a user must sit in a declared collection, and the export must hold it."""

from __future__ import annotations

import io
import json
import re
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from PIL import Image

import shared.collections
from functions.users import export
from shared import store
from shared.audit import Client
from shared.userdata import declarations
from tests.support import PASSWORD, Api, Stack, fields
from tests.test_exercises import ADD, GRADE
from tests.test_imports import csv_bytes, fire, row, upload

SEC = "security-plus"
# The student's own correct code: not the exercise's solution, which only its author exports.
STUDENT_CODE = "def add(a, b):\n    return b + a\n"


def export_of(api: Api, user_id: str, token: str) -> dict[str, Any]:
    response = api.get(f"/api/v1/users/{user_id}/export", token=token)
    assert response.status_code == 200, response.json
    assert "attachment" in response.headers["Content-Disposition"]
    return dict(response.json)


def every_document() -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(collection key, reference, data) of every document of the project, subcollections
    included (keyed `parent/*/child`), even under parents that do not exist themselves."""

    def walk(collection: Any, key: str) -> Iterator[tuple[str, Any, dict[str, Any]]]:
        for ref in collection.list_documents():
            snapshot = ref.get()
            if snapshot.exists:
                yield key, ref, snapshot.to_dict() or {}
            for child in ref.collections():
                yield from walk(child, f"{key}/*/{child.id}")

    for collection in store.db().collections():
        yield from walk(collection, collection.id)


def mentions(ref: Any, data: dict[str, Any], needles: tuple[str, ...]) -> bool:
    text = ref.id + json.dumps(data, default=str)
    return any(needle in text for needle in needles)


def tess_mails() -> list[Any]:
    return [m for m in store.db().collection("mail").stream() if fields(m)["to"] == ["tess@example.com"]]


def walk_through_the_api(api: Api, stack: Stack, drain: Callable[..., int]) -> dict[str, dict[str, Any]]:
    """A student, a teacher and an admin use most of the API."""
    admin = api.admin()
    accepted = upload(api, admin["access_token"], SEC, csv_bytes([row(f"S{i:02}", "1.1", "A") for i in range(4)]))
    assert accepted.status_code == 202
    fire(stack)
    teacher = api.register("tess@example.com", role="teacher")
    student = api.register("sam@example.com", grade_level=10)
    sid, st = student["user"]["id"], student["access_token"]
    drain()
    # Account: verification, bio, avatar, sessions, a failed login, a reset, a password change.
    [mail] = [fields(m) for m in store.db().collection("mail").stream() if fields(m)["to"] == ["sam@example.com"]]
    match = re.search(r"token=([A-Za-z0-9_\-]+)", mail["message"]["text"])
    assert match is not None
    token = match.group(1)
    assert api.post("/api/v1/auth/verify-email", {"token": token}).status_code == 200
    assert api.patch(f"/api/v1/users/{sid}", {"bio": "Hello", "timezone": "Europe/Paris"}, token=st).status_code == 200
    picture = io.BytesIO()
    Image.new("RGB", (32, 32)).save(picture, format="PNG")
    avatar = api.call("PUT", f"/api/v1/users/{sid}/avatar", token=st, data=picture.getvalue())
    assert avatar.status_code == 200
    assert api.post("/api/v1/auth/login", {"email": "sam@example.com", "password": "wrong one!"}).status_code == 401
    second = api.login("sam@example.com")
    refreshed = api.post("/api/v1/auth/refresh", {"refresh_token": second["refresh_token"]})
    assert refreshed.status_code == 200
    assert api.post("/api/v1/auth/password-reset-request", {"email": "sam@example.com"}).status_code == 202
    changed = api.post(
        "/api/v1/auth/change-password",
        {"current_password": PASSWORD, "new_password": "another long passphrase"},
        token=st,
    )
    assert changed.status_code == 200
    # Schools: the teacher accepts an invitation (their class is then the school's); the student
    # has one pending.
    school = api.post("/api/v1/schools", {"name": "Lincoln High"}, token=admin["access_token"])
    assert school.status_code == 201
    for email, role in (("tess@example.com", "teacher"), ("sam@example.com", "student")):
        invited = api.post(
            f"/api/v1/schools/{school.json['id']}/invitations",
            {"email": email, "role": role},
            token=admin["access_token"],
        )
        assert invited.status_code == 201
    links = [re.search(r"/join\?invitation=([A-Za-z0-9_.\-]+)", fields(m)["message"]["text"]) for m in tess_mails()]
    [link] = [found for found in links if found is not None]
    accepted = api.post("/api/v1/schools/invitations/accept", {"token": link.group(1)}, token=teacher["access_token"])
    assert accepted.status_code == 200 and accepted.json["teacher_verified"] is True
    # Classes: a class, a join, a request the admin approves.
    klass = api.post("/api/v1/teachers/classes", {"name": "Sec", "subject": "security"}, token=teacher["access_token"])
    assert klass.status_code == 201
    joined = api.post(f"/api/v1/students/{sid}/classes/join", {"class_code": klass.json["class_code"]}, token=st)
    assert joined.status_code in (200, 201), joined.json
    request = api.post(
        "/api/v1/teachers/student-requests",
        {"class_id": klass.json["id"], "email": "kim@example.com", "first_name": "Kim", "last_name": "K"},
        token=teacher["access_token"],
    )
    assert request.status_code == 201
    approve = api.post(f"/api/v1/student-requests/{request.json['id']}/approve", token=admin["access_token"])
    assert approve.status_code == 200
    # Learning: interests, an exam, progress, a leaderboard.
    assert (
        api.put(f"/api/v1/students/{sid}/interests", {"interest_ids": ["cybersecurity"]}, token=st).status_code == 200
    )
    session = api.post("/api/v1/exam-sessions", {"exam_type": SEC, "question_count": 2, "mode": "practice"}, token=st)
    assert session.status_code == 201, session.json
    for question in session.json["questions"]:
        answer = {"question_id": question["id"], "answer": "A"}
        assert api.post(f"/api/v1/exam-sessions/{session.json['id']}/answers", answer, token=st).status_code == 200
    assert api.post(f"/api/v1/exam-sessions/{session.json['id']}/submit", token=st).status_code == 200
    drain()
    job = api.post("/api/v1/admin/jobs/leaderboards-rebuild/run", token=admin["access_token"])
    assert job.status_code == 202, job.json
    drain()
    assert api.get("/api/v1/leaderboards/global", token=st).status_code == 200
    # Practice: the teacher writes an exercise and a path (reading, then that exercise); the
    # student submits once (graded by draining), enrols, reads, and asks the tutor once.
    tt = teacher["access_token"]
    exercise = api.post("/api/v1/exercises", ADD, token=tt)
    assert exercise.status_code == 201, exercise.json
    lessons = [
        {"title": "Why", "kind": "reading", "topic": "python", "duration_seconds": 60, "body": "Text."},
        {
            "title": "Add",
            "kind": "exercise",
            "topic": "python",
            "duration_seconds": 600,
            "exercise_id": exercise.json["id"],
        },
    ]
    path = api.post(
        "/api/v1/paths",
        {"title": "Python", "subject": "Programming", "modules": [{"title": "Start", "lessons": lessons}]},
        token=tt,
    )
    assert path.status_code == 201, path.json
    submitted = api.post(
        "/api/v1/submissions",
        {"exercise_id": exercise.json["id"], "code": STUDENT_CODE, "language": "python"},
        token=st,
    )
    assert submitted.status_code == 202, submitted.json
    drain(GRADE)
    assert api.post(f"/api/v1/paths/{path.json['id']}/enrollment", token=st).status_code == 201
    reading = path.json["modules"][0]["lessons"][0]["id"]
    assert api.post(f"/api/v1/lessons/{reading}/progress", {"completed": True}, token=st).status_code == 200
    chat = api.post(
        "/api/v1/chat/sessions", {"topic": "sums", "context": {"exercise_id": exercise.json["id"]}}, token=st
    )
    assert chat.status_code == 201, chat.json
    asked = api.post(f"/api/v1/chat/sessions/{chat.json['id']}/messages", {"content": "How do I add?"}, token=st)
    assert asked.status_code == 202, asked.json
    drain()
    return {"student": {**student, "access_token": st}, "teacher": teacher, "admin": admin}


def test_every_document_that_names_a_user_is_declared_and_exported(
    api: Api, stack: Stack, drain: Callable[..., int]
) -> None:
    people = walk_through_the_api(api, stack, drain)
    declared = {d.collection: d for d in declarations()}
    documents = list(every_document())
    # Every collection the walk wrote says whether it is personal, even when it names users
    # only through a hash (rate limits) or not at all (aggregates).
    unknown = {key.partition("/*/")[0] for key, _, _ in documents} - set(declared)
    assert not unknown, f"collections declared neither personal(...) nor not_personal(...): {sorted(unknown)}"
    admin_token = people["admin"]["access_token"]
    for who, account in people.items():
        user_id, email = account["user"]["id"], account["user"]["email"]
        exported = export_of(api, user_id, admin_token if who != "student" else account["access_token"])
        assert exported["user_id"] == user_id
        undeclared: set[str] = set()
        missing: list[str] = []
        for key, ref, data in documents:
            if not mentions(ref, data, (user_id, email)):
                continue
            root, _, sub = key.partition("/*/")
            declaration = declared.get(root)
            if declaration is None or (sub and key not in declared and sub not in declaration.subcollections):
                undeclared.add(key)
                continue
            if not declaration.personal:
                continue
            items = exported["collections"].get(root, [])
            if declaration.hide_id:
                held = any(plain_equal(item["data"], data, declaration.omit) for item in items)
            elif sub:
                parent_id = ref.parent.parent.id
                held = any(
                    child["id"] == ref.id
                    for item in items
                    if item["id"] == parent_id
                    for child in item["subcollections"].get(sub, [])
                )
            else:
                held = any(item["id"] == ref.id for item in items)
            if not held:
                missing.append(f"{key}/{ref.id}")
        assert not undeclared, (
            f"collections naming the {who} are not declared in shared/userdata.py terms "
            f"(personal(...) or not_personal(...)): {sorted(undeclared)}"
        )
        assert not missing, f"the {who}'s export lacks {missing}"


def plain_equal(exported: dict[str, Any], stored: dict[str, Any], omit: tuple[str, ...]) -> bool:
    from functions.users.export import plain, without

    return bool(exported == json.loads(json.dumps(plain(without(stored, omit)), default=str)))


def test_the_export_holds_what_the_user_did_and_no_hash_nor_anothers_secret(
    api: Api, stack: Stack, drain: Callable[..., int]
) -> None:
    people = walk_through_the_api(api, stack, drain)
    student = people["student"]
    exported = export_of(api, student["user"]["id"], student["access_token"])
    text = json.dumps(exported)
    mine = exported["collections"]
    # What the student did in the practice areas is theirs to take away.
    [submission] = mine["submissions"]
    assert submission["data"]["code"] == STUDENT_CODE and submission["data"]["verdict"] == "accepted"
    [enrolment] = mine["path_enrollments"]
    assert enrolment["data"]["enrolled"] is True
    assert sum(lesson["completed"] for lesson in enrolment["data"]["lessons"].values()) == 2  # read, and passed
    [chat] = mine["chat_sessions"]
    messages = chat["subcollections"]["messages"]
    assert [m["data"]["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["data"]["content"] == "How do I add?" and messages[1]["data"]["content"]
    assert mine["exam_progress"] and mine["exam_session_texts"] and mine["user_stats"]
    # Exercises and paths belong to their author: the student's export holds neither, and
    # nothing of the exercise the student may not see (solution, hidden test).
    assert not mine.get("exercises") and not mine.get("paths")
    hidden = next(t for t in ADD["tests"] if t.get("hidden"))
    assert ADD["solution"] not in text and hidden["code"] not in text
    teacher = people["teacher"]
    theirs = export_of(api, teacher["user"]["id"], people["admin"]["access_token"])["collections"]
    [exercise] = theirs["exercises"]
    assert exercise["data"]["solution"] == ADD["solution"] and len(exercise["data"]["tests"]) == len(ADD["tests"])
    assert [p["data"]["title"] for p in theirs["paths"]] == ["Python"]
    assert not theirs.get("submissions") and not theirs.get("chat_sessions")
    secrets: list[str] = []
    for key, ref, data in every_document():
        if key in ("password_resets", "email_verifications"):
            secrets.append(ref.id)  # the ids are token hashes
        for name in ("password_hash", "refresh_hash"):
            if data.get(name):
                secrets.append(data[name])
        secrets.extend(data.get("spent_hashes") or [])
    assert secrets
    leaked = [s for s in secrets if s in text]
    assert not leaked
    for word in ("password_hash", "refresh_hash", "spent_hashes", "token="):
        assert word not in text
    # The student's own mails are there, without the bodies that carry links.
    assert exported["collections"]["mail"] and all(
        set(m["data"]["message"]) == {"subject"} for m in exported["collections"]["mail"]
    )
    assert exported["collections"]["users"][0]["data"]["bio"] == "Hello"
    assert exported["collections"]["exam_sessions"] and exported["collections"]["user_stats"]
    assert exported["collections"]["sessions"] and exported["collections"]["class_memberships"]


def test_every_shared_collection_name_is_declared() -> None:
    declared = {d.collection for d in declarations()}
    names = {v for k, v in vars(shared.collections).items() if k.isupper() and isinstance(v, str)}
    assert names and names <= declared, sorted(names - declared)


def test_only_the_user_or_an_admin_exports_and_it_is_audited_and_limited(api: Api) -> None:
    alice = api.register("alice@example.com")
    bob = api.register("bob@example.com")
    uid = alice["user"]["id"]
    assert api.get(f"/api/v1/users/{uid}/export").status_code == 401
    assert api.get(f"/api/v1/users/{uid}/export", token=bob["access_token"]).status_code == 403
    admin = api.admin()
    assert api.get("/api/v1/users/nosuchuser/export", token=admin["access_token"]).status_code == 404
    exported = export_of(api, uid, admin["access_token"])
    assert exported["collections"]["users"][0]["id"] == uid
    audits = [fields(d) for d in store.db().collection("audit_logs").stream()]
    assert any(a["action"] == "user.exported" and a["target_id"] == uid for a in audits)
    for _ in range(5):  # the admin's export counted against the admin
        export_of(api, uid, alice["access_token"])
    limited = api.get(f"/api/v1/users/{uid}/export", token=alice["access_token"])
    assert limited.status_code == 429 and limited.headers["Retry-After"]


def test_budget_of_the_export(api: Api) -> None:
    """The body streams after the headers, so its reads are metered around the service's stream
    (the route adds the one read of the caller's session)."""
    alice = api.register("alice@example.com")
    uid = alice["user"]["id"]
    personal = [d for d in declarations() if d.personal]
    meter = store.start_metering()
    chunks = export.export_user(actor_id=uid, user_id=uid, client=CLIENT, now=datetime.now(UTC))
    exported = json.loads("".join(chunks))["collections"]
    spent = (meter.reads, meter.writes, meter.deletes)
    # user 1; per collection: 1 per declared id, max(1, found) for all its declared fields
    # together (one disjunction), max(1, found) per id prefix, then max(1, found) per subcollection
    # of each document found (found as the stream read them: the export's own audit entry
    # included). Writes: the limit and the audit entry.
    counted = {d.collection: queried(d, alice["user"]) for d in personal}
    expected = 1
    for declaration in personal:
        kinds = [m.kind for m in declaration.matches]
        expected += kinds.count("doc_id") + kinds.count("doc_id_prefix") * max(1, counted[declaration.collection][1])
        if "field" in kinds or "array" in kinds:
            expected += max(1, counted[declaration.collection][0])
        docs = exported[declaration.collection]
        expected += sum(max(1, len(d["subcollections"].get(s, []))) for d in docs for s in declaration.subcollections)
    assert spent == (expected, 2, 0)
    # A new account holds at most one document per query (its audit trail two: registered,
    # exported): one read per lookup and per query.
    lookups_and_queries = 0
    for declaration in personal:
        kinds = [m.kind for m in declaration.matches]
        lookups_and_queries += kinds.count("doc_id") + kinds.count("doc_id_prefix")
        lookups_and_queries += 1 if ("field" in kinds or "array" in kinds) else 0
    assert expected == 1 + lookups_and_queries + 1 == spent[0]


def test_the_export_streams_in_flat_memory_whatever_the_history(api: Api) -> None:
    """Ten times the documents, about the same peak of Python memory: nothing is held whole."""
    alice = api.register("alice@example.com")
    uid = alice["user"]["id"]

    def peak_with(documents: int) -> tuple[int, int]:
        for start in range(0, documents, 500):
            batch = store.db().batch()
            for i in range(start, min(start + 500, documents)):
                ref = store.db().collection("progress_items").document(f"{uid}_bulk-{start}-{i:06d}")
                batch.set(ref, {"user_id": uid, "kind": "topic", "topic": f"t{i}", "xp": i, "note": "x" * 200})
            batch.commit()
        tracemalloc.start()
        size = sum(len(c) for c in export.export_user(actor_id=uid, user_id=uid, client=CLIENT, now=datetime.now(UTC)))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return size, peak

    small_size, small_peak = peak_with(300)
    large_size, large_peak = peak_with(2700)  # 3,000 in all
    assert large_size > 8 * small_size
    assert large_peak < 2 * small_peak + 1024 * 1024, (small_peak, large_peak)


CLIENT = Client("127.0.0.1", "test")


def queried(declaration: Any, user: dict[str, Any]) -> tuple[int, int]:
    """(documents matching the declared fields, documents matching the id prefix), counted by
    hand over the whole collection."""
    by_fields = by_prefix = 0
    for snapshot in store.db().collection(declaration.collection).stream():
        data = snapshot.to_dict() or {}
        for match in declaration.matches:
            value = user["email"] if match.email else user["id"]
            if (match.kind == "field" and data.get(match.path) == value) or (
                match.kind == "array" and value in (data.get(match.path) or [])
            ):
                by_fields += 1
                break
        if any(m.kind == "doc_id_prefix" for m in declaration.matches) and snapshot.id.startswith(f"{user['id']}_"):
            by_prefix += 1
    return by_fields, by_prefix
