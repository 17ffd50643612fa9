"""The SendGrid account, through its v3 API: the key may send (scope `mail.send`), the sender's
domain is authenticated, and the Event Webhook is enabled, posts to our URL and is signed with
the key we verify with. Every request has one total deadline, answer bodies a size limit."""

from __future__ import annotations

import json

import httpx

from digest.config import Settings
from digest.doctor.model import Check, ok
from digest.feeds.fetch import CheckedTransport
from digest.feeds.network import AddressPolicy, within

DEADLINE_SECONDS = 10.0  # per request, connecting and reading the whole answer
MAX_ANSWER_BYTES = 1024 * 1024
WEBHOOK_PATH = "/webhooks/sendgrid"


class Unanswered(Exception):
    """No usable answer: the reason, in a sentence."""


def get(client: httpx.Client, path: str, deadline: float = DEADLINE_SECONDS) -> tuple[int, object]:
    """GET `path`: its status and JSON body, all of it within `deadline` seconds (every socket
    operation waits at most until then: digest.feeds.network), at most MAX_ANSWER_BYTES."""
    try:
        with within(deadline), client.stream("GET", path) as answer:
            body = bytearray()
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    raise Unanswered(f"GET {path}: the answer is over {MAX_ANSWER_BYTES} bytes")
    except httpx.TimeoutException:
        raise Unanswered(f"GET {path}: no whole answer within {deadline:g} s") from None
    except httpx.HTTPError as exc:
        raise Unanswered(f"GET {path}: {type(exc).__name__} {exc}"[:300]) from None
    try:
        return answer.status_code, json.loads(body) if body else None
    except ValueError:
        raise Unanswered(f"GET {path}: answered {answer.status_code} with a body that is not JSON") from None


def _refused(name: str, path: str, status: int, scope: str) -> Check:
    if status == 401:
        return Check(name, "error", f"SendGrid refused the API key (401 on GET {path})",
                     "create a new API key in SendGrid (Settings > API Keys) and set SENDGRID_API_KEY")
    if status == 403:
        return Check(name, "warning", f"the API key may not read this (403 on GET {path}): not checked",
                     f"give the key the read scope {scope}, or check it in SendGrid's settings by hand")
    return Check(name, "error", f"SendGrid answered {status} to GET {path}", "try again; see status.sendgrid.com")


def api_key(client: httpx.Client, deadline: float) -> Check:
    status, body = get(client, "/v3/scopes", deadline)
    if status != 200:
        return _refused("sendgrid_key", "/v3/scopes", status, "(any)")
    scopes = body.get("scopes", []) if isinstance(body, dict) else []
    if "mail.send" in scopes:
        return ok("sendgrid_key", f"the API key is valid and may send (mail.send among {len(scopes)} scopes)")
    return Check("sendgrid_key", "error", "the API key is valid but lacks the mail.send scope: every send is refused",
                 "give the key Mail Send access (Settings > API Keys > Edit)")


def sender_domain(client: httpx.Client, settings: Settings, deadline: float,
                  records: dict[str, str] | None = None) -> Check:
    """The check; `records` gets the DNS records SendGrid asks for (host -> CNAME target)."""
    domain = str(settings.FROM_EMAIL).rpartition("@")[2].lower()
    status, body = get(client, "/v3/whitelabel/domains", deadline)
    if status != 200:
        return _refused("sendgrid_domain", "/v3/whitelabel/domains", status, "whitelabel.read")
    entries = [entry for entry in (body if isinstance(body, list) else []) if isinstance(entry, dict)
               and str(entry.get("domain", "")).lower() in (domain, *_parents(domain))]
    if records is not None:
        records.update({str(record["host"])[:253].lower(): str(record["data"])[:253].lower()
                        for entry in entries[:1] for record in (entry.get("dns") or {}).values()
                        if isinstance(record, dict) and record.get("type") == "cname"
                        and record.get("host") and record.get("data")})
    if any(entry.get("valid") is True for entry in entries):
        return ok("sendgrid_domain", f"{domain} (FROM_EMAIL's domain) is authenticated in SendGrid")
    if entries:
        failing = sorted(name for entry in entries for name, record in (entry.get("dns") or {}).items()
                         if isinstance(record, dict) and record.get("valid") is not True)
        return Check("sendgrid_domain", "error", f"{domain} is set up in SendGrid but not validated"
                     + (f" (records not found: {', '.join(failing)})" if failing else ""),
                     "publish the CNAME records SendGrid lists (Settings > Sender Authentication), then Verify")
    return Check("sendgrid_domain", "error", f"{domain} (FROM_EMAIL's domain) is not authenticated in SendGrid: "
                 "mail goes out 'via sendgrid.net' and fails DMARC",
                 "authenticate the domain in SendGrid (Settings > Sender Authentication) and publish its records")


