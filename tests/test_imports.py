"""Question CSV imports: upload through the API or straight into the bucket, the storage
trigger, the import report, re-imports in place, duplicate events, faults."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from google.cloud import storage  # type: ignore[attr-defined]
from google.cloud.firestore_v1.base_query import FieldFilter
from pytest_mock import MockerFixture

from functions.exams.csvrows import COLUMNS
from infra.local.gateway import StorageWatcher, storage_cloud_event
from shared import store
from shared.config import settings
from tests.support import Api, Stack, fields, ops

HEADER = list(COLUMNS)
FUNCTION = "exams-import-csv"


def row(qid: str, domain: str = "1.1", answer: str = "A", text: str | None = None) -> list[str]:
    return [
        qid,
        domain,
        text or f"Question {qid}?",
        f"{qid} option A",
        f"{qid} option B",
        f"{qid} option C",
        f"{qid} option D",
        "Why A",
        "Why B",
        "Why C",
        "Why D",
        answer,
    ]


def csv_bytes(rows: list[list[str]], header: list[str] = HEADER, *, bom: bool = False, crlf: bool = False) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(header)
    writer.writerows(rows)
    data = out.getvalue().encode("utf-8")
    return (b"\xef\xbb\xbf" + data) if bom else data


def upload(api: Any, token: str, exam_type: str, data: bytes, **kwargs: Any) -> Any:
    return api.call(
        "POST",
        f"/api/v1/imports?exam_type={exam_type}",
        token=token,
        data={"file": (io.BytesIO(data), f"{exam_type}.csv", "text/csv")},
        content_type="multipart/form-data",
        **kwargs,
    )


def fire(stack: Any) -> int:
    """Eventarc's part: deliver the finalized event of every new object in the imports bucket."""
    return StorageWatcher(stack.gateway, settings().imports_bucket, [FUNCTION]).poll_once()


def bucket() -> Any:
    return storage.Client().bucket(settings().imports_bucket)


def questions(exam_type: str) -> dict[str, dict[str, Any]]:
    docs = store.db().collection("questions").where(filter=FieldFilter("exam_type", "==", exam_type)).stream()
    return {d.id: fields(d) for d in docs}


def imports() -> list[dict[str, Any]]:
    return [fields(d) for d in store.db().collection("question_imports").stream()]


MIXED_ROWS = [
    row("Q1", "1.1", "A"),
    row("Q2", "1.2", "b", text="A question, with a comma\nand a newline inside"),
    ["Q3", "2.1", "Missing options", "", "B", "C", "D", "a", "b", "c", "d", "A"],  # row 4: missing field
    row("Q4", "2.1", "E"),  # row 5: answer not A-D
    row("Q5", "two", "A"),  # row 6: bad domain
    row("Q1", "1.1", "C"),  # row 7: duplicate id in the file
    ["Q6", "1.1", "too few fields"],  # row 8
    row("Q7", "2.1", "D"),
]


@pytest.fixture
def admin(api: Any) -> str:
    return str(api.admin()["access_token"])


