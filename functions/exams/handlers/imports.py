"""CSV imports of questions: the upload, its report, and the storage trigger that imports it."""

from __future__ import annotations

import csv
import io
from typing import IO

from functions.exams import csvrows, imports
from functions.exams.models import ImportOut, ImportQuery
from shared import store
from shared.errors import ValidationFailed
from shared.events import StorageObject, on_object_finalized
from shared.http import Call, HttpFunction, Response, Upload, roles
from shared.uploads import read_upload

imports_route = HttpFunction("exams-imports", "/api/v1/imports", memory="512Mi", timeout_seconds=120)
import_route = HttpFunction("exams-imports-item", "/api/v1/imports/{import_id}")

ADMIN = roles("admin")
# The document states the header in its canonical order (docs/api-contract.md); any order,
# spacing, case or `_` for `-` of the same columns, and extra columns, are accepted too.
UPLOAD = Upload(("text/csv", "application/csv", "text/plain"), pattern=csvrows.HEADER_PATTERN)


# Imports ---------------------------------------------------------------------------------------------


def _check_header(upload: IO[bytes]) -> None:
    """Refuse at once a file whose first line is not the question header."""
    head = upload.read(64 * 1024)
    upload.seek(0)
    text = head.decode("utf-8-sig", errors="replace")
    if "\n" not in text and len(head) == 64 * 1024:
        return  # a header this long: the import will judge it
    record = next(csv.reader(io.StringIO(text)), None)
    try:
        csvrows.column_positions(record or [])
    except csvrows.HeaderError as exc:
        raise ValidationFailed(str(exc), details=[{"field": "file", "message": str(exc)}]) from exc


@imports_route.post(ADMIN, query=ImportQuery, response=ImportOut, status=202, raw_body=UPLOAD)
def upload_import(call: Call[None, ImportQuery]) -> Response:
    """Upload a question CSV to `questions/<exam_type>.csv`; the storage trigger imports it."""
    upload, size = read_upload(call.request, field="file", body_types=UPLOAD.media_types)
    with upload:
        _check_header(upload)
        report = imports.upload_import(call.query.exam_type, upload, size, call.user.user_id, call.now)
    return Response(status=202, body=report)


@import_route.get(ADMIN, response=ImportOut)
def read_import(call: Call[None, None]) -> ImportOut:
    """The report of one import: status, counts and each rejected row with its reason."""
    return imports.get_import(call.params["import_id"])


@on_object_finalized("exams-import-csv", bucket_setting="imports_bucket")
def import_csv(obj: StorageObject) -> None:
    """A CSV finalized under `questions/` in the imports bucket: import it, once per generation."""
    imports.import_object(obj.bucket, obj.name, obj.generation, store.now())
