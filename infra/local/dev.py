"""`make dev`: the whole stack on this machine, stopped cleanly with Ctrl-C.

Emulators (Firestore, Pub/Sub, Storage), topics and push subscriptions, every function behind
the firebase.json rewrites at http://127.0.0.1:8080, storage and scheduler triggers, demo data.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from infra.local.emulators import Emulators, emulator_env
from infra.manifest import EMULATOR_PORTS

ROOT = Path(__file__).resolve().parents[2]
PROJECT = os.environ.get("STUDYHALL_DEV_PROJECT", "studyhall-dev")


def configure_environment() -> None:
    os.environ.update(emulator_env(PROJECT, EMULATOR_PORTS))
    os.environ.setdefault("STUDYHALL_ENV", "development")
    os.environ.setdefault("STUDYHALL_EXPOSE_OPS", "true")
    os.environ.setdefault("STUDYHALL_BCRYPT_ROUNDS", "10")


def main() -> int:
    configure_environment()
    emulators = Emulators(PROJECT, EMULATOR_PORTS, ROOT / ".dev" / "logs")
    print("starting emulators (Firestore, Pub/Sub, Storage)...", flush=True)
    emulators.start()
    server = None
    background: list[Any] = []
    try:
        import json

        from werkzeug.serving import make_server

        from infra.local import pubsub, seed
        from infra.local.gateway import Gateway, Scheduler, StorageWatcher
        from shared.config import settings
        from shared.registry import load_all

        specs = load_all()
        bucket = settings().imports_bucket
        from google.cloud import storage  # type: ignore[attr-defined]

        storage.Client(project=PROJECT).create_bucket(bucket)
        storage.Client(project=PROJECT).create_bucket(settings().avatars_bucket)
        gateway_port = EMULATOR_PORTS["gateway"]
        pubsub.apply(PROJECT, push_base=f"http://127.0.0.1:{gateway_port}/_events")
        gateway = Gateway()
        server = make_server("127.0.0.1", gateway_port, gateway, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True, name="gateway").start()

        watcher = StorageWatcher(gateway, bucket, [s.name for s in specs.values() if s.kind == "storage"])
        jobs = json.loads((ROOT / "infra" / "scheduler.json").read_text())["jobs"]
        scheduler = Scheduler(jobs)
        for worker in (watcher, scheduler):
            threading.Thread(target=worker.run, daemon=True).start()
            background.append(worker)

        print("loading demo data...", flush=True)
        demo = seed.load()
        http = [s for s in specs.values() if s.kind == "http"]
        print(
            "\nStudyhall is up.\n"
            f"  API gateway      http://127.0.0.1:{gateway_port}   ({len(http)} HTTP functions, "
            f"{len(specs) - len(http)} event functions)\n"
            f"  Firestore        127.0.0.1:{EMULATOR_PORTS['firestore']}   project {PROJECT}\n"
            f"  Pub/Sub          127.0.0.1:{EMULATOR_PORTS['pubsub']}\n"
            f"  Storage          http://127.0.0.1:{EMULATOR_PORTS['storage']}   bucket {bucket} "
            "(upload questions/<exam_type>.csv to import)\n"
            f"  Logs             {ROOT / '.dev' / 'logs'}\n"
            "Demo accounts:\n" + "\n".join(demo) + "\n"
            "Try: curl http://127.0.0.1:8080/health\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
        stopped = threading.Event()
        # Ctrl-C and SIGTERM both end the wait (a background start may have inherited an ignored SIGINT).
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopped.set())
        while not stopped.wait(1):
            pass
        return 0
    finally:
        print("\nstopping...", flush=True)
        for worker in background:
            worker.stop()
        if server is not None:
            server.shutdown()
        emulators.stop()
        print("stopped; no emulator left running.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
