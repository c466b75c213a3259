"""Owner guards on the declaration line (shared.http.self_or_admin, teacher_self_or_admin,
student_self): someone else is refused with 403 `forbidden` before any document is read, the body
is not even parsed, nothing is written; the OpenAPI document shows the guard."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from google.cloud import storage
from PIL import Image

from shared import store
from shared.config import settings
from tests.support import Api, JsonResponse, ops

ROOT = Path(__file__).resolve().parent.parent
USERS = "/api/v1/users"
OPENAPI = json.loads((ROOT / "docs" / "openapi.json").read_text())


def everything() -> dict[str, Any]:
    """Every stored document and avatar object: what a refused request must leave alone."""
    documents = {
        snapshot.reference.path: snapshot.to_dict()
        for collection in store.db().collections()
        for snapshot in collection.stream()
    }
    objects = {blob.name for blob in storage.Client().bucket(settings().avatars_bucket).list_blobs()}
    return {"documents": documents, "objects": objects}


def refused(response: JsonResponse) -> None:
    """403 forbidden, having read only the caller's session and written nothing."""
    assert response.status_code == 403, response.json
    assert response.json["error"]["code"] == "forbidden"
    assert ops(response) == {"reads": 1, "writes": 0, "deletes": 0}


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 20, 30)).save(out, format="PNG")
    return out.getvalue()


def test_a_third_user_is_refused_on_every_account_route_and_nothing_is_written(api: Api) -> None:
    alice = api.register("alice@example.com")
    bob = api.register("bob@example.com", role="teacher")
    uid, token = alice["user"]["id"], bob["access_token"]
    mine = api.call("PUT", f"{USERS}/{uid}/avatar", token=alice["access_token"], data=png(), content_type="image/png")
    assert mine.status_code == 200
    before = everything()

    refused(api.get(f"{USERS}/{uid}", token=token))
    refused(api.patch(f"{USERS}/{uid}", {"first_name": "Mallory", "bio": "mine now"}, token=token))
    refused(api.patch(f"{USERS}/{uid}", {"role": "admin"}, token=token))
    refused(api.patch(f"{USERS}/{uid}", {"first_name": 5}, token=token))  # refused before it is validated
    refused(api.call("PATCH", f"{USERS}/{uid}", token=token, data="{not json", content_type="application/json"))
    refused(api.delete(f"{USERS}/{uid}", token=token))
    refused(api.call("PUT", f"{USERS}/{uid}/avatar", token=token, data=png(), content_type="image/png"))
    refused(api.call("PUT", f"{USERS}/{uid}/avatar", token=token, data=b"not an image", content_type="image/png"))
    refused(api.delete(f"{USERS}/{uid}/avatar", token=token))
    refused(api.get(f"{USERS}/{uid}/export", token=token))

    assert everything() == before
    # Alice is untouched and still signed in; Bob's refusals spent none of his export allowance.
    me = api.get("/api/v1/auth/me", token=alice["access_token"])
    assert me.status_code == 200 and me.json["first_name"] == "Test" and me.json["avatar_url"]
    assert api.get(f"{USERS}/{bob['user']['id']}/export", token=token).status_code == 200


def test_account_routes_keep_401_for_strangers_and_404_for_an_admin_on_an_unknown_user(api: Api) -> None:
    alice = api.register("alice@example.com")
    uid = alice["user"]["id"]
    before = everything()
    for method, path in [
        ("GET", f"{USERS}/{uid}"),
        ("PATCH", f"{USERS}/{uid}"),
        ("DELETE", f"{USERS}/{uid}"),
        ("PUT", f"{USERS}/{uid}/avatar"),
        ("DELETE", f"{USERS}/{uid}/avatar"),
        ("GET", f"{USERS}/{uid}/export"),
    ]:
        response = api.call(method, path)
        assert response.status_code == 401 and response.json["error"]["code"] == "unauthorized", (method, path)
    assert everything() == before

    boss = api.admin()["access_token"]
    for method, path in [
        ("GET", f"{USERS}/nosuchuser"),
        ("DELETE", f"{USERS}/nosuchuser"),
        ("GET", f"{USERS}/nosuchuser/export"),
    ]:
        response = api.call(method, path, token=boss)
        assert response.status_code == 404 and response.json["error"]["code"] == "not_found", (method, path)
    assert api.patch(f"{USERS}/nosuchuser", {"bio": "x"}, token=boss).status_code == 404
    # The owner and an admin pass the guard.
    assert api.get(f"{USERS}/{uid}", token=alice["access_token"]).status_code == 200
    assert api.patch(f"{USERS}/{uid}", {"bio": "by the admin"}, token=boss).json["bio"] == "by the admin"


