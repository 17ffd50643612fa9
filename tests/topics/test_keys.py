"""A topic's key: one topic per name however a feed spells it, and a hostile name stays bounded."""

from __future__ import annotations

import pytest

from digest.errors import InputError
from digest.store.db import unit_of_work
from digest.store.models import Topic, TopicKind
from digest.topics.keys import KEY_LENGTH, NAME_LENGTH, display_name, find_topic, topic_key


@pytest.mark.parametrize("spelling", ["Kyrgyz Republic", "kyrgyz  republic", " Kyrgyz\tRepublic.", "KYRGYZ REPUBLIC"])
def test_spellings_of_one_name_share_a_key(spelling):
    assert topic_key(spelling) == "kyrgyz republic"


def test_diacritics_do_not_make_another_topic():
    assert topic_key("Türkiye") == topic_key("Turkiye") == "turkiye"
    assert topic_key("Gürcüstan") == topic_key("Gurcustan")  # (ə is a letter of its own: an editor merges)


def test_a_hostile_name_is_bounded_and_loses_its_control_characters():
    name = "<script>{{ unsubscribe_url }}</script>\x00\u202e" + "x" * 10_000
    assert len(topic_key(name)) <= KEY_LENGTH and len(display_name(name)) <= NAME_LENGTH
    assert "\x00" not in display_name(name) and "\u202e" not in display_name(name)


def test_an_alias_leads_to_the_topic_it_was_merged_into(settings):
    with unit_of_work() as session:
        target = Topic(kind=TopicKind.TAG, key="kyrgyzstan", name="Kyrgyzstan")
        session.add(target)
        session.flush()
        session.add(Topic(kind=TopicKind.TAG, key="kyrgyz republic", name="Kyrgyz Republic", merged_into_id=target.id))
    with unit_of_work() as session:
        assert find_topic(session, TopicKind.TAG, "Kyrgyz republic").name == "Kyrgyzstan"
        with pytest.raises(InputError, match="tag 'Atlantis': no article names it"):
            find_topic(session, TopicKind.TAG, "Atlantis")
