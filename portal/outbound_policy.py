"""Where an outbound call may go: the address policy behind ``portal.outbound``.

A portal's staff choose the issuer URL, and the provider's discovery document names every other
endpoint; without a policy the portal fetches whatever they point at, its own Redis and database
included (SSRF). So: https only (http only with ``SSO_ALLOW_INSECURE_HTTP``), no credentials in
the URL, and every address the host name resolves to must be public, unless it lies in a network
the operator listed in ``SSO_PROVIDER_ALLOWED_NETWORKS`` (on-premise HaloPSA lives in private
networks). The name is resolved once, here, and the transport connects to the address checked,
so a DNS answer that changes between check and connect (rebinding) cannot slip through.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# A name server that never answers must not hold a worker past the call's deadline; the lookup
# runs in this small pool and the caller stops waiting when its time is up.
_resolver = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="outbound-dns")

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class OutboundError(Exception):
    """An outbound call was refused by policy, could not be made, or answered unusably.

    ``reason`` is a stable code (``policy``, ``timeout``, ``unreachable``, ``response_too_large``,
    ``circuit_open``, ``busy``, ``bad_status``, ``not_json``, ``http_error``); ``message`` says it in
    words an admin can act on and never holds response bodies or headers.
    """

    def __init__(self, reason: str, message: str, status: int | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Target:
    """A checked URL: the host name to send (Host header, TLS SNI and certificate) and the
    addresses it resolved to, every one of them allowed; the transport dials ``addresses[0]``."""

    scheme: str
    hostname: str
    port: int
    addresses: tuple[str, ...]


def insecure_http_allowed() -> bool:
    return bool(getattr(settings, "SSO_ALLOW_INSECURE_HTTP", False))


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(net, strict=False) for net in settings.SSO_PROVIDER_ALLOWED_NETWORKS]


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address hidden in an IPv6 one (mapped, compatible, NAT64, 6to4, Teredo), if any:
    ``::ffff:127.0.0.1`` reaches loopback just as well as ``127.0.0.1``."""
    if address.version != 6:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    value = int(address)
    if address in _NAT64 or (value >> 32) == 0:  # NAT64, or deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return None


def address_category(address: Address) -> str:
    """Why an address is not public ("loopback", "private", ...), or "" when it is public."""
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    embedded = _embedded_ipv4(address)
    if embedded is not None and address_category(embedded):
        return address_category(embedded)
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.version == 4 and address in _CGNAT:
        return "shared (CGNAT)"
    if address.is_private:
        return "private"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return ""


def address_allowed(address: Address) -> tuple[bool, str]:
    """(allowed, category): public addresses, and any address inside an allowed network."""
    category = address_category(address)
    if not category:
        return True, ""
    embedded = _embedded_ipv4(address)
    for network in allowed_networks():
        if address in network or (embedded is not None and embedded in network):
            return True, category
    return False, category


_SPACE_OR_CONTROL = re.compile(r"[\x00-\x20\x7f]")  # what a URL may never hold unencoded


def check_scheme(url: str, *, what: str) -> tuple[str, str, int]:
    """(scheme, hostname, port) of an acceptable URL; OutboundError(reason="policy") otherwise."""
    if not isinstance(url, str) or not url:
        raise OutboundError("policy", f"{what} is empty.")
    if _SPACE_OR_CONTROL.search(url):
        raise OutboundError("policy", f"{what} contains spaces or control characters.")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    schemes = ("https", "http") if insecure_http_allowed() else ("https",)
    if scheme not in schemes:
        shown = url[:200]
        if scheme == "http":
            raise OutboundError(
                "policy",
                f"{what} ({shown}) uses plain http; provider calls use https only "
                "(http is allowed only with SSO_ALLOW_INSECURE_HTTP, for local tests).",
            )
        raise OutboundError("policy", f"{what} ({shown}) is not an https URL.")
    if parts.username is not None or parts.password is not None:
        raise OutboundError("policy", f"{what} must not carry a user name or password.")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise OutboundError("policy", f"{what} has an invalid port.") from exc
    if not parts.hostname:
        raise OutboundError("policy", f"{what} ({url[:200]}) has no host name.")
    return scheme, parts.hostname, port


def _resolve(hostname: str, port: int, *, timeout: float) -> list[str]:
    try:
        literal = ipaddress.ip_address(hostname)
    except ValueError:
        literal = None
    if literal is not None:
        return [str(literal)]
    future = _resolver.submit(socket.getaddrinfo, hostname, port, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=max(timeout, 0.01))
    except concurrent.futures.TimeoutError as exc:
        raise OutboundError(
            "timeout", f"Looking up the host name {hostname} (DNS) took longer than the time allowed."
        ) from exc
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise OutboundError(
            "unreachable", f"The host name {hostname} could not be found (DNS, getaddrinfo failed)."
        ) from exc
    addresses = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = sockaddr[0].split("%", 1)[0]  # drop an IPv6 zone index
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise OutboundError("unreachable", f"The host name {hostname} has no address (DNS).")
    return addresses


def check_url(url: str, *, what: str, resolve: bool = True, timeout: float | None = None) -> Target:
    """Check ``url`` against the outbound policy and resolve its host once.

    Raises ``OutboundError(reason="policy")`` naming the rule broken; with ``resolve=False`` only
    the scheme and shape are checked (e.g. endpoints in a cached discovery document).
    """
    scheme, hostname, port = check_scheme(url, what=what)
    if not resolve:
        return Target(scheme=scheme, hostname=hostname, port=port, addresses=())
    addresses = _resolve(hostname, port, timeout=timeout or settings.OUTBOUND_DEADLINE_SECONDS)
    for text in addresses:
        allowed, category = address_allowed(ipaddress.ip_address(text))
        if not allowed:
            via = "" if text == hostname else f" ({hostname} resolves to it)"
            raise OutboundError(
                "policy",
                f"{what} points at a {category} address {text}{via}; allow it with "
                "SSO_PROVIDER_ALLOWED_NETWORKS if this is your on-premise HaloPSA.",
            )
    return Target(scheme=scheme, hostname=hostname, port=port, addresses=tuple(addresses))
