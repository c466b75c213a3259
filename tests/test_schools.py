"""Schools and verified teachers (API.md): invitations by mail, registering or accepting with the
token, members re-roled and removed, the school on the user object and on every live session,
a school admin's reach, and school analytics from aggregates."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.test import Client

from shared import store
from shared.answers import Viewer
from shared.auth import authenticate
from tests.support import PASSWORD, Api, Stack, fields, ops
from tests.test_exams import new_question

SCHOOLS = "/api/v1/schools"


def create_school(api: Api, admin: str, name: str = "Lincoln High") -> str:
    created = api.post(SCHOOLS, {"name": name}, token=admin)
    assert created.status_code == 201, created.json
    assert set(created.json) >= {"id", "name", "created_at"} and created.json["name"] == name
    return str(created.json["id"])


def invite(api: Api, token: str, school_id: str, email: str, role: str) -> tuple[dict[str, Any], str]:
    """Invite `email`; returns the answer and the token read from the queued mail."""
    answer = api.post(f"{SCHOOLS}/{school_id}/invitations", {"email": email, "role": role}, token=token)
    assert answer.status_code == 201, answer.json
    return dict(answer.json), mailed_token(email)


def mailed_token(email: str) -> str:
    """The token of the newest invitation mail to `email`, from its link."""
    mails = [fields(m) for m in store.db().collection("mail").stream() if fields(m)["to"] == [email.lower()]]
    links = [re.search(r"/join\?invitation=([A-Za-z0-9_.\-]+)", m["message"]["text"]) for m in mails]
    tokens = [link.group(1) for link in links if link is not None]
    assert tokens, f"no invitation mail to {email}"
    return tokens[-1]


def stored(collection: str) -> list[dict[str, Any]]:
    return [fields(d) for d in store.db().collection(collection).stream()]


def school_doc(school_id: str) -> dict[str, Any]:
    return fields(store.db().collection("schools").document(school_id).get())


def viewer_of(access_token: str) -> Viewer:
    """Who the answer rule sees behind this access token on its next request (its session)."""
    return Viewer.of(authenticate(f"Bearer {access_token}", store.now()))


def register_body(email: str, token: str | None = None, **extra: Any) -> dict[str, Any]:
    body = {"email": email, "password": PASSWORD, "first_name": "Ty", "last_name": "Lee"}
    return {**body, **({"invitation_token": token} if token else {}), **extra}


@pytest.fixture
def http(stack: Stack) -> Iterator[Http]:
    """The gateway behind a real HTTP server on an ephemeral port, as `make dev` serves it."""
    server = make_server("127.0.0.1", 0, stack.gateway, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with requests.Session() as session:
            yield Http(f"http://127.0.0.1:{server.server_port}", session)
    finally:
        server.shutdown()


@dataclass
class Http:
    base: str
    session: requests.Session

    def __call__(self, method: str, path: str, token: str | None = None, body: Any = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.session.request(method, self.base + path, json=body, headers=headers, timeout=30)


def test_invite_mail_register_verified_reads_keys_then_removed(api: Api, http: Http, stack: Stack) -> None:
    """End to end over HTTP: invite -> mail -> register with the token -> verified -> reads a
    question's key; removed -> not verified on the very next request of the same token."""
    admin = api.admin()["access_token"]
    school_id = create_school(api, admin)
    assert http("POST", "/api/v1/questions", admin, new_question("Q1")).status_code == 201

    # The admin invites the school admin, who invites a teacher.
    answer = http(
        "POST", f"{SCHOOLS}/{school_id}/invitations", admin, {"email": "Principal@Example.com", "role": "school_admin"}
    )
    assert answer.status_code == 201, answer.text
    invitation, token = answer.json(), mailed_token("principal@example.com")
    assert invitation["email"] == "principal@example.com" and invitation["role"] == "school_admin"
    assert invitation["expires_at"] > invitation["created_at"]
    [mail] = [fields(m) for m in store.db().collection("mail").stream()]
    assert mail["message"]["subject"] == "Join Lincoln High on Studyhall"
    assert "http://localhost:5173/join?invitation=" in mail["message"]["text"]
    # Stored only as a hash: the secret is in the mail, nowhere in the database or the answer.
    [saved] = stored("school_invitations")
    assert token.split(".", 1)[1] not in json.dumps(saved, default=str)
    assert token.split(".", 1)[1] not in answer.text

    principal = http("POST", "/api/v1/auth/register", body=register_body("principal@example.com", token))
    assert principal.status_code == 201, principal.text
    user = principal.json()["user"]
    assert (user["role"], user["school_id"], user["teacher_verified"]) == ("school_admin", school_id, True)
    sa = principal.json()["access_token"]

    invited = http("POST", f"{SCHOOLS}/{school_id}/invitations", sa, {"email": "tess@example.com", "role": "teacher"})
    assert invited.status_code == 201
    body = register_body("tess@example.com", mailed_token("tess@example.com"), role="teacher")
    registered = http("POST", "/api/v1/auth/register", body=body)
    assert registered.status_code == 201, registered.text
    tt, tid = registered.json()["access_token"], registered.json()["user"]["id"]
    # The invitation came by mail to this address: the account is verified, no second mail.
    assert registered.json()["user"]["email_verified"] is True
    stack.drain()
    assert len([m for m in stored("mail") if m["to"] == ["tess@example.com"]]) == 1
    me = http("GET", "/api/v1/auth/me", tt).json()
    assert (me["role"], me["school_id"], me["teacher_verified"]) == ("teacher", school_id, True)
    assert viewer_of(tt).is_verified_teacher
    question = http("GET", "/api/v1/questions/security-plus:Q1", tt)
    assert question.status_code == 200 and question.json()["correct_answer"] == "B"

    members = http("GET", f"{SCHOOLS}/{school_id}/members", sa)
    assert members.status_code == 200
    assert {(m["email"], m["role"], m["teacher_verified"]) for m in members.json()["items"]} == {
        ("principal@example.com", "school_admin", True),
        ("tess@example.com", "teacher", True),
    }
    teachers = http("GET", f"{SCHOOLS}/{school_id}/members?role=teacher", sa).json()["items"]
    assert [m["id"] for m in teachers] == [tid]
    assert school_doc(school_id)["counts"] == {"student": 0, "teacher": 1, "school_admin": 1}
    # The pending list no longer holds the two used invitations.
    assert http("GET", f"{SCHOOLS}/{school_id}/invitations", sa).json()["items"] == []

    # Removed: the same access token is no longer a verified teacher's, at once.
    assert http("DELETE", f"{SCHOOLS}/{school_id}/members/{tid}", sa).status_code == 204
    assert not viewer_of(tt).is_verified_teacher
    me = http("GET", "/api/v1/auth/me", tt).json()
    assert (me["role"], me["school_id"], me["teacher_verified"]) == ("teacher", None, False)
    assert [m["email"] for m in http("GET", f"{SCHOOLS}/{school_id}/members", sa).json()["items"]] == [
        "principal@example.com"
    ]
    assert school_doc(school_id)["counts"] == {"student": 0, "teacher": 0, "school_admin": 1}
    # A fresh login knows it too.
    login = http("POST", "/api/v1/auth/login", body={"email": "tess@example.com", "password": PASSWORD})
    assert login.json()["user"]["teacher_verified"] is False
    again = http("DELETE", f"{SCHOOLS}/{school_id}/members/{tid}", sa)
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"


