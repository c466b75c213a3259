"""Learning paths as content: authoring (checked references, stable lesson ids, who may write),
the catalogue and its filters, reading a path with the caller's progress, Firestore budgets."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from shared import store
from tests.support import Api, ops
from tests.test_exams import new_question

SEC = "security-plus"


def exercise(exercise_id: str, title: str = "Hello", topic: str = "python") -> None:
    """An exercise as the exercises area stores it (only what paths read)."""
    store.db().collection("exercises").document(exercise_id).set({"title": title, "topic": topic})


def path_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Python from zero",
        "subject": "Programming",
        "description": "Read, watch, then write code.",
        "interests": ["programming"],
        "modules": [
            {
                "title": "Start",
                "lessons": [
                    {
                        "title": "Why Python",
                        "kind": "reading",
                        "topic": "python",
                        "duration_seconds": 300,
                        "body": "Text.",
                    },
                    {
                        "title": "Tour",
                        "kind": "video",
                        "topic": "python",
                        "duration_seconds": 100,
                        "video_url": "https://videos.example.com/tour.mp4",
                    },
                ],
            },
            {
                "title": "Practice",
                "lessons": [
                    {
                        "title": "Hello",
                        "kind": "exercise",
                        "topic": "python",
                        "duration_seconds": 600,
                        "exercise_id": "ex-hello",
                    },
                    {
                        "title": "Quiz",
                        "kind": "practice_exam",
                        "topic": "security",
                        "duration_seconds": 900,
                        "exam_type": SEC,
                        "pass_score": 80,
                    },
                ],
            },
        ],
    }
    body.update(over)
    return body


def lesson_ids(path: dict[str, Any]) -> list[str]:
    return [lesson["id"] for module in path["modules"] for lesson in module["lessons"]]


def count(collection: str) -> int:
    return len(list(store.db().collection(collection).stream()))


def make_refs(api: Any, admin_token: str) -> None:
    """The exercise and the exam type the sample path names (the exam type made by the real API)."""
    exercise("ex-hello")
    assert api.post("/api/v1/questions", new_question("Q1"), token=admin_token).status_code == 201


def make_path(api: Any, token: str, **over: Any) -> dict[str, Any]:
    response = api.post("/api/v1/paths", path_body(**over), token=token)
    assert response.status_code == 201, response.json
    return dict(response.json)


@pytest.fixture
def admin(api: Any) -> str:
    return str(api.admin()["access_token"])


@pytest.fixture
def teacher(api: Any) -> str:
    return str(api.register("teacher@example.com", role="teacher")["access_token"])


@pytest.fixture
def student(api: Any) -> str:
    return str(api.register("student@example.com")["access_token"])


@pytest.fixture
def refs(api: Any, admin: str) -> None:
    make_refs(api, admin)


@pytest.fixture
def created(api: Any, teacher: str, refs: None) -> dict[str, Any]:
    return make_path(api, teacher)


# Authoring ---------------------------------------------------------------------------------------


def test_a_teacher_authors_a_path_and_a_student_reads_it_with_progress(
    api: Api, teacher: str, student: str, refs: None
) -> None:
    response = api.post("/api/v1/paths", path_body(), token=teacher)
    assert response.status_code == 201, response.json
    path = response.json
    # session + the exercise and the exam type (one batch); one write
    assert ops(response) == {"reads": 3, "writes": 1, "deletes": 0}
    assert path["module_count"] == 2 and path["lesson_count"] == 4
    assert path["estimated_minutes"] == 32  # 1900 s
    ids = lesson_ids(path)
    assert len(set(ids)) == 4
    quiz = path["modules"][1]["lessons"][1]
    assert quiz["pass_score"] == 80 and quiz["exam_type"] == SEC and quiz["body"] is None

    read = api.get(f"/api/v1/paths/{path['id']}", token=student)
    assert read.status_code == 200
    assert ops(read) == {"reads": 3, "writes": 0, "deletes": 0}  # session + path and enrolment in one batch
    assert read.json["modules"] == path["modules"]
    assert read.json["progress"] == {
        "enrolled": False,
        "percent": 0,
        "completed_lessons": 0,
        "next_lesson_id": ids[0],
        "lessons": {i: {"completed": False, "watched_seconds": 0, "position_seconds": 0} for i in ids},
    }
    assert api.get("/api/v1/paths/nope", token=student).status_code == 404
    assert api.get(f"/api/v1/paths/{path['id']}").status_code == 401


def test_students_cannot_author(api: Api, student: str, refs: None) -> None:
    response = api.post("/api/v1/paths", path_body(), token=student)
    assert response.status_code == 403
    assert count("paths") == 0


def test_a_practice_exam_lesson_passes_at_70_unless_told(api: Api, teacher: str, refs: None) -> None:
    body = path_body()
    del body["modules"][1]["lessons"][1]["pass_score"]
    response = api.post("/api/v1/paths", body, token=teacher)
    assert response.status_code == 201
    assert response.json["modules"][1]["lessons"][1]["pass_score"] == 70


def test_unknown_exercise_or_exam_type_is_422_and_nothing_is_stored(api: Api, teacher: str) -> None:
    # API.md: a lesson that names an unknown exercise or exam type is 422 (docs/api-contract.md).
    exercise("ex-hello")
    response = api.post("/api/v1/paths", path_body(), token=teacher)  # no security-plus exam type yet
    assert response.status_code == 422
    assert response.json["error"]["details"] == [
        {"field": "modules.1.lessons.1.exam_type", "message": "Unknown exam type."}
    ]
    body = path_body()
    body["modules"][1]["lessons"][0]["exercise_id"] = "ex-missing"
    response = api.post("/api/v1/paths", body, token=teacher)
    assert [d["field"] for d in response.json["error"]["details"]] == [
        "modules.1.lessons.0.exercise_id",
        "modules.1.lessons.1.exam_type",
    ]
    assert count("paths") == 0


def test_a_lesson_id_that_names_nothing_is_404_and_nothing_is_stored(api: Api, teacher: str, refs: None) -> None:
    body = copy.deepcopy(path_body())
    body["modules"][0]["lessons"][0]["id"] = "made-up"
    response = api.post("/api/v1/paths", body, token=teacher)
    assert response.status_code == 404, response.json
    assert [d["field"] for d in response.json["error"]["details"]] == ["modules.0.lessons.0.id"]
    assert count("paths") == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b["modules"][0]["lessons"][0].pop("body"), "modules.0.lessons.0"),
        (lambda b: b["modules"][0]["lessons"][1].pop("video_url"), "modules.0.lessons.1"),
        (
            lambda b: b["modules"][0]["lessons"][1].update(video_url="javascript:alert(1)"),
            "modules.0.lessons.1.video_url",
        ),
        (lambda b: b["modules"][0]["lessons"][0].update(exercise_id="ex-hello"), "modules.0.lessons.0"),
        (lambda b: b["modules"][0]["lessons"][0].update(kind="podcast"), "modules.0.lessons.0.kind"),
        (lambda b: b["modules"][0]["lessons"][0].update(duration_seconds=0), "modules.0.lessons.0.duration_seconds"),
        (lambda b: b["modules"][1]["lessons"][1].update(pass_score=101), "modules.1.lessons.1.pass_score"),
        (lambda b: b.update(interests=["knitting"]), "interests.0"),
        (lambda b: b.update(interests=["programming", "programming"]), "interests"),
        (lambda b: b.update(modules=[]), "modules"),
        (lambda b: b["modules"][0].update(lessons=[]), "modules.0.lessons"),
        (lambda b: b.update(author_id="someone"), "author_id"),
    ],
)
def test_bad_paths_are_422_and_nothing_is_stored(
    api: Api, teacher: str, refs: None, change: Callable[[dict[str, Any]], object], field: str
) -> None:
    body = copy.deepcopy(path_body())
    change(body)
    response = api.post("/api/v1/paths", body, token=teacher)
    assert response.status_code == 422, response.json
    assert field in [d["field"] for d in response.json["error"]["details"]]
    assert count("paths") == 0


def test_a_path_too_large_for_one_document_is_413(api: Api, teacher: str, refs: None) -> None:
    lessons = [
        {"title": f"R{n}", "kind": "reading", "topic": "t", "duration_seconds": 60, "body": "x" * 20_000}
        for n in range(48)
    ]
    response = api.post("/api/v1/paths", path_body(modules=[{"title": "Big", "lessons": lessons}]), token=teacher)
    assert response.status_code == 413
    assert count("paths") == 0


def test_put_keeps_the_ids_it_is_sent_and_only_the_author_or_an_admin_may(
    api: Api, teacher: str, student: str, admin: str, created: dict[str, Any]
) -> None:
    path_id = created["id"]
    reading, video, hello, quiz = lesson_ids(created)
    body = path_body(title="Python, revised")
    # Move the quiz first, keep the reading (by id), drop the video, add a new reading.
    body["modules"] = [
        {
            "id": created["modules"][1]["id"],
            "title": "Practice",
            "lessons": [{**body["modules"][1]["lessons"][1], "id": quiz}],
        },
        {
            "title": "Start again",
            "lessons": [
                {**body["modules"][0]["lessons"][0], "id": reading},
                {"title": "New", "kind": "reading", "topic": "python", "duration_seconds": 60, "body": "More."},
            ],
        },
    ]
    other = api.register("other@example.com", role="teacher")["access_token"]
    assert api.put(f"/api/v1/paths/{path_id}", body, token=other).status_code == 403
    assert api.put(f"/api/v1/paths/{path_id}", body, token=student).status_code == 403
    assert api.put("/api/v1/paths/nope", body, token=teacher).status_code == 404

    response = api.put(f"/api/v1/paths/{path_id}", body, token=teacher)
    assert response.status_code == 200, response.json
    # session + the path (in the transaction) + the exam type; one write
    assert ops(response) == {"reads": 3, "writes": 1, "deletes": 0}
    updated = response.json
    ids = lesson_ids(updated)
    assert ids[:2] == [quiz, reading] and ids[2] not in (video, hello)
    assert updated["modules"][0]["id"] == created["modules"][1]["id"]
    assert updated["title"] == "Python, revised" and updated["created_at"] == created["created_at"]
    assert updated["lesson_count"] == 3 and updated["author_id"] == created["author_id"]

    # An id of a lesson that is no longer in the path, or one used twice, names nothing: 404.
    body["modules"][1]["lessons"][1]["id"] = video
    assert api.put(f"/api/v1/paths/{path_id}", body, token=teacher).status_code == 404
    body["modules"][1]["lessons"][1]["id"] = reading
    assert api.put(f"/api/v1/paths/{path_id}", body, token=teacher).status_code == 404
    assert lesson_ids(api.get(f"/api/v1/paths/{path_id}", token=student).json) == ids

    del body["modules"][1]["lessons"][1]["id"]
    body["title"] = "By the admin"
    assert api.put(f"/api/v1/paths/{path_id}", body, token=admin).json["title"] == "By the admin"


def test_delete_by_the_author_or_an_admin(
    api: Api, teacher: str, student: str, admin: str, created: dict[str, Any]
) -> None:
    path_id = created["id"]
    other = api.register("other@example.com", role="teacher")["access_token"]
    assert api.delete(f"/api/v1/paths/{path_id}", token=other).status_code == 403
    assert api.delete(f"/api/v1/paths/{path_id}", token=student).status_code == 403
    deleted = api.delete(f"/api/v1/paths/{path_id}", token=teacher)
    assert deleted.status_code == 204
    assert ops(deleted) == {"reads": 2, "writes": 0, "deletes": 1}
    assert api.get(f"/api/v1/paths/{path_id}", token=student).status_code == 404
    assert api.delete(f"/api/v1/paths/{path_id}", token=admin).status_code == 404
    again = api.post("/api/v1/paths", path_body(), token=teacher).json
    assert api.delete(f"/api/v1/paths/{again['id']}", token=admin).status_code == 204


# The catalogue -------------------------------------------------------------------------------------


def test_list_filters_by_subject_and_interest_newest_first(api: Api, teacher: str, student: str, refs: None) -> None:
    made = []
    for title, subject, interests in [
        ("P1", "Programming", ["programming"]),
        ("S1", "Security", ["cybersecurity"]),
        ("P2", "programming", ["programming", "web-development"]),
        ("S2", "Security", ["cybersecurity", "programming"]),
    ]:
        response = api.post(
            "/api/v1/paths", path_body(title=title, subject=subject, interests=interests), token=teacher
        )
        made.append(response.json)

    def titles(query: str) -> list[str]:
        response = api.get(f"/api/v1/paths{query}", token=student)
        assert response.status_code == 200, response.json
        return [p["title"] for p in response.json["items"]]

    assert titles("") == ["S2", "P2", "S1", "P1"]
    assert titles("?subject=PROGRAMMING") == ["P2", "P1"]
    assert titles("?interest=programming") == ["S2", "P2", "P1"]
    assert titles("?subject=security&interest=programming") == ["S2"]
    assert titles("?interest=web-development") == ["P2"]

    first = api.get("/api/v1/paths?limit=3", token=student)
    assert ops(first) == {"reads": 5, "writes": 0, "deletes": 0}  # session + limit + 1
    item = first.json["items"][0]
    assert item == {
        "id": made[3]["id"],
        "title": "S2",
        "subject": "Security",
        "description": "Read, watch, then write code.",
        "interests": ["cybersecurity", "programming"],
        "module_count": 2,
        "lesson_count": 4,
        "estimated_minutes": 32,
    }
    rest = api.get(f"/api/v1/paths?limit=3&cursor={first.json['next_cursor']}", token=student)
    assert [p["title"] for p in rest.json["items"]] == ["P1"] and rest.json["next_cursor"] is None

    bad = api.get("/api/v1/paths?interest=knitting", token=student)
    assert bad.status_code == 422 and bad.json["error"]["details"][0]["field"] == "interest"
    assert api.get("/api/v1/paths?cursor=garbage", token=student).status_code == 404
    assert api.get("/api/v1/paths").status_code == 401


def test_the_demo_loader_builds_both_paths_once(api: Api, admin: str) -> None:
    from infra.local import demo_paths, seed

    for account in seed.DEMO_ACCOUNTS:
        seed.ensure_account(account)
    exercise("demo-hello-world")
    exercise("demo-fizzbuzz")  # the other three demo exercises are missing: their lessons are skipped
    assert api.post("/api/v1/questions", new_question("Q1"), token=admin).status_code == 201

    summary = demo_paths.load()
    assert summary.startswith("2 paths") and "3 exercise lessons skipped" in summary
    student = api.login("student@studyhall.dev", seed.DEMO_PASSWORD)
    token = student["access_token"]
    mine = api.get(f"/api/v1/users/{student['user']['id']}/paths", token=token).json["items"]
    assert {p["path_id"] for p in mine} == {demo_paths.PYTHON_PATH_ID, demo_paths.SECURITY_PATH_ID}

    python = api.get(f"/api/v1/paths/{demo_paths.PYTHON_PATH_ID}", token=token).json
    lessons = [lesson for module in python["modules"] for lesson in module["lessons"]]
    assert [lesson["exercise_id"] for lesson in lessons if lesson["kind"] == "exercise"] == [
        "demo-hello-world",
        "demo-fizzbuzz",
    ]
    assert {lesson["kind"] for lesson in lessons} == {"reading", "video", "exercise"}
    security = api.get(f"/api/v1/paths/{demo_paths.SECURITY_PATH_ID}", token=token).json
    practice = [
        lesson for module in security["modules"] for lesson in module["lessons"] if lesson["kind"] == "practice_exam"
    ]
    assert [p["exam_type"] for p in practice] == [SEC, SEC]

    demo_paths.load()  # again: nothing changes
    assert count("paths") == 2
    assert lesson_ids(api.get(f"/api/v1/paths/{demo_paths.PYTHON_PATH_ID}", token=token).json) == lesson_ids(python)
