"""Account extras: the avatar function's cold start (Pillow is loaded by the request, not the
import) and peak memory, avatar upload latency by picture size, and the data export's cost as
a user's history grows.

Run through `make bench`, or alone with the emulators up: `.venv/bin/python -m bench.extras`.
"""

from __future__ import annotations

import io
import json
import os
import random
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.environment import BENCH_PROJECT, configure, fresh_process

ROOT = Path(__file__).resolve().parent.parent

# A fresh interpreter, as a new instance: load the avatar function, then one upload.
COLD_PROBE = r"""
import json, resource, sys, time
started = time.perf_counter()
import functions_framework
app = functions_framework.create_app(target="users_avatar", source="main.py")
loaded = time.perf_counter()
pil_at_import = "PIL.Image" in sys.modules
user_id, token, picture = sys.argv[1:4]
data = open(picture, "rb").read()
response = app.test_client().put(f"/api/v1/users/{user_id}/avatar", data=data,
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "image/jpeg"})
done = time.perf_counter()
print(json.dumps({"import_ms": (loaded - started) * 1000, "first_request_ms": (done - loaded) * 1000,
                  "status": response.status_code, "pil_at_import": pil_at_import,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def photo(width: int, height: int) -> bytes:
    """A noisy JPEG (noise compresses badly: the worst case for its size) with EXIF."""
    from PIL import Image

    rng = random.Random(width)
    image = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=70, exif=Image.Exif())
    return out.getvalue()


def _api() -> Any:
    from infra.local.emulators import clear_firestore
    from infra.manifest import TEST_PORTS
    from tests.support import Api, Stack

    clear_firestore(BENCH_PROJECT, TEST_PORTS["firestore"])
    return Api(Stack.start(BENCH_PROJECT).gateway)


def avatar_rows(api: Any) -> list[str]:
    user = api.register("avatar-bench@example.com")
    uid, token = user["user"]["id"], user["access_token"]
    rows = [
        "| picture (JPEG, noise) | bytes | p50 (ms) | p95 (ms) | stored WebP bytes | Firestore ops |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for width, height in ((640, 480), (1280, 960), (1600, 1200)):
        data = photo(width, height)
        if len(data) > 2 * 1024 * 1024:
            continue
        times, op_headers = [], set()
        for _ in range(10):
            started = time.perf_counter()
            response = api.call("PUT", f"/api/v1/users/{uid}/avatar", token=token, data=data, content_type="image/jpeg")
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.json
            op_headers.add(response.headers["X-Firestore-Ops"])
        from google.cloud import storage

        from shared.config import settings

        name = "avatars/" + response.json["avatar_url"].rsplit("/", 1)[-1]
        blob = storage.Client().bucket(settings().avatars_bucket).get_blob(name)
        cuts = statistics.quantiles(times, n=20)
        rows.append(
            f"| {width}x{height} | {len(data)} | {statistics.median(times):.0f} | {cuts[18]:.0f} | {blob.size} | "
            f"{', '.join(sorted(op_headers))} |"
        )
    return rows


def cold_rows(api: Any) -> list[str]:
    user = api.register("cold-avatar@example.com")
    picture = ROOT / ".dev" / "bench-avatar.jpg"
    picture.parent.mkdir(exist_ok=True)
    picture.write_bytes(photo(1600, 1200))
    runs = []
    for _ in range(3):
        run = fresh_process(COLD_PROBE, user["user"]["id"], user["access_token"], str(picture))
        assert run["status"] == 200, run
        runs.append(run)
    return [
        "| function | import + load (ms) | first upload, 1600x1200 (ms) | whole process (ms) | Pillow loaded at import "
        "| peak RSS (MiB) |",
        "| --- | ---: | ---: | ---: | --- | ---: |",
        f"| users-avatar | {statistics.median(r['import_ms'] for r in runs):.0f} | "
        f"{statistics.median(r['first_request_ms'] for r in runs):.0f} | "
        f"{statistics.median(r['process_ms'] for r in runs):.0f} | "
        f"{'yes' if any(r['pil_at_import'] for r in runs) else 'no'} | "
        f"{max(r['peak_rss_mb'] for r in runs):.0f} |",
    ]


def export_rows(api: Any) -> list[str]:
    """The export's cost as a user's history grows. The body streams after the headers, so the
    reads are metered around the service's stream (the route adds one read, the caller's session)."""
    from functions.users import export
    from shared import store
    from shared.audit import Client

    rows = [
        "| user's history | documents exported | latency (ms) | response bytes | Firestore reads / writes |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    user = api.register("export-bench@example.com")
    uid = user["user"]["id"]
    for logins in (0, 50, 200):
        current = len(list(store.db().collection("sessions").where(filter=store.eq("user_id", uid)).stream()))
        for _ in range(logins - current + 1 if logins else 0):
            api.login("export-bench@example.com")
        caller = api.admin(f"export-admin-{logins}@example.com")  # the export is limited per caller
        meter = store.start_metering()
        started = time.perf_counter()
        chunks = export.export_user(
            actor_id=caller["user"]["id"], user_id=uid, client=Client("127.0.0.1", "bench"), now=datetime.now(UTC)
        )
        body = "".join(chunks)
        elapsed = (time.perf_counter() - started) * 1000
        documents = sum(len(v) for v in json.loads(body)["collections"].values())
        rows.append(f"| {logins} logins | {documents} | {elapsed:.0f} | {len(body)} | {meter.header()} |")
    return rows


# A fresh interpreter, as a new instance of users-export: its resident memory once loaded and
# warmed by a small export, then its peak while it streams a large one to a reader.
EXPORT_MEMORY_PROBE = r"""
import json, resource, sys, time
import functions_framework
app = functions_framework.create_app(target="users_export", source="main.py")
client = app.test_client()
big, small = sys.argv[1:3]
def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize() / 2**20
def export(token, uid):
    response = client.get(f"/api/v1/users/{uid}/export", headers={"Authorization": "Bearer " + token},
                          buffered=False)
    size = sum(len(chunk) for chunk in response.response)
    return response.status_code, size
