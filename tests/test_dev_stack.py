"""`make dev` never strands a process: a SIGTERM at any moment of startup stops every child.

The runner is started on ports of its own (never the default 8080/8180/8185/9023 nor the test
emulators'), signalled mid-startup, and then no process may be left that was started for it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def processes_mentioning(needles: list[str]) -> list[str]:
    """Command lines of live processes that name one of `needles` (our ports)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(needle in cmdline for needle in needles):
            found.append(f"{entry.name}: {cmdline[:200]}")
    return found


def children_of(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(entry.name))
            except OSError:
                continue
    return kids


@pytest.mark.parametrize("moment", ["emulators starting", "demo data loading"])
def test_sigterm_during_startup_leaves_no_process(moment: str) -> None:
    ports = dict(zip(("firestore", "pubsub", "storage", "auth", "gateway"), free_ports(5), strict=True))
    env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST")}
    env.update(
        {
            "STUDYHALL_DEV_PORTS": ",".join(f"{k}={v}" for k, v in ports.items()),
            "STUDYHALL_DEV_PROJECT": f"studyhall-sigterm-{os.getpid()}",
            "STUDYHALL_ENV": "test",
            "PYTHONUNBUFFERED": "1",
        }
    )
    runner = subprocess.Popen(
        [sys.executable, "-m", "infra.local.dev"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    needles = [f"{port}" for port in ports.values()]
    output: list[str] = []
    try:
        deadline = time.monotonic() + 120
        if moment == "emulators starting":
            # As soon as the emulators are being started (four children), before any is ready.
            while len(children_of(runner.pid)) < 4 and time.monotonic() < deadline:
                time.sleep(0.05)
        else:
            assert runner.stdout is not None
            for line in runner.stdout:
                output.append(line)
                if "loading demo data" in line or time.monotonic() > deadline:
                    break
        assert runner.poll() is None, "".join(output)
        runner.send_signal(signal.SIGTERM)
        try:
            rest, _ = runner.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(runner.pid, signal.SIGKILL)
            rest, _ = runner.communicate()
            raise AssertionError("still running 120 s after SIGTERM:\n" + "".join(output) + rest) from None
        output.append(rest)
    finally:
        if runner.poll() is None:  # the test failed: leave nothing behind either
            os.killpg(runner.pid, signal.SIGKILL)
    text = "".join(output)
    assert runner.returncode == 0, text
    assert "stopped; no emulator left running." in text
    assert "Studyhall is up" not in text
    assert processes_mentioning([f"{n}:{p}" for n, p in (("host-port=127.0.0.1", v) for v in needles)]) == []
    assert processes_mentioning([f"--port={p}" for p in needles]) == []
    assert processes_mentioning([f"firebase-auth-{ports['auth']}.json"]) == []
