"""schemathesis `--checks all` against the whole API served by a real HTTP server, as the issue
asks of `make dev`, without `make dev`'s shared ports: the gateway on an ephemeral port of
127.0.0.1, the emulators of the test suite (already running, or started here) under a project of
its own, the demo data loaded as `make dev` loads it, then the schemathesis CLI once with the demo
admin's token and once with the demo student's.

    .venv/bin/python -m infra.local.contract [--max-examples N] [extra schemathesis options]

The configuration is schemathesis.toml, the one the in-suite run (tests/test_openapi_conformance.py)
reads: the operations that would end the fuzzer's own session are left out there, the rest is
discovered from docs/openapi.json, so a route added later is fuzzed with no change.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = os.environ.get("STUDYHALL_CONTRACT_PROJECT", "studyhall-contract-fuzz")


def main(argv: list[str]) -> int:
    from infra.local.emulators import Emulators, emulator_env
    from infra.manifest import TEST_PORTS

    os.environ.update(emulator_env(PROJECT, TEST_PORTS))
    os.environ.setdefault("STUDYHALL_ENV", "test")
    os.environ.setdefault("STUDYHALL_BCRYPT_ROUNDS", "4")
    os.environ.setdefault("STUDYHALL_EXPOSE_OPS", "true")
    os.environ.setdefault("STUDYHALL_IMPORTS_BUCKET", f"{PROJECT}-imports")
    os.environ.setdefault("STUDYHALL_AVATARS_BUCKET", f"{PROJECT}-avatars")

    logs = ROOT / ".dev" / "contract-logs"
    emulators = Emulators(PROJECT, TEST_PORTS, logs).start(reuse=True)
    # The report goes to the terminal; the server's request logs to a file.
    report = os.fdopen(os.dup(1), "w", buffering=1)
    server_log = os.open(logs / "gateway.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(server_log, 1)
    os.dup2(server_log, 2)
    from google.cloud import storage
    from werkzeug.serving import make_server

    from infra.local import pubsub, seed
    from infra.local.emulators import clear_firestore
    from infra.local.gateway import Gateway, QuietTokenHandler
    from shared.config import settings

    clear_firestore(PROJECT, TEST_PORTS["firestore"])
    client = storage.Client(project=PROJECT)
    for bucket in (settings().imports_bucket, settings().avatars_bucket):
        if client.lookup_bucket(bucket) is None:
            client.create_bucket(bucket)
    gateway = Gateway()
    server = make_server("127.0.0.1", 0, gateway, threaded=True, request_handler=QuietTokenHandler)
    pubsub.apply(PROJECT, push_base=f"http://127.0.0.1:{server.server_port}/_events", push_query=gateway.push_query)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        seed.load()
        base = f"http://127.0.0.1:{server.server_port}"
        failed = 0
        for email in ("admin@studyhall.dev", "student@studyhall.dev"):
            token = _login(base, email)
            command = [
                str(Path(sys.executable).parent / "schemathesis"),
                "--config-file",
                str(ROOT / "schemathesis.toml"),
                "run",
                str(ROOT / "docs" / "openapi.json"),
                "--url",
                base,
                "--checks",
                "all",
                "--header",
                f"Authorization: Bearer {token}",
                *argv,
            ]
            print(f"\n== schemathesis --checks all as {email}", file=report)
            failed |= subprocess.call(command, stdout=report, stderr=report)
        return failed
    finally:
        server.shutdown()
        emulators.stop()


def _login(base: str, email: str) -> str:
    import json
    import urllib.request

    request = urllib.request.Request(
        f"{base}/api/v1/auth/login",
        data=json.dumps({"email": email, "password": "studyhall-demo"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.load(response)["access_token"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