def test_the_owner_still_may_not_change_their_own_role(api: Api) -> None:
    """The guard lets the owner in; the service's own rules still hold behind it."""
    alice = api.register("alice@example.com")
    uid = alice["user"]["id"]
    before = everything()
    response = api.patch(f"{USERS}/{uid}", {"role": "admin"}, token=alice["access_token"])
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"
    assert everything() == before
    assert api.get(f"{USERS}/{uid}", token=alice["access_token"]).json["role"] == "student"


def teacher_with_class(api: Api, email: str) -> tuple[str, str, dict[str, Any]]:
    tokens = api.register(email, role="teacher")
    klass = api.post("/api/v1/teachers/classes", {"name": "Algebra", "subject": "Math"}, token=tokens["access_token"])
    assert klass.status_code == 201
    return tokens["user"]["id"], tokens["access_token"], dict(klass.json)


def test_another_teacher_is_refused_on_a_teachers_routes_before_the_query_is_read(api: Api) -> None:
    teacher_id, teacher_token, _ = teacher_with_class(api, "t@example.com")
    _, rival_token, _ = teacher_with_class(api, "rival@example.com")
    student = api.register("s@example.com")
    boss = api.admin()["access_token"]
    before = everything()
    for route in ("classes", "student-requests", "dashboard"):
        path = f"/api/v1/teachers/{teacher_id}/{route}"
        refused(api.get(path, token=rival_token))
        refused(api.get(f"{path}?limit=1000&cursor=nonsense", token=rival_token))
        role = api.get(path, token=student["access_token"])
        assert role.status_code == 403 and role.json["error"]["code"] == "forbidden"
        assert api.get(path).status_code == 401
        assert api.get(path, token=teacher_token).status_code == 200
        assert api.get(path, token=boss).status_code == 200
    assert everything() == before


def test_a_student_cannot_join_a_class_for_another_student(api: Api) -> None:
    _, _, klass = teacher_with_class(api, "t@example.com")
    ann = api.register("ann@example.com")
    bob = api.register("bob@example.com")
    path = f"/api/v1/students/{ann['user']['id']}/classes/join"
    boss = api.admin()["access_token"]
    before = everything()
    refused(api.post(path, {"class_code": klass["class_code"]}, token=bob["access_token"]))
    refused(api.post(path, {"class_code": 7}, token=bob["access_token"]))  # refused before it is validated
    assert api.post(path, {"class_code": klass["class_code"]}).status_code == 401
    by_admin = api.post(path, {"class_code": klass["class_code"]}, token=boss)
    assert by_admin.status_code == 403 and by_admin.json["error"]["code"] == "forbidden"  # joining is the student's
    assert everything() == before
    assert api.post(path, {"class_code": klass["class_code"]}, token=ann["access_token"]).status_code == 201


def test_the_openapi_document_shows_each_owner_guard() -> None:
    access = {
        (path, verb): operation.get("x-access")
        for path, item in OPENAPI["paths"].items()
        for verb, operation in item.items()
    }
    own = "signed-in; the user {id} themself or an admin"
    teacher = "roles: admin, school_admin, teacher; the teacher {teacher_id} themself or an admin"
    assert {
        key: access[key]
        for key in [
            ("/api/v1/users/{id}", "get"),
            ("/api/v1/users/{id}", "patch"),
            ("/api/v1/users/{id}", "delete"),
            ("/api/v1/users/{id}/avatar", "put"),
            ("/api/v1/users/{id}/avatar", "delete"),
            ("/api/v1/users/{id}/export", "get"),
            ("/api/v1/teachers/{teacher_id}/classes", "get"),
            ("/api/v1/teachers/{teacher_id}/student-requests", "get"),
            ("/api/v1/teachers/{teacher_id}/dashboard", "get"),
            ("/api/v1/students/{student_id}/classes/join", "post"),
        ]
    } == {
        ("/api/v1/users/{id}", "get"): own,
        ("/api/v1/users/{id}", "patch"): own,
        ("/api/v1/users/{id}", "delete"): own,
        ("/api/v1/users/{id}/avatar", "put"): own,
        ("/api/v1/users/{id}/avatar", "delete"): own,
        ("/api/v1/users/{id}/export", "get"): own,
        ("/api/v1/teachers/{teacher_id}/classes", "get"): teacher,
        ("/api/v1/teachers/{teacher_id}/student-requests", "get"): teacher,
        ("/api/v1/teachers/{teacher_id}/dashboard", "get"): teacher,
        ("/api/v1/students/{student_id}/classes/join", "post"): "roles: student; the student {student_id} themself",
    }
    # The admin-only status route keeps its role guard and no owner clause.
    assert access[("/api/v1/users/{id}/status", "patch")] == "roles: admin"
