"""`digest doctor`'s checks of the SendGrid account, against the stand-in answering SendGrid's
documented endpoints: the key and its `mail.send` scope, the sender's authenticated domain, and
the signed Event Webhook posting to our URL with the key we hold."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from digest.doctor import sendgrid_account
from tests.live_app import free_port
from tests.ops.test_doctor_settings import settings_of
from tests.sendgrid_standin import SendGridStandIn
from tests.slow_servers import dripping_server

OUR_WEBHOOK = "https://digest.cacianalyst.org/webhooks/sendgrid"


def account_settings(standin: SendGridStandIn, **values):
    return settings_of(**{"SENDGRID_API_KEY": standin.api_key, "SENDGRID_API_HOST": standin.url,
                          "SENDGRID_WEBHOOK_PUBLIC_KEY": standin.public_key, "FROM_EMAIL": "digest@cacianalyst.org",
                          "PUBLIC_BASE_URL": "https://digest.cacianalyst.org", **values})


@pytest.fixture
def account(standin_server):
    """A stand-in account set up as going live needs: the domain authenticated, our webhook signed."""
    standin_server.authenticate_domain("cacianalyst.org")
    standin_server.add_event_webhook(OUR_WEBHOOK)
    return standin_server


def another_key() -> str:
    """A verification key SendGrid might show that is not the stand-in's (base64 DER)."""
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    return base64.b64encode(public.public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


def found(standin: SendGridStandIn, **values) -> dict:
    return {check.name: check for check in sendgrid_account.checks(account_settings(standin, **values))}


def test_an_account_set_up_for_going_live_is_ok(account):
    assert {name: check.state for name, check in found(account).items()} == {
        "sendgrid_key": "ok", "sendgrid_domain": "ok", "sendgrid_webhook": "ok"}


def test_a_refused_key_is_an_error_on_every_check(account):
    checks = found(account, SENDGRID_API_KEY="SG.revoked")
    assert {check.state for check in checks.values()} == {"error"}
    assert "refused the API key (401" in checks["sendgrid_key"].found


def test_a_key_without_mail_send_is_an_error(account):
    account.scopes.remove("mail.send")
    check = found(account)["sendgrid_key"]
    assert check.state == "error" and "mail.send" in check.found


def test_a_key_that_may_not_read_the_settings_is_a_warning_naming_the_scope(account):
    account.scopes.remove("whitelabel.read")
    check = found(account)["sendgrid_domain"]
    assert check.state == "warning" and "whitelabel.read" in check.fix


def test_a_sender_domain_not_authenticated_or_not_validated_is_an_error(standin_server):
    standin_server.add_event_webhook(OUR_WEBHOOK)
    standin_server.authenticate_domain("elsewhere.org")
    check = found(standin_server)["sendgrid_domain"]
    assert check.state == "error" and "cacianalyst.org (FROM_EMAIL's domain) is not authenticated" in check.found
    standin_server.authenticate_domain("cacianalyst.org", valid=False)
    check = found(standin_server)["sendgrid_domain"]
    assert check.state == "error" and "not validated (records not found: dkim1, dkim2, mail_cname)" in check.found


def test_a_subdomain_sender_is_covered_by_its_authenticated_parent(account):
    assert found(account, FROM_EMAIL="digest@news.cacianalyst.org")["sendgrid_domain"].state == "ok"


@pytest.mark.parametrize("set_up, words", [
    (lambda s: s.add_event_webhook("https://old.example.org/webhooks/sendgrid"), "no Event Webhook posts to"),
    (lambda s: s.add_event_webhook(OUR_WEBHOOK, enabled=False), "is disabled"),
    (lambda s: s.add_event_webhook(OUR_WEBHOOK, signed=False), "is not signed"),
    (lambda s: s.add_event_webhook(OUR_WEBHOOK).update(public_key=another_key()), "a key we do not hold"),
])
def test_an_event_webhook_elsewhere_disabled_unsigned_or_signed_by_another_key_is_an_error(standin_server, set_up, words):
    standin_server.authenticate_domain("cacianalyst.org")
    set_up(standin_server)
    check = found(standin_server)["sendgrid_webhook"]
    assert check.state == "error" and words in check.found and check.fix


def test_a_webhook_key_we_do_not_hold_is_an_error(account):
    check = found(account, SENDGRID_WEBHOOK_PUBLIC_KEY=None)["sendgrid_webhook"]
    assert check.state == "error" and "none is set" in check.found


def test_sendgrid_not_answering_is_an_error_per_check():
    checks = sendgrid_account.checks(settings_of(SENDGRID_API_KEY="SG.key", SENDGRID_API_HOST=f"http://127.0.0.1:{free_port()}"))
    assert [(c.name, c.state) for c in checks] == [("sendgrid_key", "error"), ("sendgrid_domain", "error"),
                                                   ("sendgrid_webhook", "error")]
    assert all("did not answer" in c.found for c in checks)


def test_the_outbox_asks_nothing_of_sendgrid(standin_server):
    assert sendgrid_account.checks(settings_of(SENDGRID_API_KEY=None, DELIVERY_BACKEND="outbox")) == []
    assert standin_server.requests == []


def test_an_api_host_dripping_its_answer_is_cut_off_at_the_deadline():
    with dripping_server(interval=0.2) as url:
        checks = sendgrid_account.checks(settings_of(SENDGRID_API_KEY="SG.key", SENDGRID_API_HOST=url), deadline=1)
    assert {c.state for c in checks} == {"error"}
    assert all("no whole answer within 1 s" in c.found for c in checks)
