"""The caller's address, which the caller cannot choose: what the per-IP limits, the sessions and
the audit trail record (docs/deploy.md, "Client address")."""

from __future__ import annotations

import functools
import ipaddress


@functools.cache
def _networks(cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs.split(",") if c.strip())


def _in_networks(entry: str, cidrs: str) -> bool:
    try:
        address = ipaddress.ip_address(entry)
    except ValueError:
        return False
    return any(address in network for network in _networks(cidrs))


def client_address(forwarded_for: str, peer: str | None, hops: int, trusted_proxies: str) -> str:
    """The caller's address, which the caller cannot choose (docs/deploy.md, client address).

    X-Forwarded-For says whatever the client sent, then what each proxy appended. With `hops`
    = 0 no proxy is in front: the header is ignored and the peer is the client. Otherwise the
    rightmost entry was appended by the outermost proxy (Google's front end, deployed): the
    address it saw. While that entry is one of our inner proxies (`trusted_proxies`: Firebase
    Hosting's networks) and hops remain, the entry left of it is what that proxy saw. So a call
    straight to the function's URL is its caller's own address whatever it forged, and a call
    through Hosting is the address Hosting saw."""
    entries = [e.strip() for e in forwarded_for.split(",") if e.strip()]
    if hops <= 0 or not entries:
        return (peer or "unknown")[:64]
    position = len(entries) - 1
    for _ in range(hops - 1):
        if position == 0 or not _in_networks(entries[position], trusted_proxies):
            break
        position -= 1
    return entries[position][:64]