def test_used_expired_forged_withdrawn_or_wrong_email_invitations_are_422_and_change_nothing(api: Api) -> None:
    admin = api.admin()["access_token"]
    school_id = create_school(api, admin)
    _, used = invite(api, admin, school_id, "used@example.com", "teacher")
    assert api.post("/api/v1/auth/register", register_body("used@example.com", used)).status_code == 201
    _, expired = invite(api, admin, school_id, "late@example.com", "teacher")
    late_id = expired.split(".", 1)[0]
    store.db().collection("school_invitations").document(late_id).update(
        {"expires_at": store.now() - timedelta(seconds=1)}
    )
    withdrawn_answer, withdrawn = invite(api, admin, school_id, "gone@example.com", "student")
    assert api.delete(f"{SCHOOLS}/{school_id}/invitations/{withdrawn_answer['id']}", token=admin).status_code == 204
    _, mine = invite(api, admin, school_id, "mine@example.com", "teacher")
    forged = f"{mine.split('.', 1)[0]}.{'x' * 43}"
    before = (stored("users"), stored("school_invitations"), school_doc(school_id)["counts"])

    attempts = [
        ("again@example.com", used),  # used, even by another address
        ("used@example.com", used),  # used (and that email is taken)
        ("late@example.com", expired),
        ("gone@example.com", withdrawn),
        ("mine@example.com", forged),
        ("mine@example.com", "nothing-like-a-token"),
        ("other@example.com", mine),  # the right token, the wrong email
    ]
    for email, token in attempts:
        answer = api.post("/api/v1/auth/register", register_body(email, token))
        assert answer.status_code == 422, (email, answer.json)
        assert answer.json["error"]["code"] == "validation_error"
        assert answer.json["error"]["details"][0]["field"] == "invitation_token"
    # Signed in, the same tokens are refused the same way by accept.
    other = api.register("other@example.com", role="teacher")["access_token"]
    for token in (used, expired, withdrawn, forged, mine):
        answer = api.post(f"{SCHOOLS}/invitations/accept", {"token": token}, token=other)
        assert answer.status_code == 422, answer.json
        assert answer.json["error"]["details"][0]["field"] == "token"
    assert [u for u in stored("users") if u["email"] != "other@example.com"] == before[0]
    assert stored("school_invitations") == before[1] and school_doc(school_id)["counts"] == before[2]
    assert api.get("/api/v1/auth/me", token=other).json["school_id"] is None


