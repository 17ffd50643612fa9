"""A DNS server on loopback answering from records a test sets (dnslib), for `digest doctor`'s
DNS checks: names it holds nothing for answer NXDOMAIN, as a real authoritative server would."""

from __future__ import annotations

from dnslib import QTYPE, RCODE, RR
from dnslib.server import BaseResolver, DNSServer


class Zone(BaseResolver):
    def __init__(self):
        self.records: list[RR] = []

    def set(self, zone: str) -> None:
        """Replace every record with those of `zone` (zone-file lines: `name. 300 IN TXT "..."`)."""
        self.records = RR.fromZone(zone)

    def add(self, zone: str) -> None:
        self.records += RR.fromZone(zone)

    def drop(self, name: str, kind: str) -> None:
        self.records = [rr for rr in self.records if not (rr.rname == name and QTYPE[rr.rtype] == kind)]

    def resolve(self, request, handler):
        reply = request.reply()
        asked, kind = request.q.qname, QTYPE[request.q.qtype]
        named = [rr for rr in self.records if rr.rname == asked]
        for rr in named:
            if QTYPE[rr.rtype] == kind:
                reply.add_answer(rr)
        if not named:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class _Silent:
    """dnslib's logger, saying nothing (it prints every request and reply otherwise)."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


class DNSServerOnLoopback:
    """`with DNSServerOnLoopback() as dns:` then `dns.zone.set(...)`; `dns.address` is the
    "127.0.0.1:port" DOCTOR_DNS_SERVER takes."""

    def __init__(self):
        self.zone = Zone()
        self.server = DNSServer(self.zone, address="127.0.0.1", port=0, logger=_Silent())

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server.server_address[1]}"

    def __enter__(self) -> "DNSServerOnLoopback":
        self.server.start_thread()
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()
        self.server.server.server_close()
