"""Which address a request comes from, for rate limits and logs.

Behind a load balancer or ingress every request's peer is the proxy, so limits keyed
on the peer would throttle everyone together. ``X-Forwarded-For`` is believed only
when the peer is one of the configured trusted proxies, and then only as far as the
hops those proxies appended: walking from the right, the first address that is not
a trusted proxy is the client (anything left of it is the client's own say).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from shared.settings import Network

# A header longer than this is not from a proxy chain anyone runs.
_MAX_HOPS = 32


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.7:51234"
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    parsed = _address(address)
    return parsed is not None and any(parsed in net for net in trusted)


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    if not peer:
        return "unknown"
    if not trusted or not forwarded_for or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",")][-_MAX_HOPS:]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            parsed = _address(hop)
            # Garbage where an address should be: key on the proxy that sent it.
            return str(parsed) if parsed is not None else peer
    # Every hop is a proxy of ours: the leftmost is as far as anyone can tell.
    first = _address(hops[0]) if hops else None
    return str(first) if first is not None else peer