def test_a_school_admin_runs_their_school_and_nothing_else(api: Api) -> None:
    admin = api.admin()["access_token"]
    mine, theirs = create_school(api, admin, "Mine"), create_school(api, admin, "Theirs")
    _, token = invite(api, admin, mine, "sa@example.com", "school_admin")
    sa = api.post("/api/v1/auth/register", register_body("sa@example.com", token)).json
    sat, said = sa["access_token"], sa["user"]["id"]
    _, token = invite(api, admin, theirs, "far@example.com", "teacher")
    far = api.post("/api/v1/auth/register", register_body("far@example.com", token)).json["user"]["id"]
    student = api.register("stu@example.com")

    assert api.patch(f"{SCHOOLS}/{mine}", {"name": "Mine, renamed"}, token=sat).json["name"] == "Mine, renamed"
    refused = [
        api.get(f"{SCHOOLS}/{theirs}", token=sat),
        api.patch(f"{SCHOOLS}/{theirs}", {"name": "Taken"}, token=sat),
        api.post(f"{SCHOOLS}/{theirs}/invitations", {"email": "x@example.com", "role": "teacher"}, token=sat),
        api.get(f"{SCHOOLS}/{theirs}/members", token=sat),
        api.patch(f"{SCHOOLS}/{theirs}/members/{far}", {"role": "student"}, token=sat),
        api.delete(f"{SCHOOLS}/{theirs}/members/{far}", token=sat),
        api.get(f"/api/v1/analytics/schools/{theirs}", token=sat),
        # Never a platform admin's powers.
        api.get(SCHOOLS, token=sat),
        api.post(SCHOOLS, {"name": "Another"}, token=sat),
        api.get("/api/v1/users", token=sat),
        api.patch(f"/api/v1/users/{student['user']['id']}/status", {"status": "suspended"}, token=sat),
        api.post("/api/v1/auth/register", register_body("boss@example.com", role="admin"), token=sat),
        api.post("/api/v1/imports?exam_type=security-plus", token=sat),
        api.post("/api/v1/admin/jobs/leaderboards-rebuild/run", token=sat),
        # A teacher or student of the school does not run it.
        api.get(f"{SCHOOLS}/{theirs}", token=api.login("far@example.com")["access_token"]),
        api.get(f"{SCHOOLS}/{mine}", token=student["access_token"]),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused), [r.json for r in refused]
    # Inviting or making an admin is not a school's to give: 422, nothing written.
    mails = len(stored("mail"))
    as_admin = api.post(f"{SCHOOLS}/{mine}/invitations", {"email": "boss@example.com", "role": "admin"}, token=sat)
    assert as_admin.status_code == 422 and as_admin.json["error"]["details"][0]["field"] == "role"
    re_role = api.patch(f"{SCHOOLS}/{mine}/members/{said}", {"role": "admin"}, token=sat)
    assert re_role.status_code == 422
    assert len(stored("mail")) == mails and len(stored("school_invitations")) == 2
    # A member of another school, or nobody's, is not in this school: 404.
    assert api.patch(f"{SCHOOLS}/{mine}/members/{far}", {"role": "student"}, token=sat).status_code == 404
    # The school admin teaches too: their own class, of their school.
    klass = api.post("/api/v1/teachers/classes", {"name": "Civics", "subject": "civics"}, token=sat)
    assert klass.status_code == 201 and klass.json["school_id"] == mine
    assert school_doc(mine)["class_count"] == 1
    # Admins run every school; an unknown one is a 404.
    assert api.get(f"{SCHOOLS}/{theirs}", token=admin).status_code == 200
    assert api.get(f"{SCHOOLS}/nope", token=admin).status_code == 404


