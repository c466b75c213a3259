"""The test stack: real Firestore, Pub/Sub and Storage emulators on their own ports and
project (so `make dev` can run alongside), the functions behind the same gateway as `make dev`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.local.emulators import Emulators, clear_firestore, emulator_env
from infra.manifest import TEST_PORTS

# A separate project id per concurrent run keeps their data apart on the same emulators.
PROJECT = os.environ.get("STUDYHALL_TEST_PROJECT", "studyhall-test")
ROOT = Path(__file__).resolve().parent.parent

# Settings are read once per process: the environment must be in place before any import of them.
os.environ.update(emulator_env(PROJECT, TEST_PORTS))
os.environ.update(
    {
        "STUDYHALL_ENV": "test",
        "STUDYHALL_BCRYPT_ROUNDS": "4",
        "STUDYHALL_EXPOSE_OPS": "true",
        "STUDYHALL_IMPORTS_BUCKET": f"{PROJECT}-imports",
        "STUDYHALL_AVATARS_BUCKET": f"{PROJECT}-avatars",
        # The tests play the one trusted proxy in front: their X-Forwarded-For names the client.
        "STUDYHALL_TRUSTED_PROXY_HOPS": "1",
    }
)

from tests.support import Api, Stack  # noqa: E402


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    emulators = Emulators(PROJECT, TEST_PORTS, ROOT / ".dev" / "test-logs").start(reuse=True)
    try:
        yield Stack.start(PROJECT)
    finally:
        emulators.stop()


@pytest.fixture(autouse=True)
def clean_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that touches the stack starts from empty Firestore and empty subscriptions."""
    if "stack" in request.fixturenames or "api" in request.fixturenames:
        stack: Stack = request.getfixturevalue("stack")
        clear_firestore(PROJECT, TEST_PORTS["firestore"])
        stack.purge()
        stack.reset_storage()
    yield


@pytest.fixture
def api(stack: Stack) -> Api:
    return Api(stack.gateway)


@pytest.fixture
def drain(stack: Stack) -> Any:
    return stack.drain
