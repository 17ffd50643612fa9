"""The SendGrid stand-in's quick proof (personalizations_plainly_valid: every personalization's
checks made at once, in C) never passes what its one-by-one check (check_each_personalization,
which names the fault) refuses: wrong types, addresses without "@" or repeated in another case,
cc and bcc, reserved headers, and custom_args and substitutions at their limits in bytes, alone
and merged with the message's. Otherwise the stand-in, made cheaper, would check less."""

from __future__ import annotations

import itertools

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.fuzz.strategies import budget
from tests.sendgrid_standin import (MAX_CUSTOM_ARGS_BYTES, Invalid, check_each_personalization,
                                    personalizations_plainly_valid, utf8_size)

# What SendGrid refuses where an object, an array, a string or an address is due.
ODD = st.sampled_from([None, 0, 7, True, "", [], ["x"], {"a": "b"}, "a@example.org", "no-at-sign"])
SHORT = st.sampled_from(["", "1", "Se\u00e1n", "\U0001F600"])
# Around the limits of 10,000 bytes, in characters of 1, 2 and 4 bytes.
LARGE = st.sampled_from(["\U0001F600" * 2_499, "\u00e9" * 4_999, "x" * 4_998, "x" * 5_000, "y" * 9_990,
                         "y" * 9_995, "y" * 9_999, "z" * 10_001])
NAMES = st.sampled_from(["a", "-b-", "edition_id", "\U0001F600", "X-Mailer", "List-Unsubscribe"])
RESERVED = st.sampled_from(["Subject", "TO", "reply-to", "X-SG-ID", "Content-type"])
FAULTS = ["none", "personalization", "field", "address", "email", "value", "same address", "reserved header",
          "large value", "large values", "no subject", "copied"]


@st.composite
def bodies(draw) -> tuple[list, str | None]:
    """Personalizations of the service's shape (objects sometimes null or absent) and the
    message's subject, with one fault of a kind put in (or cc and bcc), or none: a body with one
    fault reaches every check, where faults everywhere stop at the first."""
    numbers = itertools.count()

    def addresses(count: int) -> list[dict]:
        return [{"email": f"r{next(numbers)}@example.org"} for _ in range(count)]

    people = []
    for _ in range(draw(st.integers(1, 3))):
        person = {"to": addresses(draw(st.integers(1, 2)))}
        for name in ("custom_args", "substitutions", "headers"):
            form = draw(st.sampled_from(["absent", "null", "object"]))
            if form != "absent":
                person[name] = None if form == "null" else draw(st.dictionaries(NAMES, SHORT, max_size=2))
        if draw(st.booleans()):
            person["subject"] = "Hi"
        people.append(person)
    fault = draw(st.sampled_from(FAULTS))
    subject = "Hello"
    person = draw(st.sampled_from(people))
    kind = draw(st.sampled_from(["to", "cc", "bcc"]))
    name = draw(st.sampled_from(["custom_args", "substitutions", "headers"]))
    if fault == "personalization":
        people[people.index(person)] = draw(ODD)
    elif fault == "field":
        person[draw(st.sampled_from([kind, name]))] = draw(ODD)
    elif fault in ("address", "email"):
        person[kind] = [*person.get(kind, []), draw(ODD) if fault == "address" else {"email": draw(ODD)}]
    elif fault == "value":
        person[name] = {**(person.get(name) or {}), draw(NAMES): draw(ODD)}
    elif fault == "same address":  # one already given, in another case
        taken = draw(st.sampled_from([a["email"] for p in people for k in ("to", "cc", "bcc") for a in p.get(k, [])]))
        person[kind] = [*person.get(kind, []), {"email": taken.upper()}]
    elif fault == "reserved header":
        person["headers"] = {**(person.get("headers") or {}), draw(RESERVED): "x"}
    elif fault.startswith("large"):
        name = draw(st.sampled_from(["custom_args", "substitutions"]))
        large = st.dictionaries(NAMES, LARGE, min_size=1, max_size=1 if fault == "large value" else 2)
        person[name] = {**(person.get(name) or {}), **draw(large)}
    elif fault == "copied":  # to others, in cc or bcc
        person[kind] = [*person.get(kind, []), *addresses(draw(st.integers(0, 2)))]
    elif fault == "no subject":  # the message's, and maybe a personalization's
        subject = draw(st.sampled_from(["", None]))
        person["subject"] = draw(st.sampled_from(["", None, "Hi"]))
    return people, subject


@settings(max_examples=budget(500))
@given(body=bodies(), message_args=st.one_of(st.dictionaries(NAMES, SHORT, max_size=2),
                                             st.dictionaries(NAMES, LARGE, max_size=1)))
def test_what_the_quick_proof_passes_the_one_by_one_check_passes(body, message_args):
    personalizations, subject = body
    message_args_bytes = utf8_size(message_args)
    assume(message_args_bytes <= MAX_CUSTOM_ARGS_BYTES)  # check_mail_send refuses the message before
    try:
        check_each_personalization(personalizations, message_args, subject)
    except Invalid:
        assert not personalizations_plainly_valid(personalizations, message_args_bytes, subject)


def test_a_batch_as_the_service_writes_it_is_proved_at_once():
    """1,000 readers as digest.delivery.sendgrid writes them (names with non-ASCII, the message's
    custom_args beside each reader's own): the quick proof holds, so no body of a benchmark goes
    through the one-by-one check."""
    readers = [{"to": [{"email": f"reader{n}@example.org", "name": f"Se\u00e1n {n}"}],
                "substitutions": {"[%name%]": f"Se\u00e1n {n}",
                                  "[%unsubscribe_url%]": f"https://d.example.org/u/{n}.x"},
                "headers": {"List-Unsubscribe": f"<https://d.example.org/u/{n}.x>"},
                "custom_args": {"subscriber_id": str(n)}} for n in range(1000)]
    message_args = {"edition_id": "7", "batch_id": "3"}
    assert personalizations_plainly_valid(readers, utf8_size(message_args), "Hello")
    check_each_personalization(readers, message_args, "Hello")


def test_where_the_bound_is_too_rough_the_sizes_are_counted_exactly():
    """9,003 bytes of substitutions beside a non-ASCII one: the bound (4 bytes a character, each
    value the longest) is over the limit, the exact count within it, and the proof still holds."""
    people = [{"to": [{"email": "a@example.org"}], "substitutions": {"-a-": "x" * 9_000}},
              {"to": [{"email": "b@example.org"}], "substitutions": {"-a-": "Se\u00e1n"}}]
    assert personalizations_plainly_valid(people, 0, "Hello")
    people[0]["substitutions"]["-a-"] += "x" * 998  # 10,001 bytes
    assert not personalizations_plainly_valid(people, 0, "Hello")