def test_re_role_reaches_every_live_session_at_once(api: Api) -> None:
    admin = api.admin()["access_token"]
    school_id = create_school(api, admin)
    _, token = invite(api, admin, school_id, "tess@example.com", "teacher")
    first = api.post("/api/v1/auth/register", register_body("tess@example.com", token)).json
    second = api.login("tess@example.com")
    refreshed = api.post("/api/v1/auth/refresh", {"refresh_token": second["refresh_token"]})
    assert refreshed.status_code == 200 and refreshed.json["user"]["school_id"] == school_id
    tokens = [first["access_token"], second["access_token"], refreshed.json["access_token"]]
    assert all(viewer_of(t).school_id == school_id for t in tokens)
    klass = {"name": "Algebra", "subject": "math"}
    assert api.post("/api/v1/teachers/classes", klass, token=tokens[0]).status_code == 201

    changed = api.patch(f"{SCHOOLS}/{school_id}/members/{first['user']['id']}", {"role": "student"}, token=admin)
    assert changed.status_code == 200 and changed.json["role"] == "student"
    assert changed.json["teacher_verified"] is False
    for access in tokens:
        assert api.post("/api/v1/teachers/classes", klass, token=access).status_code == 403
        assert viewer_of(access).role == "student"
    assert school_doc(school_id)["counts"] == {"student": 1, "teacher": 0, "school_admin": 0}
    # A member's role is the school's: the users route refuses to change it behind its counts.
    behind = api.patch(f"/api/v1/users/{first['user']['id']}", {"role": "admin"}, token=admin)
    assert behind.status_code == 409 and api.get("/api/v1/auth/me", token=tokens[0]).json["role"] == "student"
    listed = api.get("/api/v1/users?role=student", token=admin).json["items"]
    assert [u["email"] for u in listed] == ["tess@example.com"]
    unchanged = api.patch(f"{SCHOOLS}/{school_id}/members/{first['user']['id']}", {}, token=admin)
    assert unchanged.status_code == 200 and unchanged.json["role"] == "student"


