"""DNS for the sender's domain, as mailbox providers read it: one SPF record that does not allow
everyone, the CNAMEs SendGrid asks for (return path and DKIM keys) pointing where it says, a
DMARC record and its policy, and somewhere for the List-Unsubscribe mailto to land."""

from __future__ import annotations

import dns.exception
import dns.resolver

from digest.config import Settings, dns_server_address
from digest.doctor.model import Check, hurts, is_production, ok

LIFETIME_SECONDS = 5.0  # per question, every try and server included


class Unresolved(Exception):
    """The DNS server did not answer the question."""


def resolver_for(settings: Settings) -> dns.resolver.Resolver:
    if not settings.DOCTOR_DNS_SERVER:
        resolver = dns.resolver.Resolver()
    else:
        address, port = dns_server_address(settings.DOCTOR_DNS_SERVER)
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers, resolver.port = [address], port
    resolver.lifetime, resolver.timeout = LIFETIME_SECONDS, 2.0
    return resolver


def lookup(resolver: dns.resolver.Resolver, name: str, kind: str) -> list[str]:
    """The records of `kind` at `name` as text (TXT strings joined), none when there are none."""
    try:
        answer = resolver.resolve(name, kind, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
        raise Unresolved(f"no answer for {kind} {name}: {type(exc).__name__}") from None
    if kind == "TXT":
        return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]
    return [rdata.to_text().rstrip(".").lower() for rdata in answer]


def spf(resolver, domain: str, settings: Settings) -> Check:
    records = [txt for txt in lookup(resolver, domain, "TXT") if txt.lower().startswith("v=spf1")]
    if not records:
        return Check("dns_spf", hurts(settings), f"{domain} has no SPF record: anyone's server may claim to send "
                     "its mail", f"publish TXT {domain} \"v=spf1 include:sendgrid.net ~all\" (with your other senders)")
    if len(records) > 1:
        return Check("dns_spf", "error", f"{domain} has {len(records)} SPF records: receivers treat that as no "
                     "valid SPF at all (permerror)", "merge them into one v=spf1 record")
    terms = records[0].lower().split()
    if "+all" in terms or "all" in terms:
        return Check("dns_spf", "error", f"{domain}'s SPF record ends in +all: it allows every server on the internet",
                     "end it with ~all or -all")
    return ok("dns_spf", f"{domain} has one SPF record: {records[0][:200]}")


def dkim(resolver, domain: str, cnames: dict[str, str]) -> Check:
    if not cnames:
        return Check("dns_dkim", "warning", f"the DKIM and return-path records SendGrid asks {domain} to publish "
                     "are unknown (no authenticated domain read from SendGrid): not checked",
                     "authenticate the domain in SendGrid; the doctor then checks each record")
    wrong = []
    for host, target in sorted(cnames.items()):
        found = lookup(resolver, host, "CNAME")
        if found != [target.rstrip(".")]:
            wrong.append(f"{host} -> {', '.join(found) or 'nothing'} (SendGrid asks for {target})")
    if wrong:
        return Check("dns_dkim", "error", "CNAMEs SendGrid asks for are missing or wrong: " + "; ".join(wrong),
                     "publish each CNAME as SendGrid lists it (Settings > Sender Authentication), then Verify")
    return ok("dns_dkim", f"the {len(cnames)} CNAMEs SendGrid asks for (return path, DKIM keys) point where it says")


def _dmarc_record(resolver, domain: str) -> tuple[str, list[str]]:
    """The DMARC records that govern `domain`: its own, else its organizational domain's."""
    labels = domain.split(".")
    for start in range(0, max(1, len(labels) - 1)):
        name = "_dmarc." + ".".join(labels[start:])
        records = [txt for txt in lookup(resolver, name, "TXT") if txt.replace(" ", "").upper().startswith("V=DMARC1")]
        if records:
            return name, records
    return "_dmarc." + domain, []


def dmarc(resolver, domain: str, settings: Settings) -> Check:
    name, records = _dmarc_record(resolver, domain)
    if not records:
        return Check("dns_dmarc", hurts(settings), f"{domain} has no DMARC record: Gmail and Yahoo refuse bulk mail "
                     "from a domain without one", f"publish TXT _dmarc.{domain} \"v=DMARC1; p=none; "
                     f"rua=mailto:dmarc@{domain}\", then tighten to p=quarantine once reports are clean")
    if len(records) > 1:
        return Check("dns_dmarc", "error", f"{name} has {len(records)} DMARC records: receivers ignore them all",
                     "keep one")
    tags = dict(part.strip().partition("=")[::2] for part in records[0].split(";") if "=" in part)
    tags = {key.strip().lower(): value.strip().lower() for key, value in tags.items()}
    policy = tags.get("sp", tags.get("p")) if name != "_dmarc." + domain else tags.get("p")
    if policy in ("quarantine", "reject"):
        return ok("dns_dmarc", f"{name}: policy {policy}")
    if policy == "none":
        return Check("dns_dmarc", "warning", f"{name}: policy none: mail forged in {domain}'s name is still "
                     "delivered (enough for Gmail's and Yahoo's sender rules)",
                     "once the aggregate reports show only your own mail passing, set p=quarantine")
    return Check("dns_dmarc", "error", f"{name} has no valid policy (p={policy}): receivers ignore it",
                 "set p=none, p=quarantine or p=reject")


def unsubscribe_mailbox(resolver, settings: Settings) -> Check:
    address = settings.unsubscribe_mailto
    domain = address.rpartition("@")[2].lower()
    if lookup(resolver, domain, "MX") or lookup(resolver, domain, "A") or lookup(resolver, domain, "AAAA"):
        return ok("dns_unsubscribe", f"{domain} accepts mail (List-Unsubscribe: mailto:{address})")
    return Check("dns_unsubscribe", hurts(settings), f"{domain} has no MX or address record: a reader's "
                 f"unsubscribe email to {address} bounces", "publish an MX record for it, or set UNSUBSCRIBE_MAILTO "
                 "to a mailbox that is read")


def checks(settings: Settings, cnames: dict[str, str]) -> list[Check]:
    if not settings.DOCTOR_DNS_SERVER and not is_production(settings):
        return []  # a development machine's sender domain is nobody's: nothing to ask the internet
    resolver = resolver_for(settings)
    domain = str(settings.FROM_EMAIL).rpartition("@")[2].lower()
    found, silent = [], None
    for name, check in (("dns_spf", lambda: spf(resolver, domain, settings)),
                        ("dns_dkim", lambda: dkim(resolver, domain, cnames)),
                        ("dns_dmarc", lambda: dmarc(resolver, domain, settings)),
                        ("dns_unsubscribe", lambda: unsubscribe_mailbox(resolver, settings))):
        try:
            if silent is None:  # a server silent once is not asked again: one wait, not four
                found.append(check())
                continue
        except Unresolved as exc:
            silent = str(exc)
        found.append(Check(name, "error", f"DNS did not answer: {silent}",
                           "check the resolver (or DOCTOR_DNS_SERVER) and the domain's name servers"))
    return found