token_s, uid_s = small.split(":")
export(token_s, uid_s)
baseline = rss_mb()
token_b, uid_b = big.split(":")
started = time.perf_counter()
status, size = export(token_b, uid_b)
print(json.dumps({"status": status, "bytes": size, "seconds": time.perf_counter() - started,
                  "baseline_mb": baseline, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def export_memory_rows(api: Any, documents: int = 50_000) -> list[str]:
    """A user with `documents` documents (progress items of ~300 bytes), exported by a fresh
    users-export process: its peak resident memory above its own baseline."""
    from concurrent.futures import ThreadPoolExecutor

    from shared import store

    user = api.register("export-heavy@example.com")
    uid = user["user"]["id"]
    col = store.db().collection("progress_items")

    def write(start: int) -> None:
        batch = store.db().batch()
        for i in range(start, min(start + 500, documents)):
            item = {"user_id": uid, "kind": "topic", "topic": f"topic-{i}", "xp": i, "note": "x" * 200}
            batch.set(col.document(f"{uid}_bench-{i:06d}"), item)
        batch.commit()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(0, documents, 500)))
    small = api.register("export-light@example.com")
    run = fresh_process(
        EXPORT_MEMORY_PROBE,
        f"{user['access_token']}:{uid}",
        f"{small['access_token']}:{small['user']['id']}",
        env={"STUDYHALL_LOG_LEVEL": "WARNING"},
    )
    assert run["status"] == 200, run
    return [
        "| documents | response bytes | seconds | baseline RSS (MiB) | peak RSS (MiB) | above baseline (MiB) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {documents} | {run['bytes']} | {run['seconds']:.1f} | {run['baseline_mb']:.0f} | "
        f"{run['peak_mb']:.0f} | {run['peak_mb'] - run['baseline_mb']:.0f} |",
    ]


def main() -> None:
    configure()
    os.environ["STUDYHALL_BCRYPT_ROUNDS"] = "4"  # set-up logins only; no measured route hashes
    api = _api()
    print("### Avatar function cold start (fresh process, then one upload)\n")
    print("\n".join(cold_rows(api)))
    print("\n### Avatar upload, warm (in-process gateway, storage emulator; 10 uploads each)\n")
    print("\n".join(avatar_rows(api)))
    print("\n### Data export as a user's history grows (each login: a session and an audit entry)\n")
    print("\n".join(export_rows(api)))
    print(
        "\n### Data export of 50,000 documents, streamed (fresh users-export process; bound: 64 MiB above baseline)\n"
    )
    print("\n".join(export_memory_rows(api)))


if __name__ == "__main__":
    main()