def test_admin_upload_report_and_reimport_in_place(api: Api, stack: Stack, admin: str) -> None:
    # A UTF-8 BOM, CRLF line ends, quoted commas and newlines and stray header whitespace.
    header = [f"  {h} " for h in HEADER]
    data = csv_bytes(MIXED_ROWS, header, bom=True, crlf=True)

    accepted = upload(api, admin, "security-plus", data)
    assert accepted.status_code == 202, accepted.json
    assert accepted.json["status"] == "pending"
    assert ops(accepted) == {"reads": 2, "writes": 1, "deletes": 0}
    assert accepted.json["object"] == "questions/security-plus.csv"
    import_id = accepted.json["id"]
    assert bucket().get_blob("questions/security-plus.csv") is not None

    assert fire(stack) == 1
    report = api.get(f"/api/v1/imports/{import_id}", token=admin)
    assert report.status_code == 200, report.json
    assert ops(report) == {"reads": 2, "writes": 0, "deletes": 0}
    body = report.json
    assert body["status"] == "completed"
    assert (body["rows_total"], body["rows_imported"], body["rows_rejected"]) == (8, 3, 5)
    errors = {e["row"]: e["message"] for e in body["errors"]}
    assert sorted(errors) == [4, 5, 6, 7, 8]
    assert "missing option-a" in errors[4]
    assert "correct answer 'E'" in errors[5]
    assert "domain 'two'" in errors[6]
    assert "repeats row 2" in errors[7]
    assert "expected 12 fields, found 3" in errors[8]

    stored = questions("security-plus")
    assert sorted(stored) == ["security-plus:Q1", "security-plus:Q2", "security-plus:Q7"]
    q2 = stored["security-plus:Q2"]
    assert q2["question_text"] == "A question, with a comma\nand a newline inside"
    assert q2["correct_answer"] == "B"
    assert q2["explanations"] == {"A": "Why A", "B": "Why B", "C": "Why C", "D": "Why D"}

    exams = api.get("/api/v1/exams", token=admin).json["items"]
    assert exams == [
        {
            "id": "security-plus",
            "name": "CompTIA Security+",
            "question_count": 3,
            "domains": [{"domain": "1.1", "count": 1}, {"domain": "1.2", "count": 1}, {"domain": "2.1", "count": 1}],
        }
    ]

    # The same file again: a new import, nothing duplicated, nothing rewritten.
    rand_before = {k: v["rand"] for k, v in stored.items()}
    again = upload(api, admin, "security-plus", data)
    assert again.status_code == 202
    assert again.json["id"] != import_id
    assert fire(stack) == 1
    second = api.get(f"/api/v1/imports/{again.json['id']}", token=admin).json
    assert second["status"] == "completed"
    assert (second["rows_imported"], second["rows_rejected"]) == (3, 5)
    assert questions("security-plus").keys() == stored.keys()
    assert {k: v["rand"] for k, v in questions("security-plus").items()} == rand_before
    assert api.get("/api/v1/exams", token=admin).json["items"][0]["question_count"] == 3

    # An edited file updates in place and moves the domain counts.
    edited = csv_bytes([row("Q1", "3.1", "D", text="Rewritten"), row("Q2", "1.2", "B"), row("Q8", "1.2", "A")])
    third = upload(api, admin, "security-plus", edited)
    fire(stack)
    assert api.get(f"/api/v1/imports/{third.json['id']}", token=admin).json["rows_imported"] == 3
    stored = questions("security-plus")
    assert len(stored) == 4
    assert stored["security-plus:Q1"]["question_text"] == "Rewritten"
    assert stored["security-plus:Q1"]["correct_answer"] == "D"
    exam = api.get("/api/v1/exams", token=admin).json["items"][0]
    assert exam["question_count"] == 4
    assert exam["domains"] == [
        {"domain": "1.2", "count": 2},
        {"domain": "2.1", "count": 1},
        {"domain": "3.1", "count": 1},
    ]


def test_text_csv_body_upload(api: Api, stack: Stack, admin: str) -> None:
    response = api.call(
        "POST",
        "/api/v1/imports?exam_type=network-plus",
        token=admin,
        data=csv_bytes([row("N1"), row("N2", "2.2")]),
        content_type="text/csv",
    )
    assert response.status_code == 202, response.json
    fire(stack)
    report = api.get(f"/api/v1/imports/{response.json['id']}", token=admin).json
    assert report["status"] == "completed" and report["rows_imported"] == 2
    assert len(questions("network-plus")) == 2


