"""`digest doctor`'s DNS checks of the sender's domain, against a DNS server on loopback holding
the records each case needs: SPF, the CNAMEs SendGrid asks for, DMARC and its policy, and a
mailbox for the List-Unsubscribe mailto."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from digest.config import dns_server_address
from digest.doctor import dns_records
from tests.dns_server import DNSServerOnLoopback
from tests.live_app import free_port
from tests.ops.test_doctor_settings import settings_of

# What SendGrid's automated security asks cacianalyst.org to publish (tests/sendgrid_standin.py).
CNAMES = {"em1234.cacianalyst.org": "u1234.wl.sendgrid.net",
          "s1._domainkey.cacianalyst.org": "s1.domainkey.u1234.wl.sendgrid.net",
          "s2._domainkey.cacianalyst.org": "s2.domainkey.u1234.wl.sendgrid.net"}
GOING_LIVE = """
cacianalyst.org. 300 IN TXT "v=spf1 include:sendgrid.net ~all"
cacianalyst.org. 300 IN TXT "google-site-verification=abc"
cacianalyst.org. 300 IN MX 10 mail.cacianalyst.org.
_dmarc.cacianalyst.org. 300 IN TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@cacianalyst.org"
em1234.cacianalyst.org. 300 IN CNAME u1234.wl.sendgrid.net.
s1._domainkey.cacianalyst.org. 300 IN CNAME s1.domainkey.u1234.wl.sendgrid.net.
s2._domainkey.cacianalyst.org. 300 IN CNAME s2.domainkey.u1234.wl.sendgrid.net.
"""


@pytest.fixture(scope="module")
def dns_server():
    with DNSServerOnLoopback() as server:
        yield server


@pytest.fixture
def zone(dns_server):
    dns_server.zone.set(GOING_LIVE)
    return dns_server.zone


def checks(dns_server, cnames=CNAMES, **values) -> dict:
    settings = settings_of(**{"FROM_EMAIL": "digest@cacianalyst.org", "DOCTOR_DNS_SERVER": dns_server.address, **values})
    return {check.name: check for check in dns_records.checks(settings, cnames)}


def states(found: dict) -> dict[str, str]:
    return {name: check.state for name, check in found.items()}


def test_a_domain_ready_to_send_passes_every_dns_check(dns_server, zone):
    assert states(checks(dns_server)) == {"dns_spf": "ok", "dns_dkim": "ok", "dns_dmarc": "ok", "dns_unsubscribe": "ok"}


@pytest.mark.parametrize("spf, words", [
    (None, "has no SPF record"),
    ('"v=spf1 -all"\ncacianalyst.org. 300 IN TXT "v=spf1 include:sendgrid.net ~all"', "2 SPF records"),
    ('"v=spf1 include:sendgrid.net +all"', "allows every server"),
    ('"v=spf1 all"', "allows every server"),
])
def test_spf_missing_doubled_or_open_to_all_is_an_error(dns_server, zone, spf, words):
    zone.set("\n".join(line for line in GOING_LIVE.splitlines() if "v=spf1" not in line))
    if spf:
        zone.add(f"cacianalyst.org. 300 IN TXT {spf}")
    check = checks(dns_server)["dns_spf"]
    assert check.state == "error" and words in check.found and check.fix


def test_a_dkim_cname_missing_or_pointing_elsewhere_is_an_error_naming_it(dns_server, zone):
    zone.drop("s2._domainkey.cacianalyst.org.", "CNAME")
    zone.drop("em1234.cacianalyst.org.", "CNAME")
    zone.add("em1234.cacianalyst.org. 300 IN CNAME u9999.wl.sendgrid.net.")
    check = checks(dns_server)["dns_dkim"]
    assert check.state == "error"
    assert "s2._domainkey.cacianalyst.org -> nothing (SendGrid asks for s2.domainkey.u1234.wl.sendgrid.net)" in check.found
    assert "em1234.cacianalyst.org -> u9999.wl.sendgrid.net (SendGrid asks for u1234.wl.sendgrid.net)" in check.found
    assert "s1._domainkey" not in check.found


def test_without_sendgrids_records_dkim_is_not_checked_and_says_so(dns_server, zone):
    assert checks(dns_server, cnames={})["dns_dkim"].state == "warning"


@pytest.mark.parametrize("dmarc, state, words", [
    (None, "error", "has no DMARC record"),
    ('"v=DMARC1; p=none; rua=mailto:d@cacianalyst.org"', "warning", "policy none"),
    ('"v=DMARC1; p=reject"\n_dmarc.cacianalyst.org. 300 IN TXT "v=DMARC1; p=none"', "error", "2 DMARC records"),
    ('"v=DMARC1; rua=mailto:d@cacianalyst.org"', "error", "no valid policy"),
])
def test_dmarc_missing_doubled_invalid_or_monitoring_only(dns_server, zone, dmarc, state, words):
    zone.drop("_dmarc.cacianalyst.org.", "TXT")
    if dmarc:
        zone.add(f"_dmarc.cacianalyst.org. 300 IN TXT {dmarc}")
    check = checks(dns_server)["dns_dmarc"]
    assert check.state == state and words in check.found


def test_a_subdomain_sender_is_governed_by_its_organizations_subdomain_policy(dns_server, zone):
    zone.drop("_dmarc.cacianalyst.org.", "TXT")
    zone.add('_dmarc.cacianalyst.org. 300 IN TXT "v=DMARC1; p=reject; sp=none"')
    check = checks(dns_server, FROM_EMAIL="digest@news.cacianalyst.org")["dns_dmarc"]
    assert check.state == "warning" and check.found.startswith("_dmarc.cacianalyst.org: policy none")


def test_an_unsubscribe_mailto_domain_that_takes_no_mail_is_an_error(dns_server, zone):
    check = checks(dns_server, UNSUBSCRIBE_MAILTO="leave@lists.cacianalyst.org")["dns_unsubscribe"]
    assert check.state == "error" and "unsubscribe email to leave@lists.cacianalyst.org bounces" in check.found
    zone.add("lists.cacianalyst.org. 300 IN MX 10 mail.cacianalyst.org.")
    assert checks(dns_server, UNSUBSCRIBE_MAILTO="leave@lists.cacianalyst.org")["dns_unsubscribe"].state == "ok"


def test_a_dns_server_that_does_not_answer_is_an_error_on_every_check():
    settings = settings_of(FROM_EMAIL="digest@cacianalyst.org", DOCTOR_DNS_SERVER=f"127.0.0.1:{free_port()}")
    found = dns_records.checks(settings, CNAMES)
    assert [(c.name, c.state) for c in found] == [("dns_spf", "error"), ("dns_dkim", "error"),
                                                 ("dns_dmarc", "error"), ("dns_unsubscribe", "error")]
    assert all(c.found.startswith("DNS did not answer") for c in found)


def test_a_development_machine_asks_no_dns_at_all(dns_server, zone):
    settings = settings_of(PUBLIC_BASE_URL="http://127.0.0.1:8000")
    assert dns_records.checks(settings, CNAMES) == []


@pytest.mark.parametrize("value", ["dns.example.org", "127.0.0.1:0", "127.0.0.1:99999", "[::1"])
def test_a_dns_server_setting_that_is_not_an_address_and_port_is_refused_naming_it(value):
    with pytest.raises(ValidationError, match="DOCTOR_DNS_SERVER"):
        settings_of(DOCTOR_DNS_SERVER=value)


def test_an_ipv6_dns_server_with_a_port_is_read():
    assert dns_server_address("[::1]:5353") == ("::1", 5353) and dns_server_address("192.0.2.53") == ("192.0.2.53", 53)