def test_two_accepts_of_one_invitation_one_wins(api: Api) -> None:
    admin = api.admin()["access_token"]
    school_id = create_school(api, admin)
    access = api.register("tess@example.com", role="teacher")["access_token"]
    _, token = invite(api, admin, school_id, "tess@example.com", "teacher")

    def accept(_: int) -> Any:
        return Client(api.gateway).post(
            f"{SCHOOLS}/invitations/accept",
            data=json.dumps({"token": token}),
            content_type="application/json",
            headers={"Authorization": f"Bearer {access}"},
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(r.status_code for r in pool.map(accept, range(4)))
    assert statuses.count(200) == 1 and set(statuses) <= {200, 409, 422}, statuses
    assert school_doc(school_id)["counts"]["teacher"] == 1
    [invitation] = stored("school_invitations")
    assert invitation["status"] == "accepted"
    assert api.get("/api/v1/auth/me", token=access).json["teacher_verified"] is True


def test_school_analytics_from_aggregates_within_budget(api: Api, stack: Stack) -> None:
    admin = api.admin()["access_token"]
    school_id = create_school(api, admin)
    assert api.post("/api/v1/questions", new_question("Q1"), token=admin).status_code == 201
    _, token = invite(api, admin, school_id, "sa@example.com", "school_admin")
    sa = api.post("/api/v1/auth/register", register_body("sa@example.com", token)).json["access_token"]
    learners = []
    for i in range(3):
        _, token = invite(api, sa, school_id, f"kid{i}@example.com", "student")
        learners.append(api.post("/api/v1/auth/register", register_body(f"kid{i}@example.com", token)).json)
    outsider = api.register("out@example.com")
    klass = api.post("/api/v1/teachers/classes", {"name": "Sec+", "subject": "security"}, token=sa)
    assert klass.status_code == 201
    for person, answer in ((learners[0], "B"), (learners[1], "A"), (outsider, "B")):
        started = api.post(
            "/api/v1/exam-sessions",
            {"exam_type": "security-plus", "question_count": 1, "mode": "practice"},
            token=person["access_token"],
        )
        assert started.status_code == 201, started.json
        body = {"question_id": started.json["questions"][0]["id"], "answer": answer}
        posted = api.post(f"/api/v1/exam-sessions/{started.json['id']}/answers", body, token=person["access_token"])
        assert posted.status_code == 200
    stack.drain()
    stack.drain()  # a redelivery of the same events counts nothing twice

    seen = api.get(f"/api/v1/analytics/schools/{school_id}", token=sa)
    assert seen.status_code == 200, seen.json
    got = seen.json
    assert (got["students"], got["teachers"], got["school_admins"], got["classes"]) == (3, 0, 1, 1)
    # The outsider's answer is not the school's.
    assert (got["questions_answered"], got["questions_correct"], got["accuracy"]) == (2, 1, 0.5)
    # The budget: the session, the school, and at most 8 shards; nothing grows with members.
    assert ops(seen)["reads"] <= 10 and ops(seen)["writes"] == 0
    assert api.get(f"/api/v1/analytics/schools/{school_id}", token=admin).status_code == 200
    assert api.get("/api/v1/analytics/schools/nope", token=admin).status_code == 404


def test_demo_school_makes_the_demo_teacher_verified(api: Api) -> None:
    from infra.local import demo_classes, demo_schools, seed

    for account in seed.DEMO_ACCOUNTS:
        seed.ensure_account(account)
    first = demo_schools.load()
    assert demo_schools.load() == first  # idempotent
    demo_classes.load()
    school_id = demo_schools.demo_school_id()
    assert school_id is not None and len(stored("schools")) == 1
    teacher = api.login("teacher@studyhall.dev", seed.DEMO_PASSWORD)
    assert (teacher["user"]["school_id"], teacher["user"]["teacher_verified"]) == (school_id, True)
    assert viewer_of(teacher["access_token"]).is_verified_teacher
    student = api.login("student@studyhall.dev", seed.DEMO_PASSWORD)["user"]
    assert (student["school_id"], student["teacher_verified"]) == (school_id, False)
    [klass] = stored("classes")
    assert klass["school_id"] == school_id
    assert school_doc(school_id)["counts"] == {"student": 1, "teacher": 1, "school_admin": 0}
    assert school_doc(school_id)["class_count"] == 1


def test_firestore_budgets_of_the_school_routes(api: Api) -> None:
    """docs/schools.md's budgets: nothing here grows with the school's size, only with the
    page asked for and the member's own live sessions."""
    admin = api.admin()["access_token"]
    created = api.post(SCHOOLS, {"name": "Budget High"}, token=admin)
    school_id = created.json["id"]
    assert ops(created) == {"reads": 1, "writes": 2, "deletes": 0}
    assert ops(api.get(f"{SCHOOLS}/{school_id}", token=admin))["reads"] == 2
    renamed = api.patch(f"{SCHOOLS}/{school_id}", {"name": "Budget Academy"}, token=admin)
    assert ops(renamed) == {"reads": 2, "writes": 2, "deletes": 0}
    invited = api.post(f"{SCHOOLS}/{school_id}/invitations", {"email": "t@example.com", "role": "teacher"}, token=admin)
    assert ops(invited) == {"reads": 2, "writes": 5, "deletes": 0}  # 2 rate counters, invitation, mail, audit
    registered = api.post("/api/v1/auth/register", register_body("t@example.com", mailed_token("t@example.com")))
    plain = api.post("/api/v1/auth/register", register_body("p@example.com"))
    # The invitation adds one read (itself) and two writes (it, the school's counts) to a registration.
    assert ops(registered)["reads"] == ops(plain)["reads"] + 1
    assert ops(registered)["writes"] == ops(plain)["writes"] + 2
    teacher_id = registered.json["user"]["id"]
    api.login("t@example.com")  # a second live session
    members = api.get(f"{SCHOOLS}/{school_id}/members?limit=5", token=admin)
    assert ops(members)["reads"] == 2  # the session, one member (the query reads at least one)
    _, token = invite(api, admin, school_id, "p@example.com", "student")
    accepted = api.post(f"{SCHOOLS}/invitations/accept", {"token": token}, token=plain.json["access_token"])
    # Reads: session, user, invitation, the user's one live session; writes: invitation, user,
    # school counts, that session, audit.
    assert ops(accepted) == {"reads": 4, "writes": 5, "deletes": 0}
    re_roled = api.patch(f"{SCHOOLS}/{school_id}/members/{teacher_id}", {"role": "school_admin"}, token=admin)
    # Reads: session, user, the member's two live sessions; writes: user, counts, 2 sessions, audit.
    assert ops(re_roled) == {"reads": 4, "writes": 5, "deletes": 0}
    removed = api.delete(f"{SCHOOLS}/{school_id}/members/{teacher_id}", token=admin)
    assert ops(removed) == {"reads": 4, "writes": 5, "deletes": 0}
    pending = api.get(f"{SCHOOLS}/{school_id}/invitations", token=admin)
    assert ops(pending)["reads"] == 2 and pending.json["items"] == []
    _, _ = invite(api, admin, school_id, "later@example.com", "teacher")
    [open_one] = api.get(f"{SCHOOLS}/{school_id}/invitations", token=admin).json["items"]
    withdrawn = api.delete(f"{SCHOOLS}/{school_id}/invitations/{open_one['id']}", token=admin)
    assert ops(withdrawn) == {"reads": 2, "writes": 1, "deletes": 1}
    analytics = api.get(f"/api/v1/analytics/schools/{school_id}", token=admin)
    assert ops(analytics) == {"reads": 3, "writes": 0, "deletes": 0}  # session, school, an empty shard query


def test_invitation_mails_to_one_address_are_limited(api: Api) -> None:
    admin = api.admin()["access_token"]
    school_id = create_school(api, admin)
    path, body = f"{SCHOOLS}/{school_id}/invitations", {"email": "flood@example.com", "role": "student"}
    assert [api.post(path, body, token=admin).status_code for _ in range(3)] == [201] * 3
    refused = api.post(path, body, token=admin)
    assert refused.status_code == 429 and refused.json["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    assert len(stored("school_invitations")) == 3 and len(stored("mail")) == 3
    # Another address is not held back.
    assert api.post(path, {"email": "next@example.com", "role": "student"}, token=admin).status_code == 201


def test_concurrent_re_roles_and_a_removal_keep_the_counts_exact(api: Api) -> None:
    admin = api.admin()["access_token"]
    school_id = create_school(api, admin)
    members = []
    for name in ("ana", "ben"):
        _, token = invite(api, admin, school_id, f"{name}@example.com", "teacher")
        members.append(
            api.post("/api/v1/auth/register", register_body(f"{name}@example.com", token)).json["user"]["id"]
        )
    requests_: list[tuple[str, str, dict[str, str] | None]] = [
        ("PATCH", members[0], {"role": r}) for r in ("student", "school_admin", "teacher", "student")
    ]
    requests_ += [("PATCH", members[1], {"role": "school_admin"}), ("DELETE", members[1], None)]

    def send(request: tuple[str, str, dict[str, str] | None]) -> int:
        method, user_id, body = request
        client = Client(api.gateway)
        path = f"{SCHOOLS}/{school_id}/members/{user_id}"
        headers = {"Authorization": f"Bearer {admin}"}
        if body is None:
            return client.open(path, method=method, headers=headers).status_code
        return client.open(path, method=method, headers=headers, json=body).status_code

    with ThreadPoolExecutor(max_workers=len(requests_)) as pool:
        statuses = list(pool.map(send, requests_))
    assert set(statuses) <= {200, 204, 404, 409}, statuses
    roles: dict[str, int] = {"student": 0, "teacher": 0, "school_admin": 0}
    for user in stored("users"):
        if user.get("school_id") == school_id:
            roles[user["role"]] += 1
    assert school_doc(school_id)["counts"] == roles
    assert sum(roles.values()) == (1 if statuses[-1] == 204 else 2)
    # Each member's session holds what their account holds, whichever change committed last.
    accounts = {u_id: fields(store.db().collection("users").document(u_id).get()) for u_id in members}
    for session in [s for s in stored("sessions") if s["user_id"] in accounts]:
        account = accounts[session["user_id"]]
        assert (session["role"], session["school_id"]) == (account["role"], account["school_id"])
