"""The stable key of a feed entry, so re-polling finds the article it stored before."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

# Parameters that say who sent the reader, not what the page is.
_TRACKING = re.compile(r"^(utm_.*|fbclid|gclid|dclid|msclkid|yclid|mc_cid|mc_eid|_ga|_gl|igshid|"
                       r"ref_src|oly_anon_id|oly_enc_id|vero_id|wt\.mc_id)$", re.I)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# A Joomla K2 item: /<section path>/item/<numeric id>-<alias>.html; the id alone names it (a
# database id: never thousands of digits, which int() would refuse).
_K2_ITEM_PATH = re.compile(r"(?:^|/)item/(\d{1,18})(?:-[^/]*)?(?:\.html)?$", re.I)
# The length of the column keeping a key (articles.entry_key).
MAX_KEY = 500


def canonical_url(url: str) -> str:
    """Scheme and host lowercased, trailing dot and default port dropped, tracking parameters
    and fragment removed; the path and the other parameters are kept as they are."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: keep the URL recognisable, not crash
        port = None
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not _TRACKING.match(k)])
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def k2_item_key(url: str) -> str | None:
    """'k2:<site>:<id>' for a K2 item URL, the same under http or https, any alias, with or
    without www. or a trailing dot; None for any other URL."""
    parts = _split(url.strip())
    if parts is None or parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        return None
    match = _K2_ITEM_PATH.search(parts.path)
    if not match:
        return None
    site = parts.hostname.rstrip(".").removeprefix("www.")
    key = f"k2:{site}:{int(match.group(1))}"
    # A host too long for the column is hashed whole: cut short, the item's id would be lost.
    return key if len(key) <= MAX_KEY else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def entry_key(guid: str | None, link: str | None, title: str, published: dt.datetime | None) -> str:
    """K2 item id, else guid, else canonical link, else a hash of title and date; never longer
    than MAX_KEY, never with a NUL (which PostgreSQL cannot store)."""
    guid, link = (guid or "").replace("\0", "").strip(), (link or "").strip()
    for candidate in (guid, link):
        if candidate and (key := k2_item_key(candidate)):
            return key
    if guid:
        # A permalink guid is a URL like any link; an opaque guid is kept as the feed wrote it.
        return canonical_url(guid)[:MAX_KEY] if _is_http_url(guid) else guid[:MAX_KEY]
    if link and _is_http_url(link):
        return canonical_url(link)[:MAX_KEY]
    stamp = published.isoformat() if published else ""
    return "sha256:" + hashlib.sha256(f"{title}\0{stamp}".encode()).hexdigest()


def _is_http_url(value: str) -> bool:
    parts = _split(value)
    return parts is not None and parts.scheme.lower() in _DEFAULT_PORTS and bool(parts.hostname)


def _split(value: str) -> SplitResult | None:
    """`value`'s parts, or None when it is no URL at all ("http://[::1": an opaque guid)."""
    try:
        return urlsplit(value)
    except ValueError:
        return None
