"""Ids sent to PostgreSQL as one array's text (IdArray) keep their column's width: a delivery's or
an event's id is a bigint, and one past the integer range still finds its row."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from digest.store.db import unit_of_work
from digest.store.models import Delivery, SendBatch
from digest.store.upsert import among


@pytest.mark.postgresql_only
def test_ids_past_the_integer_range_find_their_rows(settings):
    past = 2**31 + 5
    with unit_of_work() as session:
        session.execute(text(
            "INSERT INTO editions (kind, cutoff_at, send_at, status, subject, preheader, intro, created_at, updated_at) "
            "VALUES ('digest', now(), now(), 'sent', 's', '', '', now(), now())"))
        session.execute(text(
            "INSERT INTO subscribers (email, status, format, sections, created_at, attributes) "
            "VALUES ('big@example.org', 'confirmed', 'html', '[]', now(), '{}')"))
        session.execute(text(
            "INSERT INTO deliveries (id, edition_id, subscriber_id, email, status, attempts, created_at) "
            "SELECT :id, e.id, s.id, s.email, 'accepted', 1, now() FROM editions e, subscribers s"), {"id": past})
    with unit_of_work() as session:
        assert session.scalars(select(Delivery.id).where(among(session, Delivery.id, [1, past]))).all() == [past]
        assert session.scalars(select(SendBatch.id).where(among(session, SendBatch.id, [past]))).all() == []


def test_an_array_is_written_as_digits_whatever_form_its_ids_take():
    from sqlalchemy.dialects import postgresql

    from digest.store.models import IdArray

    literal = IdArray().bind_processor(postgresql.dialect())
    assert literal([3, 2**40, True]) == "{3,1099511627776,1}"
    assert literal(("7", 8)) == "{7,8}"  # text that int() takes
    assert literal(iter([4, "5"])) == "{4,5}"  # an iterator, read whole by the slower path too
    assert literal([]) == "{}" and literal(None) is None
    with pytest.raises(ValueError):
        literal(["1},{2"])  # never anything but digits and commas
