"""The address the per-IP limits count cannot be chosen by the client, on either deployed path:
through Firebase Hosting (Hosting appends the client, Google's front end then the Hosting
address it saw) and straight to the function's own URL (the front end appends the caller)."""

from __future__ import annotations

import pytest

from shared import store
from shared.client_address import client_address
from shared.config import settings
from tests.support import PASSWORD, Api, fields

HOSTING = "35.191.0.0/16,130.211.0.0/22"  # the build's default _TRUSTED_PROXIES
HOSTING_EGRESS = "35.191.7.9"
CLIENT = "198.51.100.20"


@pytest.mark.parametrize(
    ("forwarded_for", "expected"),
    [
        # Through Hosting: <what the client sent...>, <client>, <Hosting, appended by the front end>.
        (f"{CLIENT}, {HOSTING_EGRESS}", CLIENT),
        (f"10.0.0.1, 35.191.1.1, {CLIENT}, {HOSTING_EGRESS}", CLIENT),
        # Straight to the function: <what the client sent...>, <client, appended by the front end>.
        (CLIENT, CLIENT),
        (f"10.0.0.1, {CLIENT}", CLIENT),
        # A forged Hosting-looking entry is only ever left of the front end's own.
        (f"10.0.0.1, {HOSTING_EGRESS}, {CLIENT}", CLIENT),
    ],
)
def test_client_address_on_both_paths(forwarded_for: str, expected: str) -> None:
    assert client_address(forwarded_for, "169.254.1.1", hops=2, trusted_proxies=HOSTING) == expected


def test_without_proxies_the_peer_is_the_client() -> None:
    assert client_address(f"10.0.0.1, {CLIENT}", "192.0.2.10", hops=0, trusted_proxies=HOSTING) == "192.0.2.10"
    assert client_address("", "192.0.2.10", hops=2, trusted_proxies=HOSTING) == "192.0.2.10"


@pytest.mark.parametrize(
    "path_header",
    [
        pytest.param(lambda i: f"10.0.0.{i}, {CLIENT}", id="direct-to-function"),
        pytest.param(lambda i: f"10.0.0.{i}, {CLIENT}, {HOSTING_EGRESS}", id="through-hosting"),
    ],
)
def test_a_forged_forwarded_for_does_not_escape_the_login_limit(
    api: Api, monkeypatch: pytest.MonkeyPatch, path_header: object
) -> None:
    """The deployed settings (2 hops, Hosting's networks trusted): however the client varies what
    it sends, its logins are counted against its own address, and its sessions show that address."""
    api.register("forger@example.com")
    monkeypatch.setattr(settings(), "ip_limit_login", 2)
    monkeypatch.setattr(settings(), "trusted_proxy_hops", 2)
    monkeypatch.setattr(settings(), "trusted_proxies", HOSTING)
    header = path_header  # a callable: attempt number -> the X-Forwarded-For the function receives
    assert callable(header)
    credentials = {"email": "forger@example.com", "password": PASSWORD}
    statuses = [
        api.post("/api/v1/auth/login", credentials, headers={"X-Forwarded-For": header(i)}).status_code
        for i in range(3)
    ]
    assert statuses == [200, 200, 429]
    ips = [fields(d).get("ip") for d in store.db().collection("sessions").stream()]
    assert ips.count(CLIENT) == 2 and not any(str(ip).startswith(("10.0.0.", "35.191.")) for ip in ips)
