"""Cold start of functions (fresh process: import plus first request) and warm latency of
`GET /api/v1/auth/me` under 20 concurrent clients on the local stack.

Run through `make bench` (which starts the emulators), or alone with the emulators up:
`.venv/bin/python -m bench.foundation`.
"""

from __future__ import annotations

import json
import logging
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.environment import BENCH_PROJECT, bench_env, configure

ROOT = Path(__file__).resolve().parent.parent

# Runs in a fresh interpreter, as a new Cloud Functions instance would: load the source the way
# functions-framework does, then serve one request.
COLD_PROBE = r"""
import json, sys, time
started = time.perf_counter()
import functions_framework
target, method, path, body, token = sys.argv[1:6]
app = functions_framework.create_app(target=target, source="main.py")
loaded = time.perf_counter()
headers = {"Authorization": "Bearer " + token} if token else {}
client = app.test_client()
response = client.open(path, method=method, json=json.loads(body) if body else None, headers=headers)
done = time.perf_counter()
print(json.dumps({"import_ms": (loaded - started) * 1000, "first_request_ms": (done - loaded) * 1000,
                  "status": response.status_code, "ops": response.headers.get("X-Firestore-Ops"),
                  "modules": len(sys.modules)}))
"""

DEMO_EMAIL = "bench@example.com"
DEMO_PASSWORD = "bench password for studyhall"


def _cold(target: str, method: str, path: str, body: dict[str, Any] | None = None, token: str = "") -> dict[str, Any]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", COLD_PROBE, target, method, path, json.dumps(body) if body else "", token],
        cwd=ROOT,
        env={**bench_env(), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = dict(json.loads(out.strip().splitlines()[-1]))
    result["process_ms"] = (time.perf_counter() - started) * 1000
    return result


def cold_starts() -> list[str]:
    from infra.local.emulators import clear_firestore
    from infra.manifest import TEST_PORTS
    from tests.support import Api, Stack

    clear_firestore(BENCH_PROJECT, TEST_PORTS["firestore"])
    stack = Stack.start(BENCH_PROJECT)
    api = Api(stack.gateway)
    api.register(DEMO_EMAIL, password=DEMO_PASSWORD)
    token = api.login(DEMO_EMAIL, DEMO_PASSWORD)["access_token"]
    cases = [
        ("auth_login", "POST", "/api/v1/auth/login", {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}, ""),
        ("auth_me", "GET", "/api/v1/auth/me", None, token),
        ("health_live", "GET", "/health", None, ""),
    ]
    rows = [
        "| function | first request | import + load (ms) | first request (ms) | whole process (ms) | "
        "modules | Firestore ops |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for target, method, path, body, bearer in cases:
        runs = [_cold(target, method, path, body, bearer) for _ in range(3)]
        best = min(runs, key=lambda r: r["process_ms"])
        assert best["status"] < 300, best
        rows.append(
            f"| {target.replace('_', '-')} | {method} {path} | {statistics.median(r['import_ms'] for r in runs):.0f} | "
            f"{statistics.median(r['first_request_ms'] for r in runs):.0f} | "
            f"{statistics.median(r['process_ms'] for r in runs):.0f} | {best['modules']} | {best['ops']} |"
        )
    return rows


def warm_latency(clients: int = 20, requests_per_client: int = 100) -> list[str]:
    import requests
    from werkzeug.serving import make_server

    from tests.support import Api, Stack

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    stack = Stack.start(BENCH_PROJECT)
    token = Api(stack.gateway).login(DEMO_EMAIL, DEMO_PASSWORD)["access_token"]
    server = make_server("127.0.0.1", 0, stack.gateway, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/api/v1/auth/me"
    latencies: list[float] = []
    lock = threading.Lock()
    ops: set[str] = set()

    def client() -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {token}"
            session.get(url, timeout=10)  # connection warm-up, not counted
            for _ in range(requests_per_client):
                started = time.perf_counter()
                response = session.get(url, timeout=10)
                elapsed = (time.perf_counter() - started) * 1000
                assert response.status_code == 200, response.text
                with lock:
                    latencies.append(elapsed)
                    ops.add(response.headers["X-Firestore-Ops"])

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    wall = time.perf_counter() - started
    server.shutdown()
    cuts = statistics.quantiles(latencies, n=100)
    return [
        "| route | clients | requests | p50 (ms) | p95 (ms) | p99 (ms) | throughput (req/s) "
        "| Firestore ops per request |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        f"| GET /api/v1/auth/me | {clients} | {len(latencies)} | {cuts[49]:.1f} | {cuts[94]:.1f} | {cuts[98]:.1f} | "
        f"{len(latencies) / wall:.0f} | {', '.join(sorted(ops))} |",
    ]


def main() -> None:
    configure()
    print("### Cold start (fresh process: functions-framework load of main.py, then one request)\n")
    print("\n".join(cold_starts()))
    print("\n### Warm latency on the local stack (gateway + emulators, one process, threaded)\n")
    print("\n".join(warm_latency()))


if __name__ == "__main__":
    main()
