"""Which network addresses the poller may connect to: public ones only, unless
FEED_ALLOW_PRIVATE_ADDRESSES is set (a development machine whose sample feed is on loopback).

A feed URL comes from an editor, a redirect or an article link from a feed: anyone's. Without
this guard the poller would fetch loopback, private, link-local and cloud metadata addresses
for them (and report what it found on the feed's row). The check happens where the socket is
opened: the host is resolved once, every address it resolves to is judged, and the connection
goes to an address that was judged, so a DNS answer that changes in between (rebinding)
cannot slip a private address past it. TLS still verifies (and SNI still names) the host.

It is also where a request's deadline holds: every socket operation (connect, TLS handshake,
each read and write) waits at most until the deadline set around the request (`until`), so a
server dripping its answer a byte at a time cannot restart the clock with each byte.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import socket
import ssl
import time
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpcore

from digest.config import get_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# NAT64's well-known prefix carries an IPv4 address in its last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Python 3.11 calls these global; none is a public unicast address.
_NOT_PUBLIC_V4 = [ipaddress.ip_network(n) for n in ("100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15")]


# The moment (time.monotonic) by which the request under way must be over; None: no deadline.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("request_deadline", default=None)


class RefusedAddress(Exception):
    """The URL's host is, or resolves to, an address the poller may not connect to."""


@dataclass(frozen=True)
class AddressPolicy:
    allow_private: bool = False
    # Tests only, passed explicitly (never from a setting): loopback ports that stand for public
    # servers, so a test can play "a public host that redirects to a private one".
    public_test_ports: frozenset[int] = field(default_factory=frozenset)

    def refusal(self, address: IPAddress, port: int) -> str | None:
        """Why the poller may not connect to `address`:`port`, or None when it may."""
        if self.allow_private:
            return None
        kind = non_public_kind(address)
        if kind is None or (address.is_loopback and port in self.public_test_ports):
            return None
        article = "an" if kind[0] in "aeiou" else "a"
        return f"{article} {kind} address, not a public one"


def address_policy() -> AddressPolicy:
    return AddressPolicy(allow_private=get_settings().FEED_ALLOW_PRIVATE_ADDRESSES)


def non_public_kind(address: IPAddress) -> str | None:
    """What kind of non-public address this is (loopback, private, ...), or None if public."""
    address = _embedded_ipv4(address) or address
    for kind, test in (("loopback", address.is_loopback), ("unspecified", address.is_unspecified),
                       ("link-local (metadata)", address.is_link_local), ("multicast", address.is_multicast),
                       ("private", address.is_private), ("reserved", address.is_reserved)):
        if test:
            return kind
    if address.version == 4 and any(address in net for net in _NOT_PUBLIC_V4):
        return "shared (carrier-grade NAT) or special-purpose"
    if not address.is_global:
        return "special-purpose"
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, 6to4, Teredo or NAT64 IPv6 address."""
    if address.version != 6:
        return None
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def resolve_allowed(host: str, port: int, policy: AddressPolicy) -> list[str]:
    """Every address `host` resolves to, when each of them is allowed; RefusedAddress when any
    is not (a name that answers with one public and one private address is refused)."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OSError(f"{host} does not resolve: {exc}") from exc
    addresses: list[str] = []
    for family, _, _, _, sockaddr in answers:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])
        reason = policy.refusal(address, port)
        if reason:
            how = "is" if host.strip("[]") == str(address) else f"resolves to {address},"
            raise RefusedAddress(f"host {host} {how} {reason}")
        if str(address) not in addresses:
            addresses.append(str(address))
    if not addresses:
        raise OSError(f"{host} has no IPv4 or IPv6 address")
    return addresses


def refuse_private_url(url: str, policy: AddressPolicy | None = None) -> None:
    """RefusedAddress when `url`'s host is, or resolves to, a non-public address. A name that
    does not resolve (yet) passes: the poll checks again, on every connection."""
    policy = policy or address_policy()
    if policy.allow_private:
        return
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        resolve_allowed(parts.hostname or "", port, policy)
    except OSError:  # does not resolve (RefusedAddress is not an OSError: it goes up)
        return


@contextlib.contextmanager
def until(moment: float) -> Iterator[float]:
    """Every connection made and every byte read or written in this block (in this thread or
    context) is done by `moment` (time.monotonic), or by an enclosing block's earlier one."""
    outer = _deadline.get()
    moment = moment if outer is None else min(moment, outer)
    token = _deadline.set(moment)
    try:
        yield moment
    finally:
        _deadline.reset(token)


def within(seconds: float) -> contextlib.AbstractContextManager[float]:
    """`until` `seconds` from now."""
    return until(time.monotonic() + seconds)


def seconds_left() -> float | None:
    """What is left of the deadline in force (0 when it has passed), or None without one."""
    moment = _deadline.get()
    return None if moment is None else max(0.0, moment - time.monotonic())


def _clamped(timeout: float | None, expired: type[Exception]) -> float | None:
    """`timeout` shortened to the deadline in force; `expired` raised once it has passed."""
    left = seconds_left()
    if left is None:
        return timeout
    if left <= 0:
        raise expired("the request's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every operation waits no longer than the deadline in force
    (read when the operation starts: a pooled connection serves the request using it now)."""

    def __init__(self, stream: httpcore.NetworkStream):
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _clamped(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _clamped(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        # The handshake as a whole is one socket operation under this limit.
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname,
                                                      _clamped(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._stream.get_extra_info(info)


class CheckedBackend(httpcore.NetworkBackend):
    """httpcore's own socket backend, reached only through the policy: the host is resolved
    here and the socket opened to a judged address (TLS and Host header keep the name). Its
    streams keep the deadline in force."""

    def __init__(self, policy: AddressPolicy):
        self.policy = policy
        self._sockets = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: typing.Iterable | None = None) -> httpcore.NetworkStream:
        try:
            addresses = resolve_allowed(host, port, self.policy)  # RefusedAddress goes up as is
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = self._sockets.connect_tcp(address, port, local_address=local_address,
                                                   timeout=_clamped(timeout, httpcore.ConnectTimeout),
                                                   socket_options=socket_options)
                return _DeadlineStream(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: typing.Iterable | None = None) -> httpcore.NetworkStream:
        raise RefusedAddress(f"unix socket {path} is refused: only TCP to public addresses")

    def sleep(self, seconds: float) -> None:
        self._sockets.sleep(seconds)
