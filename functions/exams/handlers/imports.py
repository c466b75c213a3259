"""CSV imports of questions: the upload, its report, and the storage trigger that imports it."""

from __future__ import annotations

from functions.exams import imports
from functions.exams.models import ImportOut, ImportQuery
from shared import store
from shared.events import StorageObject, on_object_finalized
from shared.http import Call, HttpFunction, Response, roles
from shared.uploads import read_upload

imports_route = HttpFunction("exams-imports", "/api/v1/imports", memory="512Mi", timeout_seconds=120)
import_route = HttpFunction("exams-imports-item", "/api/v1/imports/{import_id}")

ADMIN = roles("admin")
UPLOAD_TYPES = ("text/csv", "application/csv", "text/plain")


# Imports ---------------------------------------------------------------------------------------------


@imports_route.post(ADMIN, query=ImportQuery, response=ImportOut, status=202, raw_body=UPLOAD_TYPES)
def upload_import(call: Call[None, ImportQuery]) -> Response:
    """Upload a question CSV to `questions/<exam_type>.csv`; the storage trigger imports it."""
    # Any non-empty file is accepted, and the import judges it as it judges a file put in the bucket:
    # a header without the question columns fails the import, its report says why. No schema can
    # state the header rule (any order, extra columns), so it is not a request's (422).
    upload, size = read_upload(call.request, field="file", body_types=UPLOAD_TYPES)
    with upload:
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
