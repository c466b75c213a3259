"""File uploads on a `raw_body=True` route: multipart (`file` field) or a plain body, spooled to
memory up to 1 MiB and to disk beyond, never held whole, the upload limit enforced as it streams."""

from __future__ import annotations

import io
import tempfile
from typing import IO

import flask

from shared.config import settings
from shared.errors import BadRequest, PayloadTooLarge, ValidationFailed

_IN_MEMORY = 1024 * 1024
_CHUNK = 256 * 1024


def spool(source: IO[bytes]) -> tuple[IO[bytes], int]:
    """Copy a stream to a spooled temporary file; returns it rewound, and its size."""
    limit = settings().max_upload_bytes
    spooled: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_IN_MEMORY)  # noqa: SIM115 - returned open
    size = 0
    while chunk := source.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            spooled.close()
            raise PayloadTooLarge(f"The upload is larger than {limit} bytes.")
        spooled.write(chunk)
    spooled.seek(0)
    return spooled, size


def form_file(request: flask.Request, field: str) -> IO[bytes]:
    """The `field` of a multipart form: a file part, or a plain part (no filename) holding the
    file's text, as some clients send a string field; 422 when the form has neither, or has any
    other field (as a JSON body with an unknown field)."""
    unknown = sorted((set(request.files) | set(request.form)) - {field})
    if unknown:
        raise ValidationFailed(
            "The form has fields other than the file.",
            details=[{"field": f, "message": "Unknown field."} for f in unknown],
        )
    part = request.files.get(field)
    if part is not None:
        return part.stream
    text = request.form.get(field)
    if text is None:
        raise ValidationFailed(
            f"Send the file in a `{field}` field.", details=[{"field": field, "message": "Field required."}]
        )
    return io.BytesIO(text.encode("utf-8"))


def read_upload(request: flask.Request, *, field: str, body_types: tuple[str, ...]) -> tuple[IO[bytes], int]:
    """The uploaded file: the `field` part of a multipart form, or the body itself when its
    content type is one of `body_types`. An empty file is a 422."""
    mimetype = request.mimetype or ""
    if mimetype == "multipart/form-data":
        stream: IO[bytes] = form_file(request, field)
    elif mimetype in body_types:
        stream = request.stream
    else:
        raise BadRequest(f"Send the file as multipart/form-data (field `{field}`) or as a {body_types[0]} body.")
    upload, size = spool(stream)
    if size == 0:
        upload.close()
        raise ValidationFailed("The file is empty.", details=[{"field": field, "message": "The file is empty."}])
    return upload, size
