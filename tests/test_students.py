"""Student profile and interests: who may read, who may change, what is stored."""

from __future__ import annotations

from typing import Any

import pytest

from shared import store
from shared.store import eq
from tests.support import Api, fields, ops
from tests.test_classes import admin, existing, join, new_class, person


def test_interest_catalogue_is_public_data(api: Api) -> None:
    response = api.get("/api/v1/interests")
    assert response.status_code == 200
    items = response.json["items"]
    assert len(items) >= 5
    assert all(set(item) == {"id", "name", "category"} for item in items)
    assert len({item["id"] for item in items}) == len(items)
    assert ops(response)["reads"] == 0


def catalogue_ids(api: Api) -> list[str]:
    return [item["id"] for item in api.get("/api/v1/interests").json["items"]]


def test_student_picks_interests(api: Api) -> None:
    student = person(api, "s@example.com")
    ids = catalogue_ids(api)[:3]
    path = f"/api/v1/students/{student.id}/interests"

    chosen = api.put(path, {"interest_ids": ids}, token=student.token)
    assert chosen.status_code == 200, chosen.json
    assert chosen.json["interest_ids"] == ids
    assert [i["id"] for i in chosen.json["interests"]] == ids
    assert ops(chosen) == {"reads": 2, "writes": 1, "deletes": 0}
    assert existing("users", student.id)["interest_ids"] == ids

    got = api.get(path, token=student.token)
    assert got.status_code == 200 and got.json["interest_ids"] == ids
    assert ops(got) == {"reads": 2, "writes": 0, "deletes": 0}


@pytest.mark.parametrize(
    "body",
    [
        {"interest_ids": []},
        {"interest_ids": ["a", "b", "c", "d", "e", "f"]},
        {"interest_ids": ["programming", "programming"]},
        {"interest_ids": ["programming", "no-such-interest"]},
        {"interest_ids": "programming"},
        {"interest_ids": ["programming"], "extra": 1},
        {},
    ],
)
def test_bad_interests_refused_and_nothing_stored(api: Api, body: dict[str, Any]) -> None:
    student = person(api, "s@example.com")
    response = api.put(f"/api/v1/students/{student.id}/interests", body, token=student.token)
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "validation_error"
    assert "interest_ids" not in existing("users", student.id)


def test_unknown_interest_is_named_in_details(api: Api) -> None:
    student = person(api, "s@example.com")
    response = api.put(
        f"/api/v1/students/{student.id}/interests", {"interest_ids": ["programming", "nope"]}, token=student.token
    )
    assert response.json["error"]["details"] == [
        {"field": "interest_ids.1", "message": "Unknown interest: pick ids from GET /api/v1/interests."}
    ]


def test_interests_of_others(api: Api) -> None:
    teacher, other = person(api, "t@example.com", "teacher"), person(api, "o@example.com", "teacher")
    ann, bob = person(api, "ann@example.com"), person(api, "bob@example.com")
    klass = new_class(api, teacher)
    join(api, ann, klass["class_code"])
    path = f"/api/v1/students/{ann.id}/interests"
    api.put(path, {"interest_ids": ["programming"]}, token=ann.token)

    assert api.put(path, {"interest_ids": ["robotics"]}, token=bob.token).status_code == 403
    assert api.put(path, {"interest_ids": ["robotics"]}, token=teacher.token).status_code == 403
    assert api.get(path, token=bob.token).status_code == 403
    assert api.get(path, token=other.token).status_code == 403
    assert api.get(path, token=teacher.token).json["interest_ids"] == ["programming"]
    assert api.get(path).status_code == 401
    assert existing("users", ann.id)["interest_ids"] == ["programming"]


