"""Profile: bio on PATCH /users/{id}, and the avatar: judged by its bytes, re-encoded without
metadata, stored under an unguessable name in the storage emulator."""

from __future__ import annotations

import io
import os
import re
from typing import Any

import requests
from google.cloud import storage
from PIL import ExifTags, Image

from shared import store
from shared.config import settings
from tests.support import Api, JsonResponse, fields, ops

USERS = "/api/v1/users"


def avatar_path(user_id: str) -> str:
    return f"{USERS}/{user_id}/avatar"


def stored_user(user_id: str) -> dict[str, Any]:
    return fields(store.db().collection("users").document(user_id).get())


def bucket_objects() -> dict[str, bytes]:
    bucket = storage.Client().bucket(settings().avatars_bucket)
    return {blob.name: blob.download_as_bytes() for blob in bucket.list_blobs()}


def photo_with_gps(size: tuple[int, int] = (1200, 800)) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SpyCam"
    exif[ExifTags.Base.Orientation] = 1
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 29.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (2.0, 17.0, 40.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, quality=90)
    return out.getvalue()


def png(size: tuple[int, int] = (64, 64), mode: str = "RGBA") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, 0).save(out, format="PNG")
    return out.getvalue()


def put(api: Api, user_id: str, data: bytes, token: str, content_type: str = "image/jpeg") -> JsonResponse:
    return api.call("PUT", avatar_path(user_id), token=token, data=data, content_type=content_type)


# Bio ------------------------------------------------------------------------------------------


def test_a_user_sets_and_clears_their_bio_up_to_500_characters(api: Api) -> None:
    alice = api.register("alice@example.com")
    uid, token = alice["user"]["id"], alice["access_token"]
    assert alice["user"]["bio"] is None and alice["user"]["avatar_url"] is None
    response = api.patch(f"{USERS}/{uid}", {"bio": "  Learning Python. "}, token=token)
    assert response.status_code == 200 and response.json["bio"] == "Learning Python."
    assert stored_user(uid)["bio"] == "Learning Python."
    assert api.get("/api/v1/auth/me", token=token).json["bio"] == "Learning Python."
    too_long = api.patch(f"{USERS}/{uid}", {"bio": "x" * 501}, token=token)
    assert too_long.status_code == 422 and too_long.json["error"]["details"][0]["field"] == "bio"
    assert stored_user(uid)["bio"] == "Learning Python."
    assert api.patch(f"{USERS}/{uid}", {"bio": "é" * 500}, token=token).status_code == 200
    assert api.patch(f"{USERS}/{uid}", {"bio": 5}, token=token).status_code == 422
    cleared = api.patch(f"{USERS}/{uid}", {"bio": ""}, token=token)
    assert cleared.status_code == 200 and cleared.json["bio"] is None
    bob = api.register("bob@example.com")
    assert api.patch(f"{USERS}/{uid}", {"bio": "hacked"}, token=bob["access_token"]).status_code == 403


# Avatar ---------------------------------------------------------------------------------------


