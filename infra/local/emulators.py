"""Start and stop the real emulators: Firestore and Pub/Sub from the Google Cloud CLI, Cloud
Storage from gcp-storage-emulator, Firebase Auth from firebase-tools (pinned in infra/node,
installed by `make node-tools`). Each runs in its own process group so that stopping leaves
no Java or Node process behind."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def _unblock_signals() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


def emulator_env(project: str, ports: dict[str, int]) -> dict[str, str]:
    return {
        "GOOGLE_CLOUD_PROJECT": project,
        "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{ports['firestore']}",
        "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{ports['pubsub']}",
        "PUBSUB_PROJECT_ID": project,
        "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{ports['storage']}",
        # firebase-admin mints unsigned custom tokens and revokes sign-ins on the Auth emulator.
        "FIREBASE_AUTH_EMULATOR_HOST": f"127.0.0.1:{ports['auth']}",
    }


@dataclass
class Emulators:
    project: str
    ports: dict[str, int]
    log_dir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, *, reuse: bool = False) -> Emulators:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        gcloud = shutil.which("gcloud")
        if gcloud is None:
            raise RuntimeError("the Google Cloud CLI (gcloud) is needed for the Firestore and Pub/Sub emulators")
        commands = {
            "firestore": [
                gcloud,
                "emulators",
                "firestore",
                "start",
                f"--host-port=127.0.0.1:{self.ports['firestore']}",
                f"--rules={ROOT / 'infra' / 'firestore.rules'}",
                "--quiet",
            ],
            "pubsub": [
                gcloud,
                "beta",
                "emulators",
                "pubsub",
                "start",
                f"--host-port=127.0.0.1:{self.ports['pubsub']}",
                f"--project={self.project}",
                "--quiet",
            ],
            "storage": [
                str(Path(sys.executable).parent / "gcp-storage-emulator"),
                "start",
                "--host=127.0.0.1",
                f"--port={self.ports['storage']}",
                "--in-memory",
                "--quiet",
            ],
        }
        if not (reuse and port_open(self.ports["auth"])):  # a reused Auth emulator needs no Node here
            commands["auth"] = self._auth_command()
        for name, command in commands.items():
            if port_open(self.ports[name]):
                if reuse:
                    continue
                raise RuntimeError(f"port {self.ports[name]} for the {name} emulator is already taken")
            log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the process
            # No signal between the start of a child and its listing: stop() must know every child.
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
            try:
                self.processes.append(
                    subprocess.Popen(
                        command,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,
                        cwd=ROOT,
                        preexec_fn=_unblock_signals,  # the child must not inherit the mask
                    )
                )
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        self.wait_ready()
        return self

    def _auth_command(self) -> list[str]:
        """firebase-tools' Auth emulator alone, from a config naming only its port: the hub and
        logging ports it also opens are found free by itself (4400 and 4500 when they are)."""
        firebase = ROOT / "infra" / "node" / "node_modules" / ".bin" / "firebase"
        if shutil.which("node") is None or not firebase.exists():
            raise RuntimeError("the Firebase Auth emulator needs Node.js 20+ and `make node-tools` (firebase-tools)")
        port = self.ports["auth"]
        config = self.log_dir / f"firebase-auth-{port}.json"
        emulators = {"auth": {"host": "127.0.0.1", "port": port}, "ui": {"enabled": False}, "singleProjectMode": False}
        config.write_text(json.dumps({"emulators": emulators}))
        return [str(firebase), "emulators:start", "--only=auth", f"--project={self.project}", f"--config={config}"]

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        pending = dict(self.ports)
        pending.pop("gateway", None)
        while pending:
            for name, port in list(pending.items()):
                if port_open(port) and (name != "firestore" or self._firestore_ok(port)):
                    pending.pop(name)
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"emulators did not start: {', '.join(pending)} (logs in {self.log_dir})")
            for process in self.processes:
                if process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"an emulator exited early (logs in {self.log_dir})")
            time.sleep(0.3)

    @staticmethod
    def _firestore_ok(port: int) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def env(self) -> dict[str, str]:
        return emulator_env(self.project, self.ports)

    def stop(self, grace: float = 8.0) -> None:
        """SIGTERM every emulator's process group (the JVM outlives its gcloud wrapper), wait for
        all of them together up to `grace` seconds, SIGKILL what is left, and return only once no
        process of any group remains."""
        for process in self.processes:
            _signal_group(process, signal.SIGTERM)
        pending = list(self.processes)
        deadline = time.monotonic() + grace
        while pending:
            pending = [p for p in pending if _group_alive(p)]
            if pending and time.monotonic() > deadline:
                for process in pending:
                    _signal_group(process, signal.SIGKILL)
                deadline = time.monotonic() + grace
            time.sleep(0.05)
        self.processes.clear()


def _signal_group(leader: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(leader.pid, signum)


def _group_alive(leader: subprocess.Popen[bytes]) -> bool:
    leader.poll()  # reap the leader: a zombie still counts as a member of its group
    try:
        os.killpg(leader.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def clear_firestore(project: str, port: int) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/emulator/v1/projects/{project}/databases/(default)/documents", method="DELETE"
    )
    urllib.request.urlopen(request, timeout=10).close()
