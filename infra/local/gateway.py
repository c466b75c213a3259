"""The local stand-in for the managed parts: Firebase Hosting (the public folder's files, then
the rewrites of firebase.json),
Eventarc (a new object in the storage emulator becomes a finalized CloudEvent) and Cloud
Scheduler (the jobs of infra/scheduler.json, on their cron and on demand).

Every function runs as functions-framework builds it in production (`create_app` on main.py),
so the handler code cannot tell local from deployed. All functions share this one process.
"""

from __future__ import annotations

import hmac
import json
import mimetypes
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import flask
import functions_framework
from werkzeug.serving import WSGIRequestHandler
from werkzeug.test import Client

from shared.logging import get_logger, log_fields

ROOT = Path(__file__).resolve().parents[2]
log = get_logger("gateway")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def glob_to_regex(glob: str) -> re.Pattern[str]:
    parts = []
    for segment in glob.split("/"):
        if segment == "**":
            parts.append(".*")
        else:
            parts.append("[^/]+".join(re.escape(p) for p in segment.split("*")))
    return re.compile("^" + "/".join(parts) + "/?$")


def _json(start_response: Callable[..., Any], status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body, separators=(",", ":")).encode()
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
        ],
    )
    return [data]


def _not_found(start_response: Callable[..., Any]) -> list[bytes]:
    return _json(
        start_response, "404 NOT FOUND", {"error": {"code": "not_found", "message": "No such route.", "details": []}}
    )


def _not_the_stack(start_response: Callable[..., Any]) -> list[bytes]:
    message = "Only the stack's own push subscriptions deliver events."
    return _json(
        start_response, "401 UNAUTHORIZED", {"error": {"code": "unauthorized", "message": message, "details": []}}
    )


