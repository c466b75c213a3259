"""Fault injection on the real clients (pytest-mock): the Nth Firestore RPC, Pub/Sub publish,
Storage call or sandbox run of an armed stretch of code fails, the way the service would fail it.

A `Faults` counts the calls of each kind while armed; `fail(kind, n, error)` makes the nth
call of that kind raise `error` instead of reaching the service (nothing of it applied). The
same object first counts a happy path's calls (`armed()` with no failure set), so a test can
fail each of them in turn.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from google.api_core import exceptions as gexc
from pytest_mock import MockerFixture

from shared import store

# The Firestore RPCs a request or consumer makes (rollback is clean-up after a failure: left alone).
FIRESTORE_RPCS = (
    "batch_get_documents",
    "run_query",
    "run_aggregation_query",
    "begin_transaction",
    "commit",
    "batch_write",
)


def _google(error: type[gexc.GoogleAPICallError], message: str) -> Callable[[], Exception]:
    """A service error as the client library raises it."""
    return lambda: error(f"injected: {message}")


FIRESTORE_ERRORS: dict[str, Callable[[], Exception]] = {
    "UNAVAILABLE": _google(gexc.ServiceUnavailable, "Firestore unavailable"),
    "ABORTED": _google(gexc.Aborted, "transaction aborted"),
    "DEADLINE_EXCEEDED": _google(gexc.DeadlineExceeded, "deadline exceeded"),
}
OTHER_ERRORS: dict[str, Callable[[], Exception]] = {
    "pubsub": _google(gexc.ServiceUnavailable, "Pub/Sub unavailable"),
    "storage": _google(gexc.ServiceUnavailable, "Storage unavailable"),
    "sandbox": lambda: RuntimeError("injected: the sandbox child died"),
}

KINDS = ("firestore", "pubsub", "storage", "sandbox")


@dataclass
class Faults:
    mocker: MockerFixture
    calls: Counter[str] = field(default_factory=Counter)
    writes: list[int] = field(default_factory=list)  # which Firestore calls (1-based) wrote
    failing: tuple[str, int, Callable[[], Exception]] | None = None
    injected: list[str] = field(default_factory=list)
    _armed: bool = False

    def install(self) -> Faults:
        api = store.db()._firestore_api
        for name in FIRESTORE_RPCS:
            self._wrap(api, name, "firestore", write=name in ("commit", "batch_write"))
        from shared import events

        self._wrap(events, "_send", "pubsub")
        from google.cloud.storage import blob

        for name in ("upload_from_string", "upload_from_file", "delete", "download_as_bytes", "open"):
            self._wrap(blob.Blob, name, "storage")  # a plain function on the class: still a method
        from functions.exercises import judge

        self._wrap(judge, "run_tests", "sandbox")
        return self

    def _wrap(self, owner: Any, name: str, kind: str, *, write: bool = False) -> None:
        original = getattr(owner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._armed:
                self.calls[kind] += 1
                if write and kind == "firestore":
                    self.writes.append(self.calls[kind])
                if self.failing is not None and self.failing[:2] == (kind, self.calls[kind]):
                    error = self.failing[2]()
                    if name == "commit":
                        _server_side_rollback(owner, kwargs)
                    self.injected.append(f"{kind} #{self.calls[kind]} ({name}): {type(error).__name__}")
                    raise error
            return original(*args, **kwargs)

        self.mocker.patch.object(owner, name, new=call)

    def fail(self, kind: str, n: int, error: Callable[[], Exception]) -> None:
        self.failing = (kind, n, error)

    @contextlib.contextmanager
    def armed(self) -> Iterator[Faults]:
        """Count (and fail, once, the chosen call) inside the block only; the harness's own
        calls outside it are neither counted nor failed."""
        self._armed = True
        try:
            yield self
        finally:
            self._armed = False

    def reset(self) -> None:
        self.calls.clear()
        self.writes.clear()
        self.failing = None
        self.injected.clear()


def _server_side_rollback(api: Any, kwargs: dict[str, Any]) -> None:
    """A commit that fails on the server leaves no transaction holding locks there: end it as
    the server would (the emulator keeps a transaction's locks until it ends)."""
    request = kwargs.get("request") or {}
    transaction = request.get("transaction") if isinstance(request, dict) else None
    if transaction:
        with contextlib.suppress(gexc.GoogleAPICallError):
            api.rollback(request={"database": request["database"], "transaction": transaction})
