"""Failed logins: counted per email (account or not), and the growing wait they impose."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared import store
from shared.auth import (
    hash_token,
)
from shared.config import settings
from shared.registry import expires

LOGIN_FAILURES = expires("login_failures")
FAILURES_FORGOTTEN_AFTER = timedelta(days=1)


def failures_ref(email: str) -> Any:
    # Keyed by the email's hash, account or not: a lockout tells nothing about existence.
    return store.db().collection(LOGIN_FAILURES).document(hash_token("login:" + email))


def locked_for(failures: dict[str, Any] | None, now: datetime) -> int:
    """Seconds the login still has to wait, 0 when it may try."""
    locked_until = (failures or {}).get("locked_until")
    if locked_until is None or locked_until <= now:
        return 0
    return max(1, int((locked_until - now).total_seconds() + 0.999))


def record_failure(email: str, now: datetime) -> int:
    """Count a failed login. From the `lockout_threshold`-th failure in a row the login waits
    `lockout_base_seconds`, doubling with every further failure up to `lockout_max_seconds`.
    Returns the wait now imposed (0: none).

    An atomic increment whose new value the commit returns (1 write; +1 when it locks):
    concurrent failures are all counted, each learns its own count, and none aborts on
    contention, the way a transaction would under a burst."""
    cfg = settings()
    ref = failures_ref(email)
    written = ref.set(
        {"failures": store.Increment(1), "last_failure_at": now, "expires_at": now + FAILURES_FORGOTTEN_AFTER},
        merge=True,
    )
    failures = int(written.transform_results[0].integer_value)
    if failures < cfg.lockout_threshold:
        return 0
    wait = int(min(cfg.lockout_max_seconds, cfg.lockout_base_seconds * 2 ** (failures - cfg.lockout_threshold)))
    locked_until = now + timedelta(seconds=wait)
    ref.update({"locked_until": locked_until, "expires_at": max(now + FAILURES_FORGOTTEN_AFTER, locked_until)})
    return wait
