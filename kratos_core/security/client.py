"""Which client address a request counts for (``security.trusted_proxies``).

The peer address of the TCP connection is the client, unless that peer is a trusted reverse
proxy: then ``X-Forwarded-For`` is read from the right, skipping trusted proxies, and the first
address that is not one of them is the client. With no trusted proxies (the default) the header
is ignored, so a client cannot choose the address it is counted under.

IPv6 clients count by their /64 network: one subscriber usually holds a whole /64, so counting
single addresses would give an attacker 2^64 fresh budgets.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

__all__ = ["ClientAddressResolver", "parse_networks"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> tuple[_Network, ...]:
    """``security.trusted_proxies`` entries (addresses or CIDR networks) as networks.

    Raises:
        ValueError: An entry is neither an address nor a network (the message names it).
    """
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"security.trusted_proxies: {entry!r} is not an IP address or network") from None
    return tuple(networks)


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.7:443"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _bucket(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class ClientAddressResolver:
    """Turns a request into the client address that throttling (and audit) count.

    Args:
        trusted_proxies: Networks whose ``X-Forwarded-For`` is believed.
    """

    def __init__(self, trusted_proxies: Iterable[str] = ()) -> None:
        self.trusted = parse_networks(trusted_proxies)

    def _is_trusted(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in network for network in self.trusted)

    def __call__(self, request: Any) -> str:
        """The client address of ``request`` (an IPv4 address, an IPv6 /64, or the raw peer name)."""
        client = getattr(request, "client", None)
        peer_text = getattr(client, "host", None) or ""
        peer = _parse(peer_text)
        if peer is None:
            return peer_text or "unknown"  # unix sockets, test transports
        if not self.trusted or not self._is_trusted(peer):
            return _bucket(peer)
        forwarded = ",".join(request.headers.getall("x-forwarded-for", [])) if hasattr(request.headers, "getall") else (
            request.headers.get("x-forwarded-for") or ""
        )
        hops = [hop for hop in (part.strip() for part in forwarded.split(",")) if hop]
        client_address = peer
        for hop in reversed(hops):
            parsed = _parse(hop)
            if parsed is None:
                break  # a garbled hop: stop at the last address a trusted proxy vouched for
            client_address = parsed
            if not self._is_trusted(parsed):
                break
        return _bucket(client_address)
