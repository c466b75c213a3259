"""Request limits kept in Firestore: counters with an `expires_at` TTL, safe under concurrency.

A limit allows `max_hits` per fixed window of `window_seconds` for one key (an IP, an email).
The counter document `rate_limits/{name}:{sha256(key)}:{window}` takes an atomic increment
whose result the commit returns (1 write, no read per hit), so each concurrent request learns
its own place: exactly `max_hits` pass, none is lost, and nothing aborts on contention. The
key is hashed: no IP or email sits in a document id. Each counter carries `expires_at` (the
end of its window): Firestore's TTL policy deletes it.

On a route, `before=(per_ip("login", default=60, window_seconds=900),)` checks the caller's IP
after the body is validated and before the handler runs.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared import store
from shared.config import settings
from shared.errors import RateLimited
from shared.registry import expires
from shared.userdata import not_personal

# The key (a user id or an address) is in the document id only as a hash.
RATE_LIMITS = not_personal(expires("rate_limits"), "request counters per window, keyed by a hash")


@dataclass(frozen=True)
class Limit:
    name: str
    max_hits: int
    window_seconds: int


def counter_id(name: str, key: str, window_index: int) -> str:
    return f"{name}:{hashlib.sha256(key.encode()).hexdigest()[:40]}:{window_index}"


def hit(limit: Limit, key: str, now: datetime) -> int:
    """Count one request of `key` against `limit`; raise RateLimited (429, Retry-After until the
    window ends) when the window already holds `max_hits`. Returns the count including this one.

    An atomic server-side increment whose new value comes back in the commit's transform
    results: no transaction, so a burst from one address (a school behind one NAT) never aborts
    on contention, and exactly the first `max_hits` pass. 1 write, no read."""
    index = int(now.timestamp()) // limit.window_seconds
    window_end = datetime.fromtimestamp((index + 1) * limit.window_seconds, tz=UTC)
    ref = store.db().collection(RATE_LIMITS).document(counter_id(limit.name, key, index))
    written = ref.set({"name": limit.name, "hits": store.Increment(1), "expires_at": window_end}, merge=True)
    # The commit answers the incremented value itself: each request learns its own place.
    hits = int(written.transform_results[0].integer_value)
    if hits > limit.max_hits:
        raise RateLimited(math.ceil((window_end - now).total_seconds()))
    return hits


def per_ip(name: str, *, default: int, window_seconds: int) -> Callable[[Any], None]:
    """A `before=` hook for an HttpFunction method: at most `ip_limit_<name>` (setting, else
    `default`) requests per IP per window."""

    def check(call: Any) -> None:
        max_hits = settings().ip_limit(name, default)
        if max_hits is None:
            return
        hit(Limit(name=f"ip-{name}", max_hits=max_hits, window_seconds=window_seconds), call.ip, call.now)

    check.__name__ = f"per_ip_{name}"
    return check