def test_upload_is_admin_only_and_bad_uploads_store_nothing(api: Api, stack: Stack, admin: str) -> None:
    student = api.register("student@example.com")["access_token"]
    teacher = api.register("teacher@example.com", role="teacher")["access_token"]
    good = csv_bytes([row("Q1")])
    assert upload(api, student, "security-plus", good).status_code == 403
    assert upload(api, teacher, "security-plus", good).status_code == 403
    assert api.call("POST", "/api/v1/imports?exam_type=security-plus", data=good).status_code == 401

    cases = [
        (upload(api, admin, "Security Plus", good), 422),  # exam type not kebab-case
        (api.call("POST", "/api/v1/imports", token=admin, data=good, content_type="text/csv"), 422),  # no type
        (upload(api, admin, "security-plus", b""), 422),  # empty
        (upload(api, admin, "security-plus", csv_bytes([row("Q1")], HEADER[:-1])), 422),  # header lacks a column
        (upload(api, admin, "security-plus", b"\x00\x01binary"), 422),
        (api.call("POST", "/api/v1/imports?exam_type=x", token=admin, json_body={"a": 1}), 400),  # JSON
        (
            api.call(
                "POST",
                "/api/v1/imports?exam_type=security-plus",
                token=admin,
                data={"other": (io.BytesIO(good), "x.csv")},
                content_type="multipart/form-data",
            ),
            422,
        ),
    ]
    for response, status in cases:
        assert response.status_code == status, response.json
        assert set(response.json["error"]) == {"code", "message", "details"}
    header = next(c[0] for c in cases if c[1] == 422 and "column" in c[0].json["error"]["message"])
    assert "correct answer" in header.json["error"]["message"]
    assert list(bucket().list_blobs()) == []
    assert imports() == []


def test_upload_over_the_limit_is_413(api: Api, stack: Stack, admin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings(), "max_upload_bytes", 100)
    response = upload(api, admin, "security-plus", csv_bytes([row(f"Q{i}") for i in range(5)]))
    assert response.status_code == 413
    assert list(bucket().list_blobs()) == []


def test_import_report_access(api: Api, stack: Stack, admin: str) -> None:
    student = api.register("student@example.com")["access_token"]
    accepted = upload(api, admin, "security-plus", csv_bytes([row("Q1")]))
    assert api.get(f"/api/v1/imports/{accepted.json['id']}", token=student).status_code == 403
    assert api.get("/api/v1/imports/" + "0" * 32, token=admin).status_code == 404
    assert api.get("/api/v1/imports/not..an-id", token=admin).status_code == 404


def test_storage_trigger_imports_once_per_event(api: Api, stack: Stack, admin: str) -> None:
    blob = bucket().blob("questions/a-plus-core-1.csv")
    blob.upload_from_string(csv_bytes([row("C1"), row("C2", "1.2"), row("C3", "9")]), content_type="text/csv")
    blob.reload()
    headers, body = storage_cloud_event(settings().imports_bucket, blob)

    assert stack.gateway.deliver(FUNCTION, "/", body, headers) == 200
    assert stack.gateway.deliver(FUNCTION, "/", body, headers) == 200  # the same event again

    [report] = imports()
    assert report["status"] == "completed"
    assert report["attempts"] == 1
    assert (report["rows_imported"], report["rows_rejected"]) == (2, 1)
    assert report["errors"] == [{"row": 4, "message": "domain '9' is not like 1.1"}]
    exam = api.get("/api/v1/exams", token=admin).json["items"][0]
    assert exam["id"] == "a-plus-core-1" and exam["name"] == "CompTIA A+ Core 1"
    assert exam["question_count"] == 2
    # The report is readable by the id the API would have given.
    from functions.exams.imports import import_id_of

    import_id = import_id_of(settings().imports_bucket, blob.name, str(blob.generation))
    assert api.get(f"/api/v1/imports/{import_id}", token=admin).json["rows_imported"] == 2


def test_objects_outside_questions_are_ignored_and_bad_names_fail(api: Api, stack: Stack, admin: str) -> None:
    bucket().blob("other/security-plus.csv").upload_from_string(csv_bytes([row("Q1")]))
    bucket().blob("questions/Not A Type.csv").upload_from_string(csv_bytes([row("Q1")]))
    assert fire(stack) == 2
    [report] = imports()
    assert report["object"] == "questions/Not A Type.csv"
    assert report["status"] == "failed"
    assert "kebab-case" in report["message"]
    assert list(store.db().collection("questions").stream()) == []


