"""Issue 4's acceptance, in one story: an admin uploads a CSV with good and bad rows, reads the
report, re-uploads it; a student takes a practice and an exam session end to end, including
answering twice, answering a question not in the session, submitting twice and reading
someone else's session."""

from __future__ import annotations

import threading

from tests.support import Api, Stack
from tests.test_imports import csv_bytes, fire, row, upload


def test_issue_4_acceptance(api: Api, stack: Stack) -> None:
    admin = api.admin()["access_token"]
    rows = [row(f"A{i:02}", f"{1 + i % 3}.1", "ABCD"[i % 4]) for i in range(20)]
    answers = {f"network-plus:{r[0]}": r[-1] for r in rows}
    rows.insert(3, row("A01", "1.1", "A"))  # duplicate id: row 5
    rows.insert(7, row("BAD", "x.y", "A"))  # bad domain: row 9
    rows.insert(9, row("BAD2", "1.1", "Z"))  # bad answer: row 11
    data = csv_bytes(rows, bom=True, crlf=True)

    first = upload(api, admin, "network-plus", data)
    assert first.status_code == 202
    fire(stack)
    report = api.get(f"/api/v1/imports/{first.json['id']}", token=admin).json
    assert report["status"] == "completed"
    assert (report["rows_total"], report["rows_imported"], report["rows_rejected"]) == (23, 20, 3)
    assert [e["row"] for e in report["errors"]] == [5, 9, 11]

    second = upload(api, admin, "network-plus", data)
    fire(stack)
    again = api.get(f"/api/v1/imports/{second.json['id']}", token=admin).json
    assert (again["status"], again["rows_imported"], again["rows_unchanged"]) == ("completed", 20, 20)
    [exam] = api.get("/api/v1/exams", token=admin).json["items"]
    assert exam["question_count"] == 20  # no duplicates

    student = api.register("student@example.com")
    other = api.register("other@example.com")
    token = student["access_token"]

    # Practice: verdicts at once.
    practice = api.post(
        "/api/v1/exam-sessions", {"exam_type": "network-plus", "question_count": 5, "mode": "practice"}, token=token
    ).json
    url = f"/api/v1/exam-sessions/{practice['id']}"
    for q in practice["questions"]:
        reply = api.post(f"{url}/answers", {"question_id": q["id"], "answer": answers[q["id"]]}, token=token)
        assert reply.status_code == 200 and reply.json["correct"] is True
    assert api.post(f"{url}/answers", {"question_id": q["id"], "answer": "A"}, token=token).status_code == 409
    outside = next(qid for qid in answers if qid not in {q["id"] for q in practice["questions"]})
    assert api.post(f"{url}/answers", {"question_id": outside, "answer": "A"}, token=token).status_code == 404
    assert api.post(f"{url}/submit", token=token).json["score"] == 100
    assert api.post(f"{url}/submit", token=token).status_code == 409
    assert api.get(url, token=other["access_token"]).status_code == 404

    # Exam: nothing revealed until submit; two racing answers to one question count once.
    exam_session = api.post(
        "/api/v1/exam-sessions", {"exam_type": "network-plus", "question_count": 10, "mode": "exam"}, token=token
    ).json
    url = f"/api/v1/exam-sessions/{exam_session['id']}"
    target = exam_session["questions"][0]["id"]
    statuses: list[int] = []

    def race() -> None:
        reply = api.post(f"{url}/answers", {"question_id": target, "answer": answers[target]}, token=token)
        statuses.append(reply.status_code)

    threads = [threading.Thread(target=race) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 409]
    for q in exam_session["questions"][1:5]:
        reply = api.post(f"{url}/answers", {"question_id": q["id"], "answer": answers[q["id"]]}, token=token)
        assert reply.json == {"recorded": True}
    result = api.post(f"{url}/submit", token=token).json
    assert (result["correct"], result["total"], result["score"]) == (5, 10, 50)
    assert api.post(f"{url}/submit", token=token).status_code == 409
    assert api.get(url, token=other["access_token"]).status_code == 404

    history = api.get(f"/api/v1/users/{student['user']['id']}/exam-sessions", token=token).json["items"]
    assert [s["id"] for s in history] == [exam_session["id"], practice["id"]]
    assert [s["score"] for s in history] == [50, 100]
    # Weak areas follow from the events: the practice's 5 right, the exam's 10 (5 right, the 5
    # unanswered counting as wrong).
    stack.drain(["progress-on-exam-answered--exam.answered", "progress-on-exam-completed--exam.completed"])
    areas = api.get(f"/api/v1/users/{student['user']['id']}/weak-areas", token=token).json["items"]
    assert sum(a["answered"] for a in areas) == 15 and sum(a["correct"] for a in areas) == 10
