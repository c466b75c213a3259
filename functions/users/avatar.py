"""Profile pictures: judged by their bytes, re-encoded, stored under an unguessable name.

An upload is at most 2 MiB (413 above). Its first bytes must be a PNG, JPEG or WebP signature
(else 415), whatever its name or content type claim, and it must decode whole (else 422) within
a pixel budget that fits the function's memory (no decompression bombs; a JPEG is decoded at
a reduced size, draft mode, so a large photo fits it). What is stored is not the upload but a fresh WebP
re-encoding of its pixels, at most 512 px a side: EXIF (GPS, camera, owner), ICC profiles,
comments and trailing data never leave. The object's name is 128 random bits
(`avatars/<hex>.webp`), so knowing a user does not find their picture and no name is reused;
the user keeps `avatar_url` and `avatar_object`, and a replaced picture is deleted.

Pillow and the Storage client are imported here, inside the functions that need them, so no
other function pays for them at cold start.
"""

from __future__ import annotations

import io
import os
import secrets
from datetime import datetime
from typing import IO, Any

import flask

from functions.users.models import AvatarOut
from shared import audit, store
from shared.audit import Client
from shared.collections import USERS
from shared.config import settings
from shared.errors import ApiError, Conflict, NotFound, PayloadTooLarge, ValidationFailed
from shared.logging import get_logger, log_fields
from shared.outbound import STORAGE_TIMEOUT, storage_retry
from shared.uploads import form_file

log = get_logger("users.avatar")

MAX_AVATAR_BYTES = 2 * 1024 * 1024
MAX_SIDE = 512
# Decoding cost is pixels, not bytes: a 2 MiB PNG can claim 100 000 x 100 000 pixels. Pillow
# holds a decoded pixel in 4 bytes (RGB too): 16 MP is 64 MiB, on a 512 MiB function whose
# baseline is ~150 MiB, beside which only MAX_SIDE-sized copies are made (docs/auth.md).
DECODE_PIXEL_BUDGET = 16_000_000
# A JPEG is decoded at 1/2, 1/4 or 1/8 of its size (draft mode: still at least MAX_SIDE a side),
# so one may declare this many pixels if its reduced decode fits the budget.
MAX_SOURCE_PIXELS = 40_000_000
WEBP_QUALITY = 85

_SIGNATURES: tuple[tuple[str, Any], ...] = (
    ("PNG", lambda b: b.startswith(b"\x89PNG\r\n\x1a\n")),
    ("JPEG", lambda b: b.startswith(b"\xff\xd8\xff")),
    ("WEBP", lambda b: len(b) >= 12 and b[:4] == b"RIFF" and b[8:12] == b"WEBP"),
)


class UnsupportedMediaType(ApiError):
    status, code, message = 415, "unsupported_media_type", "Send a PNG, JPEG or WebP image."


def sniff(data: bytes) -> str | None:
    """The image format its magic number says, or None."""
    return next((name for name, matches in _SIGNATURES if matches(data)), None)


def read_image_body(request: flask.Request) -> bytes:
    """The uploaded bytes: the raw body, or the `file` part of a multipart form. Read at most
    one byte past the limit, so a huge body is refused without being held."""
    if request.content_length is not None and request.content_length > MAX_AVATAR_BYTES + 64 * 1024:
        raise PayloadTooLarge(f"An avatar is at most {MAX_AVATAR_BYTES} bytes.")
    multipart = (request.mimetype or "") == "multipart/form-data"
    stream: IO[bytes] = form_file(request, "file") if multipart else request.stream
    data = stream.read(MAX_AVATAR_BYTES + 1)
    if len(data) > MAX_AVATAR_BYTES:
        raise PayloadTooLarge(f"An avatar is at most {MAX_AVATAR_BYTES} bytes.")
    if not data:
        raise ValidationFailed("The image is empty.", details=[{"field": "body", "message": "The image is empty."}])
    return data


def _undecodable() -> ValidationFailed:
    return ValidationFailed(
        "The image could not be read.", details=[{"field": "body", "message": "Not a readable image."}]
    )