def test_profile_read_by_self_teacher_and_admin_only(api: Api) -> None:
    teacher, other = person(api, "t@example.com", "teacher"), person(api, "o@example.com", "teacher")
    ann = person(api, "ann@example.com", first_name="Ann", last_name="Lee", grade_level=10)
    bob = person(api, "bob@example.com")
    boss = admin(api)
    klass = new_class(api, teacher)
    join(api, ann, klass["class_code"])
    api.put(f"/api/v1/students/{ann.id}/interests", {"interest_ids": ["programming", "robotics"]}, token=ann.token)
    path = f"/api/v1/students/{ann.id}"

    own = api.get(path, token=ann.token)
    assert own.status_code == 200, own.json
    body = own.json
    assert (body["first_name"], body["last_name"], body["grade_level"]) == ("Ann", "Lee", 10)
    assert body["interest_ids"] == ["programming", "robotics"]
    assert [(c["class_id"], c["name"], c["teacher_id"]) for c in body["classes"]] == [
        (klass["id"], "Algebra I", teacher.id)
    ]
    assert "password_hash" not in body and "role" not in body
    # session + memberships + user + the classes of those memberships
    assert ops(own) == {"reads": 4, "writes": 0, "deletes": 0}

    as_teacher = api.get(path, token=teacher.token)
    assert as_teacher.status_code == 200 and as_teacher.json == body
    assert ops(as_teacher) == {"reads": 4, "writes": 0, "deletes": 0}
    assert api.get(path, token=boss.token).status_code == 200
    assert api.get(path, token=other.token).status_code == 403
    refused = api.get(path, token=bob.token)
    assert refused.status_code == 403
    assert ops(refused)["reads"] == 1  # another student is refused before any read of the profile
    assert api.get(path).status_code == 401
    assert api.get("/api/v1/students/no-such-student", token=other.token).status_code == 403
    assert api.get("/api/v1/students/no-such-student", token=boss.token).status_code == 404
    assert api.get(f"/api/v1/students/{teacher.id}", token=boss.token).status_code == 404  # not a student


def test_a_name_changed_on_the_account_reaches_the_class_rosters(api: Api) -> None:
    """PATCH /users/{id} and PATCH /students/{id} are one write path: either keeps the roster true."""
    teacher = person(api, "t@example.com", "teacher")
    ann = person(api, "ann@example.com", first_name="Ann")
    klass = new_class(api, teacher)
    join(api, ann, klass["class_code"])
    changed = api.patch(f"/api/v1/users/{ann.id}", {"first_name": "Anna", "last_name": "Lee"}, token=ann.token)
    assert changed.status_code == 200, changed.json
    roster = api.get(f"/api/v1/classes/{klass['id']}/students", token=teacher.token).json["items"]
    assert [(s["first_name"], s["last_name"]) for s in roster] == [("Anna", "Lee")]


def test_profile_patch_updates_names_and_grade_only(api: Api) -> None:
    teacher = person(api, "t@example.com", "teacher")
    ann, bob = person(api, "ann@example.com", first_name="Ann"), person(api, "bob@example.com")
    klass = new_class(api, teacher)
    join(api, ann, klass["class_code"])
    path = f"/api/v1/students/{ann.id}"

    changed = api.patch(path, {"first_name": "Annie", "grade_level": 11}, token=ann.token)
    assert changed.status_code == 200, changed.json
    assert changed.json["first_name"] == "Annie" and changed.json["grade_level"] == 11
    # session + user; the user and its audit entry; the memberships (the roster copies, one
    # write), the active ones for the answer and their class
    assert ops(changed) == {"reads": 5, "writes": 3, "deletes": 0}
    audited = [fields(e) for e in store.db().collection("audit_logs").where(filter=eq("target_id", ann.id)).stream()]
    assert [(e["action"], e["details"]["fields"]) for e in audited if e["action"] == "user.updated"] == [
        ("user.updated", ["first_name", "grade_level"])
    ]
    user = existing("users", ann.id)
    assert (user["first_name"], user["grade_level"], user["role"], user["email"]) == (
        "Annie",
        11,
        "student",
        "ann@example.com",
    )
    roster = api.get(f"/api/v1/classes/{klass['id']}/students", token=teacher.token).json["items"]
    assert [(s["first_name"], s["grade_level"]) for s in roster] == [("Annie", 11)]

    for body in (
        {"grade_level": 8},
        {"grade_level": 13},
        {"role": "admin"},
        {"email": "x@example.com"},
        {},
        {"first_name": ""},
        {"first_name": None},
        {"first_name": "x" * 101},
    ):
        response = api.patch(path, body, token=ann.token)
        assert response.status_code == 422, (body, response.json)
    assert api.patch(path, {"first_name": "Hacked"}, token=bob.token).status_code == 403
    assert api.patch(path, {"first_name": "Hacked"}, token=teacher.token).status_code == 403
    user = existing("users", ann.id)
    assert (user["first_name"], user["grade_level"], user["role"]) == ("Annie", 11, "student")
