"""Which of an alert's articles each reader gets, on SQLite and PostgreSQL: the articles filed under
the topics they follow at pace alert, as many articles as an alert holds (the audience counts them
in 62-bit words of positions), readers who get the same articles in one group."""

from __future__ import annotations

from sqlalchemy import func, select

from digest.alerts.compose import collect_new_articles
from digest.clock import utcnow
from digest.delivery.alert_audience import alert_readers
from digest.store.db import unit_of_work
from digest.store.models import ArticleTopic, Edition, Follow, Pace, Subscriber, Topic, TopicKind
from tests.factories import stored_articles, subscribers


def test_each_reader_gets_the_articles_of_their_topics_among_130(settings):
    """130 articles in one alert, each under Caucasus; article 3 also under Georgia, article 125
    also under Armenia. Readers of Georgia and of Armenia get their one article; of both, the two;
    of Caucasus, all (the alert itself); a reader following Armenia at pace digest, nothing."""
    now = utcnow()
    articles = stored_articles(*[now] * 130, prefix="Dispatch")
    georgian, armenian, both, everything, digest_pace = subscribers(
        "ge@example.org", "am@example.org", "both@example.org", "all@example.org", "digest@example.org")
    with unit_of_work() as session:
        topics = {name: Topic(kind=TopicKind.TAG, key=name.casefold(), name=name)
                  for name in ("Caucasus", "Georgia", "Armenia")}
        session.add_all(topics.values())
        session.flush()
        session.add_all([ArticleTopic(article_id=article, topic_id=topics["Caucasus"].id) for article in articles])
        session.add_all([ArticleTopic(article_id=articles[3], topic_id=topics["Georgia"].id),
                         ArticleTopic(article_id=articles[125], topic_id=topics["Armenia"].id)])
        follows = [(georgian, "Georgia", Pace.ALERT), (armenian, "Armenia", Pace.ALERT), (both, "Georgia", Pace.ALERT),
                   (both, "Armenia", Pace.ALERT), (everything, "Caucasus", Pace.ALERT),
                   (everything, "Georgia", Pace.ALERT), (digest_pace, "Armenia", Pace.DIGEST)]
        session.add_all([Follow(subscriber_id=reader, topic_id=topics[name].id, pace=pace)
                         for reader, name, pace in follows])
        session.flush()
        alert_id = collect_new_articles(session, articles, now).id
    with unit_of_work() as session:
        alert = session.get(Edition, alert_id)
        assert len(alert.items) == 130
        bounds = session.execute(select(func.min(Subscriber.id), func.max(Subscriber.id))).one()
        readers = alert_readers(session, alert, tuple(bounds), now)
    got = {tuple(ids): variant.articles for variant, ids in readers.items()}
    assert got == {(georgian,): (articles[3],), (armenian,): (articles[125],),
                   (both,): (articles[3], articles[125]), (everything,): ()}