def reencode(data: bytes) -> bytes:
    """A clean WebP of the image's pixels, at most MAX_SIDE a side, upright. 415 when the bytes
    are no PNG, JPEG or WebP; 422 when they do not decode as what they claim."""
    kind = sniff(data)
    if kind is None:
        raise UnsupportedMediaType()
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data), formats=[kind]) as source:
            width, height = source.size
            if width < 1 or height < 1 or width * height > MAX_SOURCE_PIXELS:
                raise _undecodable()
            if kind == "JPEG":
                source.draft(None, (MAX_SIDE, MAX_SIDE))  # decode at the smallest scale still >= MAX_SIDE
            width, height = source.size
            if width * height > DECODE_PIXEL_BUDGET:
                raise _undecodable()
            source.load()  # the whole decode: a truncated or corrupt file fails here
            has_alpha = source.mode in ("RGBA", "LA", "PA") or "transparency" in source.info
            # Palette, 1-bit, CMYK or 16-bit pixels become colour before they are resampled.
            pixels = (
                source if source.mode in ("RGB", "RGBA", "L", "LA") else source.convert("RGBA" if has_alpha else "RGB")
            )
            pixels.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)  # in place: no full-size copy
            upright = ImageOps.exif_transpose(pixels).convert("RGBA" if has_alpha else "RGB")
            out = io.BytesIO()
            # No exif=, icc_profile= or xmp=: only the pixels are written.
            upright.save(out, format="WEBP", quality=WEBP_QUALITY, method=4)
            return out.getvalue()
    except ApiError:
        raise
    except Exception as exc:  # Pillow raises many kinds for hostile input; none is our fault
        log.info("avatar refused", extra=log_fields(reason=type(exc).__name__))
        raise _undecodable() from exc


def _bucket() -> Any:
    from google.cloud import storage

    return storage.Client().bucket(settings().avatars_bucket)


def public_url(object_name: str) -> str:
    cfg = settings()
    if cfg.avatars_base_url:
        return f"{cfg.avatars_base_url.rstrip('/')}/{object_name}"
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    base = emulator.rstrip("/") if emulator else "https://storage.googleapis.com"
    return f"{base}/{cfg.avatars_bucket}/{object_name}"


def _delete_quietly(object_name: str | None) -> None:
    if not object_name:
        return
    try:
        _bucket().blob(object_name).delete(timeout=STORAGE_TIMEOUT, retry=storage_retry())
    except Exception:
        # An orphan picture costs cents and names nobody; the request has done its work.
        log.warning("old avatar not deleted", extra=log_fields(object=object_name))


def _apply(actor_id: str, user_id: str, fields: dict[str, Any], client: Client, now: datetime) -> str | None:
    """Write the avatar fields on the user (1 read, 2 writes with the audit entry); returns the
    object they replace."""
    ref = store.db().collection(USERS).document(user_id)

    def apply(txn: store.Transaction) -> str | None:
        user = ref.get(transaction=txn).to_dict()
        if user is None:
            raise NotFound("No such user.")
        if user.get("status") == "archived":
            raise Conflict("This account is archived.")
        txn.update(ref, {**fields, "updated_at": now})
        audit.record(
            "user.updated",
            actor_id=actor_id,
            target_id=user_id,
            client=client,
            details={"fields": ["avatar_url"]},
            at=now,
            writer=txn,
        )
        return user.get("avatar_object")

    return store.run_transaction(apply)


def set_avatar(*, actor_id: str, user_id: str, data: bytes, client: Client, now: datetime) -> AvatarOut:
    """Re-encode and store the picture, then point the user at it.
    Access: the route's guard (shared.http.self_or_admin)."""
    clean = reencode(data)
    object_name = f"avatars/{secrets.token_hex(16)}.webp"
    blob = _bucket().blob(object_name)
    # A name is never reused, so caches may keep it for good.
    blob.cache_control = "public, max-age=31536000, immutable"
    # A new name: created only if absent (generation 0), which makes the upload safe to retry.
    blob.upload_from_string(
        clean, content_type="image/webp", if_generation_match=0, timeout=STORAGE_TIMEOUT, retry=storage_retry()
    )
    url = public_url(object_name)
    try:
        replaced = _apply(actor_id, user_id, {"avatar_url": url, "avatar_object": object_name}, client, now)
    except Exception:
        _delete_quietly(object_name)
        raise
    _delete_quietly(replaced)
    log.info("avatar set", extra=log_fields(user_id=user_id, bytes=len(clean)))
    return AvatarOut(avatar_url=url)


def remove_avatar(*, actor_id: str, user_id: str, client: Client, now: datetime) -> None:
    """Forget the picture and delete its object. Access: the route's guard (shared.http.self_or_admin)."""
    replaced = _apply(actor_id, user_id, {"avatar_url": None, "avatar_object": None}, client, now)
    _delete_quietly(replaced)
