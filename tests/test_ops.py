"""POST /api/v1/admin/jobs/{name}/run: a scheduled job, run now, as its trigger would."""

from __future__ import annotations

from collections.abc import Callable

from shared import store
from tests.support import Api, ops


def test_admin_runs_a_scheduled_job(api: Api, drain: Callable[..., int]) -> None:
    admin = api.admin()
    response = api.post("/api/v1/admin/jobs/leaderboards-rebuild/run", token=admin["access_token"])
    assert response.status_code == 202, response.json
    assert response.json["job"] == "leaderboards-rebuild"
    assert response.json["topic"] == "jobs.leaderboards-rebuild"
    assert response.json["message_id"]
    assert ops(response) == {"reads": 1, "writes": 0, "deletes": 0}
    assert not store.db().collection("leaderboards").document("global").get().exists
    drain()
    board = store.db().collection("leaderboards").document("global").get().to_dict()
    assert board is not None and board["entries"] == []


def test_only_admins_run_jobs_and_only_known_ones(api: Api, drain: Callable[..., int]) -> None:
    student = api.register("s@example.com")
    teacher = api.register("t@example.com", role="teacher")
    for token in (student["access_token"], teacher["access_token"]):
        denied = api.post("/api/v1/admin/jobs/leaderboards-rebuild/run", token=token)
        assert denied.status_code == 403
        assert denied.json["error"]["code"] == "forbidden"
    assert api.post("/api/v1/admin/jobs/leaderboards-rebuild/run").status_code == 401
    admin = api.admin()
    unknown = api.post("/api/v1/admin/jobs/drop-everything/run", token=admin["access_token"])
    assert unknown.status_code == 404
    assert api.get("/api/v1/admin/jobs/leaderboards-rebuild/run", token=admin["access_token"]).status_code == 405
    drain()
    assert not store.db().collection("leaderboards").document("global").get().exists