def test_an_avatar_is_reencoded_without_metadata_and_served_from_storage(api: Api) -> None:
    alice = api.register("alice@example.com")
    uid, token = alice["user"]["id"], alice["access_token"]
    source = photo_with_gps()
    assert Image.open(io.BytesIO(source)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the upload has GPS
    response = put(api, uid, source, token)
    assert response.status_code == 200, response.json
    url = response.json["avatar_url"]
    [(name, stored)] = bucket_objects().items()
    # Unguessable: 128 random bits, nothing of the user in it.
    assert re.fullmatch(r"avatars/[0-9a-f]{32}\.webp", name) and uid not in name
    assert url.endswith(f"/{settings().avatars_bucket}/{name}")
    image = Image.open(io.BytesIO(stored))
    assert image.format == "WEBP" and max(image.size) == 512 and image.size == (512, 341)
    assert not image.getexif() and "exif" not in image.info and "icc_profile" not in image.info
    assert b"SpyCam" not in stored and b"Exif" not in stored
    assert stored_user(uid)["avatar_url"] == url
    assert api.get(f"{USERS}/{uid}", token=token).json["avatar_url"] == url
    served = requests.get(url, timeout=10)
    assert served.status_code == 200 and served.content == stored


def test_an_avatar_is_judged_by_its_bytes_not_its_name_or_type(api: Api) -> None:
    alice = api.register("alice@example.com")
    uid, token = alice["user"]["id"], alice["access_token"]
    # A real PNG sent as text/plain is a PNG.
    assert put(api, uid, png(), token, content_type="text/plain").status_code == 200
    before = bucket_objects()
    url = stored_user(uid)["avatar_url"]
    fakes = {
        "text": (b"GIF89a? no, just text pretending to be an image", "image/png"),
        "html": (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "image/png"),
        "gif": (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif"),
    }
    for label, (body, content_type) in fakes.items():
        response = put(api, uid, body, token, content_type=content_type)
        assert response.status_code == 415, label
        assert response.json["error"]["code"] == "unsupported_media_type"
    corrupt = {
        "png header, garbage": b"\x89PNG\r\n\x1a\n" + b"\x00" * 200,
        "truncated jpeg": photo_with_gps()[:2000],
        "webp header, garbage": b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x01" * 64,
    }
    for label, body in corrupt.items():
        response = put(api, uid, body, token)
        assert response.status_code == 422, label
        assert response.json["error"]["code"] == "validation_error"
    assert put(api, uid, b"", token).status_code == 422
    assert bucket_objects() == before and stored_user(uid)["avatar_url"] == url


def test_a_decompression_bomb_is_refused_before_decoding(api: Api) -> None:
    alice = api.register("alice@example.com")
    out = io.BytesIO()
    Image.new("1", (10_000, 5_000)).save(out, format="PNG")  # 50 MP in a few kilobytes
    assert len(out.getvalue()) < 2 * 1024 * 1024
    response = put(api, alice["user"]["id"], out.getvalue(), alice["access_token"])
    assert response.status_code == 422
    assert bucket_objects() == {}


def test_an_avatar_over_2_mib_is_413_and_nothing_is_stored(api: Api) -> None:
    alice = api.register("alice@example.com")
    uid, token = alice["user"]["id"], alice["access_token"]
    big = photo_with_gps((64, 64)) + b"\x00" * (2 * 1024 * 1024)
    response = put(api, uid, big, token)
    assert response.status_code == 413 and response.json["error"]["code"] == "payload_too_large"
    assert bucket_objects() == {} and "avatar_url" not in stored_user(uid)
    exactly = b"\x89PNG\r\n\x1a\n" + b"\x00" * (2 * 1024 * 1024 - 8)
    assert put(api, uid, exactly, token).status_code == 422  # at the limit: read, then judged


def test_another_users_avatar_is_refused_and_an_admin_may_replace_it(api: Api) -> None:
    alice = api.register("alice@example.com")
    bob = api.register("bob@example.com")
    uid = alice["user"]["id"]
    assert put(api, uid, png(), bob["access_token"]).status_code == 403
    assert api.call("PUT", avatar_path(uid), data=png(), content_type="image/png").status_code == 401
    assert api.delete(avatar_path(uid), token=bob["access_token"]).status_code == 403
    assert bucket_objects() == {}
    admin = api.admin()
    assert put(api, uid, png(), admin["access_token"]).status_code == 200
    assert put(api, "nosuchuser", png(), admin["access_token"]).status_code == 404
    assert len(bucket_objects()) == 1  # the refused upload was removed again


def test_a_new_avatar_replaces_the_old_object_and_delete_removes_it(api: Api) -> None:
    alice = api.register("alice@example.com")
    uid, token = alice["user"]["id"], alice["access_token"]
    first = put(api, uid, png(), token).json["avatar_url"]
    second = put(api, uid, photo_with_gps((300, 300)), token).json["avatar_url"]
    assert first != second
    [name] = bucket_objects()
    assert second.endswith(name)
    # Multipart (a browser's FormData) works too.
    form = api.call("PUT", avatar_path(uid), token=token, data={"file": (io.BytesIO(png((40, 40), "RGB")), "me.png")})
    assert form.status_code == 200
    assert len(bucket_objects()) == 1
    assert api.delete(avatar_path(uid), token=token).status_code == 204
    assert bucket_objects() == {} and stored_user(uid)["avatar_url"] is None


def test_budgets_of_the_profile_routes(api: Api) -> None:
    alice = api.register("alice@example.com")
    uid, token = alice["user"]["id"], alice["access_token"]
    bio = api.patch(f"{USERS}/{uid}", {"bio": "Hi"}, token=token)
    assert ops(bio) == {"reads": 2, "writes": 2, "deletes": 0}  # session, user; user, audit
    upload = put(api, uid, png(), token)
    assert ops(upload) == {"reads": 2, "writes": 2, "deletes": 0}  # session, user; user, audit
    refused = put(api, uid, b"not an image", token)
    assert ops(refused) == {"reads": 1, "writes": 0, "deletes": 0}  # the session only
    delete = api.delete(avatar_path(uid), token=token)
    assert ops(delete) == {"reads": 2, "writes": 2, "deletes": 0}


def _jpeg(size: tuple[int, int], orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    out = io.BytesIO()
    Image.new("RGB", size, (20, 120, 200)).save(out, format="JPEG", exif=exif, quality=70)
    return out.getvalue()


def test_pictures_past_the_decode_budget_are_refused_unless_jpeg_draft_mode_shrinks_them(api: Api) -> None:
    from functions.users.avatar import DECODE_PIXEL_BUDGET, MAX_SOURCE_PIXELS

    alice = api.register("alice@example.com")
    uid, token = alice["user"]["id"], alice["access_token"]
    # 20 MP of PNG must be decoded whole: past the budget, refused before decoding.
    wide = io.BytesIO()
    Image.new("1", (5_000, 4_000)).save(wide, format="PNG")
    assert DECODE_PIXEL_BUDGET < 5_000 * 4_000
    refused = put(api, uid, wide.getvalue(), token, content_type="image/png")
    assert refused.status_code == 422 and bucket_objects() == {}
    # 20 MP of JPEG is decoded at 1/8 (625 x 500): taken, at 512 px, turned upright by its EXIF.
    photo = _jpeg((5_000, 4_000), orientation=6)
    assert len(photo) < 2 * 1024 * 1024 and MAX_SOURCE_PIXELS > 5_000 * 4_000
    taken = put(api, uid, photo, token)
    assert taken.status_code == 200, taken.json
    [stored] = bucket_objects().values()
    assert Image.open(io.BytesIO(stored)).size == (410, 512)  # rotated a quarter turn


def test_a_large_jpeg_is_decoded_within_the_memory_budget(tmp_path: Any) -> None:
    """Peak memory of re-encoding a 36 MP JPEG, in a fresh process, stays well under the 64 MiB
    that a full decode of the budget would take (a whole decode would take 144 MiB)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    source = tmp_path / "big.jpg"
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"from tests.test_profile import _jpeg; open({str(source)!r}, 'wb').write(_jpeg((7_200, 5_000)))",
        ],
        cwd=ROOT,
        check=True,
        env={**os.environ},
    )
    measure = (
        "import resource, sys\n"
        "from PIL import Image, ImageOps, WebPImagePlugin, JpegImagePlugin\n"
        "from functions.users.avatar import reencode\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "out = reencode(data)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024, len(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", measure, str(source)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ},
    )
    grown_mib, size = (int(v) for v in done.stdout.split())
    assert size > 0 and grown_mib < 32, grown_mib


def test_a_storage_that_never_answers_costs_a_bounded_wait_and_stores_nothing(api: Api, mocker: Any) -> None:
    """Issue 22: every outbound call has a timeout and a bounded retry. A Storage endpoint that
    accepts connections and never answers makes the avatar upload fail within its bounds
    (here shrunk to 0.5 s a request and 1 s of retries) with the contract's JSON error."""
    import socket
    import time

    from functions.users import avatar
    from shared import outbound

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts, never reads nor answers
    try:
        alice = api.register("alice@example.com")
        mocker.patch.dict(os.environ, {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{silent.getsockname()[1]}"})
        mocker.patch.object(avatar, "STORAGE_TIMEOUT", (0.5, 0.5))
        mocker.patch.object(outbound, "STORAGE_RETRY_DEADLINE", 1.0)
        started = time.monotonic()
        response = put(api, alice["user"]["id"], png(), alice["access_token"], content_type="image/png")
        waited = time.monotonic() - started
    finally:
        silent.close()
    assert response.status_code == 500 and response.json["error"]["code"] == "internal"
    assert waited < 8, waited
    assert "avatar_url" not in stored_user(alice["user"]["id"])