class Gateway:
    """A WSGI app: `/_events/<function>/...` reaches an event function (Pub/Sub push target);
    every other path is, as on Hosting, a file of the public folder if there is one (with
    `cleanUrls`, `/docs` is `docs.html`), else goes through the rewrites.

    Only the stack delivers events, as only the push service account may in production: each
    gateway draws a secret `push_token` that its push subscriptions carry (`push_query`); a
    delivery without it is refused. `/health/ready` answers 503 until `ready` is set (`make dev`
    sets it once the demo data is loaded)."""

    def __init__(
        self,
        firebase_json: Path = ROOT / "firebase.json",
        source: Path = ROOT / "main.py",
        *,
        ready: bool = True,
        push_token: str | None = None,
    ):
        from infra.hosting_build import build

        self.push_token = push_token or secrets.token_urlsafe(32)
        self.ready = threading.Event()
        if ready:
            self.ready.set()
        config = json.loads(firebase_json.read_text())
        self.rewrites = [
            (glob_to_regex(r["source"]), r["function"]["functionId"]) for r in config["hosting"]["rewrites"]
        ]
        self.public = (ROOT / config["hosting"]["public"]).resolve()
        self.clean_urls = bool(config["hosting"].get("cleanUrls"))
        self.headers = [
            (glob_to_regex(h["source"]), [(x["key"], x["value"]) for x in h["headers"]])
            for h in config["hosting"].get("headers", [])
        ]
        build(self.public)  # what Cloud Build does before deploying Hosting
        self.source = source
        self._apps: dict[str, flask.Flask] = {}
        self._lock = threading.Lock()

    def app(self, function: str) -> flask.Flask:
        with self._lock:
            if function not in self._apps:
                self._apps[function] = functions_framework.create_app(  # type: ignore[no-untyped-call]
                    target=function.replace("-", "_"), source=str(self.source)
                )
            return self._apps[function]

    def route(self, path: str) -> str | None:
        return next((name for pattern, name in self.rewrites if pattern.match(path)), None)

    @property
    def push_query(self) -> str:
        """The query string a push endpoint of this stack carries."""
        return urlencode({"token": self.push_token})

    def _from_the_stack(self, environ: dict[str, Any]) -> bool:
        query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        offered = next((value for key, value in query if key == "token"), "")
        # The token stops here: the function (and its request log) never sees it.
        environ["QUERY_STRING"] = urlencode([(k, v) for k, v in query if k != "token"])
        return hmac.compare_digest(offered.encode(), self.push_token.encode())

    def _starting(self, start_response: Callable[..., Any]) -> list[bytes]:
        from shared.config import settings

        body = {"status": "degraded", "version": settings().version, "checks": {"stack": "starting"}}
        return _json(start_response, "503 SERVICE UNAVAILABLE", body)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if path.startswith("/_events/"):
            if not self._from_the_stack(environ):
                return _not_the_stack(start_response)
            _, _, rest = path.partition("/_events/")
            function, _, tail = rest.partition("/")
            environ["PATH_INFO"] = "/" + tail
            try:
                return self.app(function)(environ, start_response)
            except Exception:  # an unknown function name
                return _not_found(start_response)
        static = self.static_file(path) if environ.get("REQUEST_METHOD") in ("GET", "HEAD") else None
        if static is not None:
            return self._serve_file(path, static, environ, start_response)
        routed = self.route(path)
        if routed is None:
            return _not_found(start_response)
        if routed == "health-ready" and not self.ready.is_set():
            return self._starting(start_response)
        return self.app(routed)(environ, start_response)

    def static_file(self, path: str) -> Path | None:
        """The public folder's file for `path`, as Hosting picks it; never outside the folder,
        never a hidden file."""
        relative = path.lstrip("/") or "index.html"
        # No file name holds a NUL byte (and the file system refuses to look one up).
        if "\x00" in relative or any(part.startswith(".") for part in relative.split("/")):
            return None
        candidates = [relative, f"{relative}/index.html"] + ([f"{relative}.html"] if self.clean_urls else [])
        for candidate in candidates:
            try:
                file = (self.public / candidate).resolve()
                if file.is_file() and file.is_relative_to(self.public):
                    return Path(file)
            except OSError:  # a name past the file system's limits (ENAMETOOLONG) is no file of ours
                continue
        return None

    def _serve_file(
        self, path: str, file: Path, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> list[bytes]:
        body = file.read_bytes()
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in ("application/json", "application/javascript"):
            content_type += "; charset=utf-8"
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        for pattern, extra in self.headers:
            if pattern.match(path):
                headers.extend(extra)
        start_response("200 OK", headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    def deliver(self, function: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> int:
        """POST a body to a function in-process (the drain and the Eventarc stand-in use this)."""
        response = Client(self.app(function)).post(path, json=body, headers=headers or {})
        return int(response.status_code)


class QuietTokenHandler(WSGIRequestHandler):
    """The dev server's request log, with the push token of event deliveries blanked out."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        original = self.path
        self.path = re.sub(r"token=[^&]+", "token=...", original)
        try:
            super().log_request(code, size)
        finally:
            self.path = original


def storage_cloud_event(bucket: str, blob: Any) -> tuple[dict[str, str], dict[str, Any]]:
    """Headers and body of the binary-mode CloudEvent Eventarc posts for a finalized object."""
    generation = str(blob.generation or int(time.time() * 1e6))
    headers = {
        "ce-id": f"{bucket}/{blob.name}/{generation}",
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.storage.object.v1.finalized",
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "ce-subject": f"objects/{blob.name}",
        "ce-time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    body = {
        "bucket": bucket,
        "name": blob.name,
        "generation": generation,
        "size": str(blob.size or 0),
        "contentType": blob.content_type or "application/octet-stream",
        "timeCreated": headers["ce-time"],
        "updated": headers["ce-time"],
    }
    return headers, body


class StorageWatcher:
    """Polls a bucket of the storage emulator and fires the storage functions for each object
    finalized since the last look (Eventarc's part). A failed delivery is retried next poll."""

    def __init__(self, gateway: Gateway, bucket: str, functions: list[str], interval: float = 1.0):
        self.gateway, self.bucket, self.functions, self.interval = gateway, bucket, functions, interval
        self.seen: set[tuple[str, str]] = set()
        self._stop = threading.Event()

    def poll_once(self) -> int:
        from google.cloud import storage

        fired = 0
        for blob in storage.Client().list_blobs(self.bucket):
            key = (blob.name, str(blob.generation))
            if key in self.seen:
                continue
            headers, body = storage_cloud_event(self.bucket, blob)
            ok = True
            for function in self.functions:
                status = self.gateway.deliver(function, "/", body, headers)
                ok = ok and 200 <= status < 300
                log.info(
                    "storage event delivered", extra=log_fields(function=function, object=blob.name, status=status)
                )
            if ok:
                self.seen.add(key)
                fired += 1
        return fired

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll_once()
            except Exception as exc:
                log.warning(f"storage watcher: {type(exc).__name__}: {exc}")

    def stop(self) -> None:
        self._stop.set()


class Scheduler:
    """Fires the jobs of infra/scheduler.json on their cron by publishing to their topic."""

    def __init__(self, jobs: list[dict[str, Any]]):
        self.jobs = jobs
        self._stop = threading.Event()

    def run(self) -> None:
        from croniter import croniter

        from shared.events import publish

        upcoming = {job["name"]: croniter(job["schedule"], datetime.now(UTC)).get_next(datetime) for job in self.jobs}
        while not self._stop.wait(5):
            now = datetime.now(UTC)
            for job in self.jobs:
                if upcoming[job["name"]] <= now:
                    publish(job["topic"], job["payload"])
                    log.info("scheduled job fired", extra=log_fields(job=job["name"]))
                    upcoming[job["name"]] = croniter(job["schedule"], now).get_next(datetime)

    def stop(self) -> None:
        self._stop.set()
