"""The client's IP address, taking `X-Forwarded-For` only from proxies we trust.

Login throttling and the REST rate limit count per client IP. `X-Forwarded-For` is a header
any client can send, so believing it from anyone hands every attacker a fresh IP per request.
It is honoured only when the TCP peer is one of `HUB_TRUSTED_PROXIES` (addresses or CIDR
networks; default none; `make run` trusts loopback). Then the header is read from the right,
skipping our own proxies, and the first address they did not add is the client. The
rewritten `scope["client"]` is what every later layer sees (`request.client.host`).

uvicorn must not rewrite the client itself: the app is served with `--no-proxy-headers`
(uvicorn otherwise trusts `X-Forwarded-For` from 127.0.0.1 by default, and from everyone
with `--forwarded-allow-ips='*'`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable

from litestar.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """`HUB_TRUSTED_PROXIES` entries as networks (a bare address is a /32 or /128)."""
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip().strip('"')
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, nets: tuple[Network, ...]
) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in nets)


def client_from(peer: str, forwarded_for: list[str], nets: tuple[Network, ...]) -> str:
    """The client's address: the peer, unless the peer is a trusted proxy, then the rightmost
    `X-Forwarded-For` hop that is not one of ours (a malformed hop ends the walk there)."""
    address = _address(peer)
    if address is None or not nets or not _trusted(address, nets):
        return peer
    hops = [h for header in forwarded_for for h in header.split(",") if h.strip()]
    client = peer
    for hop in reversed(hops):
        hop_address = _address(hop)
        if hop_address is None:
            break
        client = str(hop_address)
        if not _trusted(hop_address, nets):
            break
    return client


def trusted_proxies_middleware_factory(trusted: Iterable[str]) -> Callable[[ASGIApp], ASGIApp]:
    nets = parse_networks(trusted)

    def trusted_proxies_middleware(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            client = scope.get("client")
            if nets and client and scope["type"] in ("http", "websocket"):
                forwarded = [
                    v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"
                ]
                if forwarded:
                    host = client_from(client[0], forwarded, nets)
                    if host != client[0]:
                        scope["client"] = (host, 0)
            await app(scope, receive, send)

        return middleware

    return trusted_proxies_middleware
