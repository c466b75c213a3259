"""`make dev`: the whole stack on this machine, stopped cleanly with Ctrl-C or SIGTERM.

Emulators (Firestore, Pub/Sub, Storage, Firebase Auth), topics and push subscriptions, every function behind
the firebase.json rewrites at http://127.0.0.1:8080, storage and scheduler triggers, demo data.

Signals are handled from the first line: a SIGTERM or Ctrl-C at any moment, startup included,
stops every child that was started and leaves no emulator running. `STUDYHALL_DEV_PORTS`
(`firestore=18180,pubsub=18185,storage=19023,auth=19099,gateway=18080`) moves the stack off its default ports.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Any


class Stop(BaseException):
    """Raised in the main thread by the first SIGINT/SIGTERM: unwinds startup or the wait."""


_stopping = threading.Event()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _stopping.is_set():
        return  # already unwinding: let the cleanup finish
    _stopping.set()
    raise Stop(signum)


# Before anything else (imports included): a background start may have inherited an ignored SIGINT.
for _signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(_signum, _on_signal)

import os  # noqa: E402
from pathlib import Path  # noqa: E402

from infra.local.emulators import Emulators, emulator_env  # noqa: E402
from infra.manifest import EMULATOR_PORTS  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PROJECT = os.environ.get("STUDYHALL_DEV_PROJECT", "studyhall-dev")


def ports() -> dict[str, int]:
    chosen = dict(EMULATOR_PORTS)
    for pair in filter(None, os.environ.get("STUDYHALL_DEV_PORTS", "").split(",")):
        name, _, port = pair.partition("=")
        if name.strip() not in chosen:
            raise SystemExit(f"STUDYHALL_DEV_PORTS: unknown {name!r} (use {', '.join(chosen)})")
        chosen[name.strip()] = int(port)
    return chosen


def configure_environment(chosen: dict[str, int]) -> None:
    os.environ.update(emulator_env(PROJECT, chosen))
    os.environ.setdefault("STUDYHALL_ENV", "development")
    os.environ.setdefault("STUDYHALL_EXPOSE_OPS", "true")
    os.environ.setdefault("STUDYHALL_BCRYPT_ROUNDS", "10")


def main() -> int:
    chosen = ports()
    configure_environment(chosen)
    emulators = Emulators(PROJECT, chosen, ROOT / ".dev" / "logs")
    server = None
    background: list[Any] = []
    try:
        print("starting emulators (Firestore, Pub/Sub, Storage, Firebase Auth)...", flush=True)
        emulators.start()
        import json

        from werkzeug.serving import make_server

        from infra.local import pubsub, seed
        from infra.local.gateway import Gateway, QuietTokenHandler, Scheduler, StorageWatcher
        from shared.config import settings
        from shared.registry import load_all

        specs = load_all()
        bucket = settings().imports_bucket
        from google.cloud import storage

        storage.Client(project=PROJECT).create_bucket(bucket)
        storage.Client(project=PROJECT).create_bucket(settings().avatars_bucket)
        gateway_port = chosen["gateway"]
        # Not ready until the demo data is in: /health/ready answers 503 until then.
        gateway = Gateway(ready=False)
        pubsub.apply(PROJECT, push_base=f"http://127.0.0.1:{gateway_port}/_events", push_query=gateway.push_query)
        server = make_server("127.0.0.1", gateway_port, gateway, threaded=True, request_handler=QuietTokenHandler)
        threading.Thread(target=server.serve_forever, daemon=True, name="gateway").start()

        watcher = StorageWatcher(gateway, bucket, [s.name for s in specs.values() if s.kind == "storage"])
        jobs = json.loads((ROOT / "infra" / "scheduler.json").read_text())["jobs"]
        scheduler = Scheduler(jobs)
        for worker in (watcher, scheduler):
            threading.Thread(target=worker.run, daemon=True).start()
            background.append(worker)

        print("loading demo data...", flush=True)
        demo = seed.load()
        gateway.ready.set()
        http = [s for s in specs.values() if s.kind == "http"]
        print(
            "\nStudyhall is up.\n"
            f"  API gateway      http://127.0.0.1:{gateway_port}   ({len(http)} HTTP functions, "
            f"{len(specs) - len(http)} event functions)\n"
            f"  Firestore        127.0.0.1:{chosen['firestore']}   project {PROJECT}\n"
            f"  Pub/Sub          127.0.0.1:{chosen['pubsub']}\n"
            f"  Storage          http://127.0.0.1:{chosen['storage']}   bucket {bucket} "
            "(upload questions/<exam_type>.csv to import)\n"
            f"  Firebase Auth    127.0.0.1:{chosen['auth']}   "
            "(signInWithCustomToken with the token of POST /api/v1/auth/firebase-token)\n"
            f"  Logs             {ROOT / '.dev' / 'logs'}\n"
            "Demo accounts:\n" + "\n".join(demo) + "\n"
            f"Try: curl http://127.0.0.1:{gateway_port}/health/ready\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
        while not _stopping.wait(1):
            pass
        return 0
    except Stop:
        return 0
    finally:
        _stopping.set()  # a second signal from here on is ignored: the cleanup runs to its end
        print("\nstopping...", flush=True)
        for worker in background:
            worker.stop()
        if server is not None:
            server.shutdown()
        emulators.stop()
        print("stopped; no emulator left running.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
