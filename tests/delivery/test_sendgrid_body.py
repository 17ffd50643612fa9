"""The mail/send body (digest/delivery/sendgrid.py) writes an edition reader's personalization
straight as JSON text: SendGrid must get exactly what json.dumps of the personalization's dicts
gives, whatever the reader's name holds and whatever the links' base is; a batch of one edition's
readers gives what they have alike once, at the message level, and each reader's message, as
SendGrid merges the two, is then the same."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from digest.delivery.backends import get_sender
from digest.delivery.message import OutgoingBatch, Recipient
from digest.delivery.outgoing import ReaderLinks, reader_recipient
from digest.delivery.for_you import ForYou
from digest.delivery.sendgrid import _alike_edition_readers, _batch_fields, personalization, request_body
from digest.editions.render import TransactionalMail
from digest.store.db import unit_of_work
from digest.store.models import SendBatch, Subscriber
from digest.subscribers.lifecycle import add_subscriber
from tests.conftest import reset_caches
from tests.factories import approved_edition, polled_feed, send_now
from tests.sendgrid_standin import merged_personalizations

# Names that JSON, HTML or SendGrid's address rules change, and one that looks like markers.
NAMES = [
    None, "", 'Dana "DJ" O\'Neil', "Tom & Jerry <tj@example.org>", "Zoë Ångström-Łukasiewicz",
    "李小龙 \U0001F600", "[%unsubscribe_url%] [%name:html%] [%", "Back\\slash\u2028line", "Smith, John; Jr.", " ;, ", "%]",
]
# Refused as a subscriber's name, but a name a batch could still be given.
CONTROL_CHARACTERS = "tab\tand\x01control"


def _straightforward(batch: OutgoingBatch) -> dict:
    """The body as built before: the dicts of every personalization, then json.dumps; what one
    edition's readers have alike at the message level."""
    if _alike_edition_readers(batch.recipients):
        return {"personalizations": [personalization(r, apart=True) for r in batch.recipients],
                **_batch_fields(batch, 7, batch.recipients[0].alike)}
    return {"personalizations": [personalization(r) for r in batch.recipients], **_batch_fields(batch, 7)}


def _each_readers_message_is_whole(batch: OutgoingBatch, body: bytes) -> None:
    assert merged_personalizations(json.loads(body)) == [personalization(r) for r in batch.recipients]


def _batch(recipients) -> OutgoingBatch:
    mail = TransactionalMail(subject="For [%name%]", text="Hello [%name%]", html="<p>[%name:html%]</p>")
    return OutgoingBatch(edition_id=3, from_email="digest@example.org", from_name="Digest", reply_to=None,
                         rendered=mail, recipients=recipients, categories=["edition"])


@pytest.mark.parametrize("base_url, plain", [("https://digest.example.org", True),
                                             ("https://digest.example.org/news&views's", False)])
def test_the_body_is_json_dumps_of_the_personalizations_dicts(settings, monkeypatch, base_url, plain):
    monkeypatch.setenv("PUBLIC_BASE_URL", base_url)
    reset_caches()
    links, alert_links = ReaderLinks(3, 12), ReaderLinks(4, 13, alert=True)
    assert links.alike.plain_links is plain  # plain links take the written path, others json.dumps
    readers = [links.recipient(40 + i, f"reader{i}@example.org", name)
               for i, name in enumerate([*NAMES, CONTROL_CHARACTERS])]
    # An alert's readers carry one link more, their one-click List-Unsubscribe.
    readers += [alert_links.recipient(60 + i, f"alert{i}@example.org", name) for i, name in enumerate(NAMES)]
    assert "/unfollow/" in readers[-1].headers["List-Unsubscribe"]
    assert "[%unfollow_url%]" in personalization(readers[-1])["substitutions"]
    assert "[%unfollow_url%]" not in personalization(readers[0])["substitutions"]
    # A digest's readers fill their "For you" list (markup in the HTML marker), if only with nothing.
    digest_links = ReaderLinks(5, 14, for_you=True)
    listed = [("", ""), ('- "Pipelines" & [%name%]\n  https://example.org/a?b=1&c=2\n', '<li><a href="x">\u2028"</a></li>')]
    readers += [digest_links.recipient(80 + i, f"digest{i}@example.org", name)._replace(
        for_you_text=listed[i % 2][0], for_you_html=listed[i % 2][1]) for i, name in enumerate(NAMES)]
    assert personalization(readers[-1])["substitutions"]["[%for_you:html%]"] == listed[0][1]
    assert personalization(readers[-2])["substitutions"]["[%for_you:html%]"] == listed[1][1]  # as made, not escaped
    one_off = Recipient(reader_id=0, email="one@example.org", name='O"ne', values={}, headers={},
                        custom_args={"message": "confirm"})
    batch = _batch([*readers, one_off])
    body = request_body(batch, 7)
    assert json.loads(body) == _straightforward(batch)
    assert body == json.dumps(_straightforward(batch)).encode(), "the same bytes as json.dumps writes"
    _each_readers_message_is_whole(batch, body)
    assert "custom_args" not in json.loads(body), "a mixed batch gives every reader's own in full"


