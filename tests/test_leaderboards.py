"""Leaderboards: rebuilt by the scheduled job (triggered as Cloud Scheduler would), one
document per board, the caller's own rank, access to class boards, and constant read cost."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from functions.leaderboards import service as boards
from shared import store
from tests.support import Api, ops
from tests.test_progress import EXAM, answered, completed, days_ago, student


def give_xp(user_id: str, right: int, *, exam_type: str = EXAM) -> None:
    """10 XP per correct answer."""
    for _ in range(right):
        answered(user_id, days_ago(0), exam_type=exam_type)


def run_rebuild(api: Any, drain: Any, admin_token: str) -> None:
    response = api.post("/api/v1/admin/jobs/leaderboards-rebuild/run", token=admin_token)
    assert response.status_code == 202, response.json
    drain()


def join(class_id: str, student_id: str, teacher_id: str) -> None:
    store.db().collection("class_memberships").document(f"{class_id}_{student_id}").set(
        {
            "class_id": class_id,
            "student_id": student_id,
            "teacher_id": teacher_id,
            "joined_at": store.now(),
            "status": "active",
        }
    )
    from shared.events import publish

    publish("class.joined", {"user_id": student_id, "class_id": class_id})


def test_global_board_after_the_scheduled_rebuild(api: Api, drain: Callable[..., int]) -> None:
    admin = api.admin()
    ana, ana_token = student(api, "ana@example.com")
    ben, ben_token = student(api, "ben@example.com")
    cy, _ = student(api, "cy@example.com")
    idle, idle_token = student(api, "idle@example.com")
    give_xp(ana, 3)
    give_xp(ben, 5)
    give_xp(cy, 3)
    drain()

    before = api.get("/api/v1/leaderboards/global", token=ana_token)
    assert before.status_code == 200
    assert before.json["entries"] == [] and before.json["rebuilt_at"] is None

    run_rebuild(api, drain, admin["access_token"])
    response = api.get("/api/v1/leaderboards/global", token=ana_token)
    assert response.status_code == 200, response.json
    body = response.json
    assert [(e["user_id"], e["xp"], e["rank"]) for e in body["entries"][:1]] == [(ben, 50, 1)]
    assert {(e["user_id"], e["rank"]) for e in body["entries"][1:]} == {(ana, 2), (cy, 2)}  # a tie shares a rank
    assert body["entries"][0]["display_name"] == "Test U."
    assert body["total_ranked"] == 3
    assert body["rebuilt_at"] is not None
    assert body["me"] == {"user_id": ana, "xp": 30, "rank": 2}
    assert "email" not in response.get_data(as_text=True)

    # Someone with no XP is not ranked; their own rank says so.
    assert api.get("/api/v1/leaderboards/global", token=idle_token).json["me"] == {
        "user_id": idle,
        "xp": 0,
        "rank": None,
    }
    # The board is a snapshot: new XP shows after the next rebuild.
    give_xp(ana, 3)
    drain()
    assert api.get("/api/v1/leaderboards/global", token=ben_token).json["entries"][0]["user_id"] == ben
    run_rebuild(api, drain, admin["access_token"])
    assert api.get("/api/v1/leaderboards/global", token=ben_token).json["entries"][0]["user_id"] == ana


def test_own_rank_outside_the_top_entries_costs_constant_reads(api: Api, drain: Callable[..., int]) -> None:
    users = [student(api, f"r{i}@example.com") for i in range(6)]
    for i, (user_id, _) in enumerate(users):
        give_xp(user_id, i + 1)
    drain()
    boards.rebuild_all(store.now(), top_n=2)

    last_id, last_token = users[0]  # the least XP: rank 6
    response = api.get("/api/v1/leaderboards/global", token=last_token)
    assert response.status_code == 200
    assert len(response.json["entries"]) == 2
    assert response.json["total_ranked"] == 6
    assert response.json["me"] == {"user_id": last_id, "xp": 10, "rank": 6}
    # session, board, own stats, one count aggregation
    assert ops(response) == {"reads": 4, "writes": 0, "deletes": 0}

    _, top_token = users[-1]
    in_top = api.get("/api/v1/leaderboards/global", token=top_token)
    assert in_top.json["me"]["rank"] == 1
    assert ops(in_top) == {"reads": 2, "writes": 0, "deletes": 0}  # session, board


def test_rebuild_reads_grow_with_board_size_not_users(api: Api, drain: Callable[..., int]) -> None:
    users = [student(api, f"b{i}@example.com") for i in range(8)]
    for i, (user_id, _) in enumerate(users):
        give_xp(user_id, i + 1)
    drain()
    meter = store.start_metering()
    boards.rebuild_all(store.now(), top_n=3)
    # scopes listing (1: exam:a-plus-core-1) + per board (global, exam) 3 entries + 1 count
    assert meter.reads == 1 + 2 * (3 + 1)
    assert meter.writes == 2


def test_exam_board_ranks_xp_of_that_exam(api: Api, drain: Callable[..., int]) -> None:
    admin = api.admin()
    ana, ana_token = student(api, "ana@example.com")
    ben, _ = student(api, "ben@example.com")
    give_xp(ana, 5, exam_type="network-plus")
    give_xp(ben, 2, exam_type="network-plus")
    give_xp(ben, 9, exam_type="security-plus")
    completed(ben, days_ago(0), score=100, correct=1, total=1, exam_type="security-plus")
    drain()
    run_rebuild(api, drain, admin["access_token"])

    net = api.get("/api/v1/leaderboards/exam:network-plus", token=ana_token).json
    assert [(e["user_id"], e["xp"]) for e in net["entries"]] == [(ana, 50), (ben, 20)]
    sec = api.get("/api/v1/leaderboards/exam:security-plus", token=ana_token).json
    assert [(e["user_id"], e["xp"]) for e in sec["entries"]] == [(ben, 90 + 100)]
    assert sec["me"] == {"user_id": ana, "xp": 0, "rank": None}
    glob = api.get("/api/v1/leaderboards/global", token=ana_token).json
    assert [(e["user_id"], e["xp"]) for e in glob["entries"]] == [(ben, 210), (ana, 50)]
    unknown = api.get("/api/v1/leaderboards/exam:never-played", token=ana_token)
    assert unknown.status_code == 200 and unknown.json["entries"] == []


def test_class_board_members_teacher_and_outsiders(api: Api, drain: Callable[..., int]) -> None:
    admin = api.admin()
    teacher = api.register("teacher@example.com", role="teacher")
    other_teacher = api.register("other-teacher@example.com", role="teacher")
    teacher_id = teacher["user"]["id"]
    store.db().collection("classes").document("c1").set({"teacher_id": teacher_id, "name": "Net", "status": "active"})
    ana, ana_token = student(api, "ana@example.com")
    ben, _ = student(api, "ben@example.com")
    outsider, outsider_token = student(api, "out@example.com")
    join("c1", ana, teacher_id)
    join("c1", ben, teacher_id)
    drain()
    give_xp(ana, 2)
    give_xp(ben, 4)
    give_xp(outsider, 9)
    drain()
    run_rebuild(api, drain, admin["access_token"])

    mine = api.get("/api/v1/leaderboards/class:c1", token=ana_token)
    assert mine.status_code == 200, mine.json
    assert [(e["user_id"], e["rank"]) for e in mine.json["entries"]] == [(ben, 1), (ana, 2)]
    assert mine.json["me"]["rank"] == 2
    assert ops(mine)["reads"] <= 4  # session, membership, board (own rank is on it)

    as_teacher = api.get("/api/v1/leaderboards/class:c1", token=teacher["access_token"])
    assert as_teacher.status_code == 200
    assert len(as_teacher.json["entries"]) == 2
    assert api.get("/api/v1/leaderboards/class:c1", token=admin["access_token"]).status_code == 200

    for token in (outsider_token, other_teacher["access_token"]):
        hidden = api.get("/api/v1/leaderboards/class:c1", token=token)
        assert hidden.status_code == 404
        assert hidden.json["error"]["code"] == "not_found"
    assert api.get("/api/v1/leaderboards/class:nope", token=ana_token).status_code == 404

    # Leaving the class (membership removed, then class.left) takes the student off the board.
    store.db().collection("class_memberships").document(f"c1_{ben}").update({"status": "removed"})
    from shared.events import publish

    publish("class.left", {"user_id": ben, "class_id": "c1"})
    drain()
    run_rebuild(api, drain, admin["access_token"])
    assert [e["user_id"] for e in api.get("/api/v1/leaderboards/class:c1", token=ana_token).json["entries"]] == [ana]


def test_bad_scopes_and_no_token(api: Api) -> None:
    _, token = student(api, "x@example.com")
    for scope in ("weekly", "exam:", "class:", "global:x", "exam:a%20b"):
        response = api.get(f"/api/v1/leaderboards/{scope}", token=token)
        assert response.status_code == 404, scope
    assert api.get("/api/v1/leaderboards/global").status_code == 401
    assert api.post("/api/v1/leaderboards/global", token=token).status_code == 405
