"""Which links may be stored and shown: absolute http(s) URLs only, checked when a feed is read
and again when anything renders one (an `href`, a `src`, a URL in a plain-text part).

A link is stored as the feed gave it, non-ASCII characters and all (an IRI: Joomla writes item
aliases with typographic apostrophes); it is written out as a URI (`rendered_url`), since mail
clients cut a link at the first character they do not expect.

Anything else (`javascript:`, `data:`, `vbscript:`, a scheme hidden behind blanks, tabs or
mixed case, a link that stays relative) is dropped: an item keeps no link rather than a bad one.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
import idna

SCHEMES = ("http", "https")
# Browsers drop tabs and line breaks inside a URL (so "java\tscript:" is "javascript:"); we do
# the same before judging the scheme. Any other control character makes the link unusable.
_IGNORED_BY_BROWSERS = re.compile(r"[\t\n\r]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Characters never valid unencoded in a URL's path, query or fragment. `[` and `]` are among
# them, and encoding them means no stored link can carry a reader placeholder ("[%...%]").
_UNSAFE_CHARACTERS = {c: f"%{ord(c):02X}" for c in ' "<>[]`{}|\\^'}


def http_url(value: str | None, base: str | None = None) -> str | None:
    """`value` as an absolute http(s) URL (resolved against `base` when relative), or None."""
    if not value:
        return None
    value = _IGNORED_BY_BROWSERS.sub("", value.strip(" \x0c\x0b\x00"))
    if not value:
        return None
    try:
        url = urljoin(base, value) if base else value
        if _CONTROL.search(url):  # in the link, or in the base it was resolved against
            return None
        parts = urlsplit(url)
        if parts.scheme.lower() not in SCHEMES or not parts.hostname:
            return None
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:  # "Invalid IPv6 URL", a bad port
        return None
    if any(c in _without_ip_literal(parts.netloc) for c in ' "<>`{}|\\^%[]'):
        return None
    path, query, fragment = (_encode(part) for part in (parts.path, parts.query, parts.fragment))
    return urlunsplit((parts.scheme.lower(), parts.netloc, path, query, fragment))


def request_problem(url: str) -> str | None:
    """Why the poller's HTTP client cannot request `url`, or None when it can. httpx refuses
    what browsers still read (an octal or zero-padded IPv4 address such as 0177.0.0.1, a name
    IDNA cannot encode, a control character); a host with a space or '%' in it cannot resolve,
    and a port past 65535 would wrap round to another."""
    try:
        parsed = httpx.URL(url)
        parsed.host  # noqa: B018 - decodes an 'xn--' name as the request does: a malformed one fails
    except httpx.InvalidURL as exc:
        return str(exc)
    except UnicodeError as exc:  # idna's errors
        return f"invalid IDNA host name: {exc}"
    if parsed.scheme not in SCHEMES or not parsed.raw_host:
        return "not an http(s) URL with a host"
    if b"%" in parsed.raw_host and b":" not in parsed.raw_host:  # an IPv6 literal may name a zone
        # httpx percent-encodes a space or '<' in a host name, which then never resolves.
        return f"host {parsed.host!r} has characters no host name can have"
    if parsed.port is not None and not 0 < parsed.port < 65536:
        return f"port {parsed.port} is not between 1 and 65535"
    return None


def _encode(part: str) -> str:
    return "".join(_UNSAFE_CHARACTERS.get(c, c) for c in part)


def _without_ip_literal(netloc: str) -> str:
    """The netloc without its IPv6 literal host ('[::1]'), the one place brackets belong."""
    userinfo, at, host = netloc.rpartition("@")
    return userinfo + at + re.sub(r"^\[[0-9A-Fa-f:.]+\]", "", host)


def rendered_url(value: str | None) -> str:
    """The one way a link from outside is written (every template's `http_url` filter, the
    edition's click-tracked links, the checklist's link check): the URL as a URI, or '' (then
    the template shows no link)."""
    url = http_url(value)
    return (as_uri(url) or "") if url else ""


def as_uri(url: str) -> str | None:
    """An absolute http(s) IRI mapped to a URI as RFC 3987 (3.1) does: each non-ASCII character
    of the path, query and fragment as its UTF-8 bytes in %XX, everything else kept (existing %XX
    escapes, reserved characters), and a non-ASCII host name in IDNA ('xn--'). None for a host
    name IDNA cannot encode, or non-ASCII user information: no link rather than a broken one."""
    if url.isascii():
        return url
    parts = urlsplit(url)
    userinfo, at, host_port = parts.netloc.rpartition("@")
    if not userinfo.isascii():
        return None  # its %XX form would be a '%' in the netloc, which no link here may have
    host, colon, port = host_port.rpartition(":") if not host_port.endswith("]") else (host_port, "", "")
    if not colon or not port.isdigit():
        host, colon, port = host_port, "", ""
    if not host.isascii():
        encoded = _idna(host.rstrip("."))
        if encoded is None:
            return None
        host = encoded + ("." if host.endswith(".") else "")  # a trailing dot (the root) kept
    netloc = userinfo + at + host + colon + port
    path, query, fragment = (_percent_encoded(part) for part in (parts.path, parts.query, parts.fragment))
    return urlunsplit((parts.scheme, netloc, path, query, fragment))


def _idna(host: str) -> str | None:
    """IDNA 2008 as browsers map it (UTS 46); a name it refuses that IDNA 2003 encodes as written
    (an emoji, which browsers still accept) in IDNA 2003; None otherwise: never a name IDNA 2003
    changed on the way (it drops a zero-width joiner, making another host of it)."""
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        pass
    try:
        encoded = host.encode("idna")
        return encoded.decode("ascii") if encoded.decode("idna") == host.lower() else None
    except UnicodeError:
        return None


def _percent_encoded(part: str) -> str:
    # "surrogatepass": a lone surrogate (never valid text) still becomes bytes, not an error.
    return "".join(c if c.isascii() else "".join(f"%{byte:02X}" for byte in c.encode("utf-8", "surrogatepass"))
                   for c in part)