# Addresses as long as an address may be (64 + 1 + 189 characters), internationalized, or with
# what JSON escapes.
ADDRESSES = ["a" * 64 + "@" + "b" * 185 + ".org", "zoë@exämple.org", "用户@例子.广告", 'quoted"local\\part@example.org']


@pytest.mark.parametrize("kind", ["digest", "alert", "plain"])
def test_a_batch_of_one_editions_readers_is_written_as_json_dumps_of_their_dicts(settings, kind):
    """The batch's readers are written together in one loop (what every send batch takes): the
    same bytes as json.dumps of each reader's dicts, whatever their names, addresses and lists."""
    links = ReaderLinks(5, 14, alert=kind == "alert", for_you=kind == "digest")
    names = [*NAMES, CONTROL_CHARACTERS, " padded ", "Ada Lovelace", "Ada Lovelace"]
    count = len(names) * 3
    ids = [10**6 * n + 17 for n in range(count)]
    emails = [ADDRESSES[n] if n < len(ADDRESSES) else f"reader{n}@example.org" for n in range(count)]
    # "For you" lists of several readers, one empty, with what escaping and markers change.
    lists = {ids[n]: ForYou(f"- Article {n} & [%name%] \u2028\n",
                            f'<li><a href="https://example.org/{n}?a=1&amp;b">\u00e9</a></li>')
             for n in range(0, count, 2)}
    lists[ids[4]] = ForYou("", "")
    readers = links.recipients(ids, emails, [names[n % len(names)] for n in range(count)],
                               lists if kind == "digest" else None)
    expected_lists = [lists[ids[0]].text, ""] if kind == "digest" else ["", ""]
    assert [reader.for_you_text for reader in readers[:2]] == expected_lists
    batch = _batch(readers)
    assert _alike_edition_readers(batch.recipients), "the batch's readers take the loop"
    body = request_body(batch, 7)
    assert body == json.dumps(_straightforward(batch)).encode()
    _each_readers_message_is_whole(batch, body)
    assert json.loads(body)["custom_args"] == {"edition_id": "5", "batch_id": "14"}
    assert json.loads(body)["headers"] == {"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    # A reader alone (the pre-send checklist's sample, a part of a split batch) is written alike.
    alone = _batch(readers[5:6])
    assert request_body(alone, 7) == json.dumps(_straightforward(alone)).encode()
    _each_readers_message_is_whole(alone, request_body(alone, 7))


def test_sendgrid_gets_each_readers_personalization_as_the_dicts_give_it(standin, feed_server):
    polled_feed(feed_server)
    with unit_of_work() as session:
        for i, name in enumerate(NAMES):
            add_subscriber(session, f"reader{i}@example.org", name=name, confirmed=True)
    edition_id = approved_edition()
    send_now(edition_id, get_sender())
    [body] = standin.requests  # accepted: the stand-in checked it as SendGrid does
    with unit_of_work() as session:
        batch_id = session.scalar(select(SendBatch.id))
        readers = session.execute(select(Subscriber.id, Subscriber.email, Subscriber.name)
                                  .order_by(Subscriber.id)).all()
    expected = [personalization(reader_recipient(edition_id, batch_id, *reader, for_you=True)) for reader in readers]
    assert merged_personalizations(body) == expected
    assert all(p["substitutions"]["[%for_you%]"] == "" for p in expected)  # nobody follows anything
    assert {p["substitutions"]["[%name:html%]"] for p in expected} >= {
        "Dana &quot;DJ&quot; O&#x27;Neil", "Tom &amp; Jerry &lt;tj@example.org&gt;", "reader"}