def test_bad_header_and_bad_encoding_fail_the_import(api: Api, stack: Stack, admin: str) -> None:
    bucket().blob("questions/security-plus.csv").upload_from_string(b"id,text\n1,hello\n")
    fire(stack)
    bucket().blob("questions/network-plus.csv").upload_from_string(
        csv_bytes([row("N1")]) + b"N2,1.1,\xff\xfe broken," + b"x," * 8 + b"A\n"
    )
    fire(stack)
    by_type = {r["exam_type"]: r for r in imports()}
    assert by_type["security-plus"]["status"] == "failed"
    assert "lacks the column(s): question-id" in by_type["security-plus"]["message"]
    assert by_type["network-plus"]["status"] == "failed"
    assert by_type["network-plus"]["message"] == "The file is not UTF-8 text."
    assert questions("security-plus") == {}


def test_a_crash_mid_import_is_retried_without_duplicates(
    api: Api, stack: Stack, admin: str, mocker: MockerFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.exams import imports as service

    monkeypatch.setattr(service, "IMPORT_CHUNK", 2)
    original = service._commit_fresh
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("instance lost")
        original(*args, **kwargs)

    mocker.patch.object(service, "_commit_fresh", side_effect=flaky)
    blob = bucket().blob("questions/security-plus.csv")
    blob.upload_from_string(csv_bytes([row(f"Q{i}", f"1.{i % 3 + 1}") for i in range(5)]))
    blob.reload()
    headers, body = storage_cloud_event(settings().imports_bucket, blob)
    assert stack.gateway.deliver(FUNCTION, "/", body, headers) == 500  # Eventarc will retry
    [report] = imports()
    assert report["status"] == "running" and report["lease_until"] is None
    assert stack.gateway.deliver(FUNCTION, "/", body, headers) == 200
    [report] = imports()
    assert report["status"] == "completed" and report["rows_imported"] == 5 and report["attempts"] == 2
    exam = api.get("/api/v1/exams", token=admin).json["items"][0]
    assert exam["question_count"] == 5
    assert sum(d["count"] for d in exam["domains"]) == 5


def test_demo_loader_imports_the_four_banks(api: Api, stack: Stack, admin: str) -> None:
    from infra.local import demo_exams

    summary = demo_exams.load()
    assert "4 exam types" in summary
    exams = {e["id"]: e for e in api.get("/api/v1/exams", token=admin).json["items"]}
    assert set(exams) == {"security-plus", "network-plus", "a-plus-core-1", "a-plus-core-2"}
    assert all(e["question_count"] == 40 for e in exams.values())
    # Loading again changes nothing.
    demo_exams.load()
    assert len(list(store.db().collection("questions").stream())) == 160


def test_an_event_for_a_deleted_object_fails_cleanly(api: Api, stack: Stack, admin: str) -> None:
    # (Production reads the event's generation, so a replaced object fails the same way; the
    # storage emulator ignores generations, so the test deletes the object instead.)
    blob = bucket().blob("questions/security-plus.csv")
    blob.upload_from_string(csv_bytes([row("GONE")]))
    blob.reload()
    headers, body = storage_cloud_event(settings().imports_bucket, blob)
    blob.delete()

    assert stack.gateway.deliver(FUNCTION, "/", body, headers) == 200  # no endless retries
    [report] = imports()
    assert report["status"] == "failed"
    assert report["message"] == "The file was replaced or deleted before it could be imported."
    assert questions("security-plus") == {}


def test_a_large_upload_is_stored_whole(api: Api, stack: Stack, admin: str) -> None:
    """Over 8 MiB the client switches to a resumable upload: the object must still arrive whole."""
    data = csv_bytes([row(f"Q{i:06}", text="x" * 1500) for i in range(6000)])
    assert len(data) > 9 * 2**20
    response = api.call(
        "POST", "/api/v1/imports?exam_type=security-plus", token=admin, data=data, content_type="text/csv"
    )
    assert response.status_code == 202, response.json
    blob = bucket().get_blob("questions/security-plus.csv")
    assert blob.size == len(data)
    assert blob.download_as_bytes()[-200:] == data[-200:]