def _parents(domain: str) -> list[str]:
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(1, len(labels) - 1)]


def event_webhook(client: httpx.Client, settings: Settings, deadline: float) -> Check:
    ours = settings.base_url + WEBHOOK_PATH
    status, body = get(client, "/v3/user/webhooks/event/settings/all", deadline)
    if status != 200:
        return _refused("sendgrid_webhook", "/v3/user/webhooks/event/settings/all", status,
                        "user.webhooks.event.settings.read")
    hooks = [hook for hook in (body.get("webhooks") or [] if isinstance(body, dict) else [])
             if isinstance(hook, dict) and hook.get("url")]
    hook = next((hook for hook in hooks if hook["url"].rstrip("/") == ours), None)
    if hook is None:
        elsewhere = ", ".join(str(hook["url"])[:200] for hook in hooks) or "none"
        return Check("sendgrid_webhook", "error", f"no Event Webhook posts to {ours} (webhooks: {elsewhere}): "
                     "no delivery, bounce or complaint reaches the service",
                     f"add an Event Webhook for {ours} (Settings > Mail Settings > Event Webhooks)")
    if hook.get("enabled") is not True:
        return Check("sendgrid_webhook", "error", f"the Event Webhook for {ours} is disabled",
                     "enable it (Settings > Mail Settings > Event Webhooks)")
    theirs = hook.get("public_key") or ""
    if not theirs:
        return Check("sendgrid_webhook", "error", f"the Event Webhook for {ours} is not signed: the service "
                     "refuses its posts", "turn on Signed Event Webhook for it and set SENDGRID_WEBHOOK_PUBLIC_KEY "
                     "to the key SendGrid shows")
    if theirs.strip() != (settings.SENDGRID_WEBHOOK_PUBLIC_KEY or ""):
        held = "none is set" if not settings.SENDGRID_WEBHOOK_PUBLIC_KEY else "ours differs"
        return Check("sendgrid_webhook", "error", f"the Event Webhook for {ours} is signed with a key we do not "
                     f"hold (SENDGRID_WEBHOOK_PUBLIC_KEY: {held}): its posts are refused",
                     "set SENDGRID_WEBHOOK_PUBLIC_KEY to the verification key SendGrid shows for this webhook")
    return ok("sendgrid_webhook", f"the Event Webhook posts to {ours}, enabled and signed with our key")


def checks(settings: Settings, deadline: float = DEADLINE_SECONDS,
           records: dict[str, str] | None = None) -> list[Check]:
    """The account's checks; `records` (when given) gets the CNAMEs SendGrid asks the sender's
    domain to publish, for the DNS checks."""
    if settings.DELIVERY_BACKEND != "sendgrid":
        return []  # the settings check says the outbox is no way to go live
    headers = {"Authorization": f"Bearer {settings.SENDGRID_API_KEY}", "Accept": "application/json"}
    found = []
    # SENDGRID_API_HOST is the operator's own setting, so any address it names may be reached.
    transport = CheckedTransport(AddressPolicy(allow_private=True))
    with httpx.Client(base_url=str(settings.SENDGRID_API_HOST).rstrip("/"), headers=headers, trust_env=False,
                      transport=transport) as client:
        for name, check in (("sendgrid_key", lambda: api_key(client, deadline)),
                            ("sendgrid_domain", lambda: sender_domain(client, settings, deadline, records)),
                            ("sendgrid_webhook", lambda: event_webhook(client, settings, deadline))):
            try:
                found.append(check())
            except Unanswered as exc:
                found.append(Check(name, "error", f"SendGrid did not answer: {exc}",
                                   "check the network to api.sendgrid.com (or SENDGRID_API_HOST)"))
    return found
