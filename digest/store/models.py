"""The tables of the service. Unique constraints carry idempotency: a task that runs twice
finds its row already there (per feed entry, per edition period, per edition and subscriber)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    ARRAY,
    JSON,
    LargeBinary,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from digest.clock import utcnow

# The largest id of the rows people name (editions, articles, feeds, subscribers, editors): their
# keys are PostgreSQL integers. A larger number names nothing, and the database refuses to even
# compare with it, so every surface checks ids against this before a query (web/ids.py, cli/common.py).
MAX_ID = 2**31 - 1


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store times in UTC")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is dt.UTC:  # PostgreSQL's, on a connection set to UTC (store/db.py)
            return value
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class IdArray(TypeDecorator):
    """A PostgreSQL integer[] (bigint[] with `big`, for the ids of the tables that outgrow an
    integer) of row ids, sent as one text literal ('{1,2,3}') that the server parses: psycopg
    builds a list parameter element by element in Python, about 1 us an id, and a send batch
    names a thousand readers. Read back as psycopg's list."""

    impl = ARRAY(Integer)
    cache_ok = True

    def __init__(self, big: bool = False) -> None:
        super().__init__()
        self.big = big
        if big:
            self.impl = ARRAY(BigInteger)

    def bind_processor(self, dialect):
        def literal(ids):
            if ids is None:
                return None
            ids = ids if isinstance(ids, (list, tuple)) else list(ids)  # read twice if need be
            try:  # ints, as the service's ids are: int's own repr, half the time of str(int(id))
                return "{%s}" % ",".join(map(int.__repr__, ids))
            except TypeError:  # anything else that int() takes ("12"), which the fast path refuses
                return "{%s}" % ",".join(map(str, map(int, ids)))
        return literal


def _enum(cls: type[enum.Enum]) -> Enum:
    # Stored as plain strings (no native PG enum) so adding a state is a one-line migration.
    return Enum(cls, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime}


class FeedStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    DISABLED = "disabled"  # the server said 410 Gone
    # Hidden and never polled; the row stays so articles sent in past editions keep their feed.
    REMOVED = "removed"


class EditionStatus(enum.StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    SENDING = "sending"
    PAUSED = "paused"  # by an operator, or by the provider refusing our credentials
    SENT = "sent"
    CANCELLED = "cancelled"


class EditionKind(enum.StrEnum):
    DIGEST = "digest"  # the biweekly edition, one per cadence period
    ALERT = "alert"  # new articles on followed topics, sent soon after they arrive


class SubscriberStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"


class SubscriberFormat(enum.StrEnum):
    HTML = "html"  # HTML with its plain-text part
    TEXT = "text"  # plain text only


class TopicKind(enum.StrEnum):
    SECTION = "section"  # the K2 category an article is filed under
    TAG = "tag"  # a K2 tag: a country, a region, a theme
    AUTHOR = "author"  # a name in the byline


class Pace(enum.StrEnum):
    DIGEST = "digest"  # in the biweekly edition
    ALERT = "alert"  # an email soon after a new article on the topic


class SuppressionReason(enum.StrEnum):
    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCES = "soft_bounces"  # SOFT_BOUNCE_LIMIT soft bounces in a row
    SPAM_REPORT = "spam_report"
    BLOCK = "block"
    UNSUBSCRIBE = "unsubscribe"
    OPERATOR = "operator"
    FORGOTTEN = "forgotten"  # erased on request; only the address's hash is kept


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a worker, handed to the provider or about to be
    UNKNOWN = "unknown"  # claimed long ago and never recorded: the worker died mid-request
    ACCEPTED = "accepted"  # the provider took it (202)
    DELIVERED = "delivered"
    DEFERRED = "deferred"  # the receiving server asked to try later; the provider retries
    BOUNCED = "bounced"
    DROPPED = "dropped"
    FAILED = "failed"  # we gave up: permanent error or retries exhausted
    CANCELLED = "cancelled"

    @classmethod
    def unfinished(cls) -> tuple["DeliveryStatus", ...]:
        return (cls.PENDING, cls.SENDING, cls.UNKNOWN)


class BatchState(enum.StrEnum):
    PENDING = "pending"  # waiting for a worker (or for the edition to be resumed)
    SENDING = "sending"  # claimed: its readers are being handed over
    SENT = "sent"  # every reader of it handed over or failed; nothing left to do
    UNKNOWN = "unknown"  # claimed long ago and never recorded: its worker died mid-request
    FAILED = "failed"  # given up after the last retry
    CANCELLED = "cancelled"

    @classmethod
    def live(cls) -> tuple["BatchState", ...]:
        """States in which the batch still owns its pending readers."""
        return (cls.PENDING, cls.SENDING)


class Feed(Base):
    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    section: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[FeedStatus] = mapped_column(_enum(FeedStatus), default=FeedStatus.ACTIVE)
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    next_poll_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_polled_at: Mapped[dt.datetime | None]
    last_success_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # A problem that did not stop the poll (a feed parsed with errors, an article page missing).
    last_warning: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    # When a poll last stored a new article: a feed silent for long is flagged stale.
    last_new_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_feeds_due", "status", "next_poll_at"),)


class Article(Base):
    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    entry_key: Mapped[str] = mapped_column(String(500))
    url: Mapped[str] = mapped_column(String(2000))
    title: Mapped[str] = mapped_column(String(1000))
    authors: Mapped[str | None] = mapped_column(String(1000))
    section: Mapped[str | None] = mapped_column(String(200))
    summary_html: Mapped[str] = mapped_column(Text, default="")
    content_html: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[dt.datetime]
    # The Analyst's structure, when the article has it: the issue the byline names, the tags,
    # and the sanitized parts {"byline", "place", "background", "implications", "conclusions",
    # "author_bio"}. summary_html holds the lead; content_html the full text.
    issue_date: Mapped[dt.date | None]
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    structure: Mapped[dict] = mapped_column(JSON, default=dict)
    # An undated entry found on its feed's first poll: the feed's past, not news, so no
    # edition carries it.
    back_catalogue: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    feed: Mapped[Feed] = relationship()

    __table_args__ = (
        UniqueConstraint("feed_id", "entry_key", name="uq_articles_feed_entry"),
        Index("ix_articles_published_at", "published_at"),
    )


class Edition(Base):
    __tablename__ = "editions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # An alert is planned, batched, claimed, rate-limited and recorded as an edition is: one path.
    kind: Mapped[EditionKind] = mapped_column(_enum(EditionKind), default=EditionKind.DIGEST)
    # The local date of the scheduled send: one digest per cadence period. None for an alert
    # (NULLs never collide in the unique index).
    period: Mapped[dt.date | None] = mapped_column(unique=True)
    cutoff_at: Mapped[dt.datetime]
    send_at: Mapped[dt.datetime]
    status: Mapped[EditionStatus] = mapped_column(_enum(EditionStatus), default=EditionStatus.DRAFT)
    subject: Mapped[str] = mapped_column(String(300))
    preheader: Mapped[str] = mapped_column(String(300), default="")
    intro: Mapped[str] = mapped_column(Text, default="")
    approved_by: Mapped[str | None] = mapped_column(String(320))
    approved_at: Mapped[dt.datetime | None]
    approved_hash: Mapped[str | None] = mapped_column(String(64))
    # Why the edition is where it is, for editors (e.g. an approval voided by a change).
    note: Mapped[str | None] = mapped_column(Text)
    # SendGrid's batch id: lets a send scheduled ahead with send_at be cancelled.
    provider_batch_id: Mapped[str | None] = mapped_column(String(100))
    started_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]
    # An alert is held until then: articles arriving meanwhile join it, an editor may cancel it.
    hold_until: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    # Loaded with the edition (one extra query, never one per edition in a list).
    items: Mapped[list[EditionItem]] = relationship(
        back_populates="edition", order_by="EditionItem.position", cascade="all, delete-orphan",
        lazy="selectin",
    )

    __table_args__ = (Index("ix_editions_status_send_at", "status", "send_at"),
                      Index("ix_editions_kind_status", "kind", "status"))


class EditionSkip(Base):
    """A period that got no edition, and why: shown to editors instead of a silent gap."""

    __tablename__ = "edition_skips"

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[dt.date] = mapped_column(unique=True)
    reason: Mapped[str] = mapped_column(String(500))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class EditionItem(Base):
    __tablename__ = "edition_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="RESTRICT"))
    position: Mapped[int]
    # In an alert: the names of the followed topics the article is new on, as they were when it
    # joined (the alert's subject names them; renamed later, what was approved stays the same).
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    # In an alert: an article of an earlier alert that the daily cap held readers back from, given
    # only to those readers (their alert carries, AlertCarry), not to every follower of its topics.
    carried: Mapped[bool] = mapped_column(Boolean, default=False)

    edition: Mapped[Edition] = relationship(back_populates="items")
    article: Mapped[Article] = relationship(lazy="joined")

    __table_args__ = (
        UniqueConstraint("edition_id", "article_id", name="uq_edition_items_article"),
        Index("ix_edition_items_article", "article_id"),
    )


class EditionRender(Base):
    """The rendered parts of an edition as approved: what is sent, byte for byte."""

    __tablename__ = "edition_renders"

    id: Mapped[int] = mapped_column(primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    variant: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(300))
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("edition_id", "variant", name="uq_edition_renders_variant"),)


class Subscriber(Base):
    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[SubscriberStatus] = mapped_column(
        _enum(SubscriberStatus), default=SubscriberStatus.PENDING
    )
    # Section names the reader wants; empty means every section.
    sections: Mapped[list[str]] = mapped_column(JSON, default=list)
    format: Mapped[SubscriberFormat] = mapped_column(_enum(SubscriberFormat), default=SubscriberFormat.HTML)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # A pause the reader chose with an end: nothing is sent while `paused` and this is ahead;
    # from this time on they receive again. None with `paused`: paused until they resume.
    paused_until: Mapped[dt.datetime | None]
    # Every alert follow off: the reader receives only the digest.
    digest_only: Mapped[bool] = mapped_column(Boolean, default=False)
    # Columns of an imported CSV that the service has no field for, kept as they came.
    attributes: Mapped[dict] = mapped_column(JSON, default=dict)
    # Consent: where and when the (latest) sign-up was asked for, and when and from where it was
    # confirmed; the audit log keeps every earlier request.
    source: Mapped[str | None] = mapped_column(String(100))
    signup_at: Mapped[dt.datetime | None]
    signup_ip: Mapped[str | None] = mapped_column(String(45))
    confirmed_at: Mapped[dt.datetime | None]
    confirm_ip: Mapped[str | None] = mapped_column(String(45))
    unsubscribed_at: Mapped[dt.datetime | None]
    # Soft bounces in a row; a delivered message resets it.
    soft_bounces: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_subscribers_status", "status"),)

    @property
    def paused_now(self) -> bool:
        """Paused at this moment: a pause whose end has passed is over, though `paused` stays set
        (nothing needs to lift it; `subscribers.lifecycle.not_paused` is the same rule in SQL)."""
        return self.paused and (self.paused_until is None or self.paused_until > utcnow())


class Topic(Base):
    """A section, tag or author as the journal's articles name them. Tags and authors are matched
    by `key` (the name without case, spacing or diacritics), so "Kyrgyz  republic" and "Kyrgyz
    Republic" are one topic. A topic merged into another (`merged_into_id`) stays as an alias: the
    articles that name it later are filed under the one it was merged into."""

    __tablename__ = "topics"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[TopicKind] = mapped_column(_enum(TopicKind))
    key: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))  # as shown; an editor may rename it
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)  # not offered to readers
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("kind", "key", name="uq_topics_kind_key"),)


class ArticleTopic(Base):
    """An article filed under a topic (never under an alias: under the topic it was merged into)."""

    __tablename__ = "article_topics"

    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True)

    __table_args__ = (Index("ix_article_topics_topic", "topic_id"),)


class Follow(Base):
    """A reader follows a topic, at a pace: in the digest, or as an alert soon after an article."""

    __tablename__ = "follows"

    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"),
                                               primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True)
    pace: Mapped[Pace] = mapped_column(_enum(Pace), default=Pace.DIGEST)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    # An alert's audience: the followers of its topics at pace alert, a slice of readers at a time.
    __table_args__ = (Index("ix_follows_topic_pace_subscriber", "topic_id", "pace", "subscriber_id"),)


class AlertCarry(Base):
    """An article of an alert that the daily cap (ALERT_MAX_PER_DAY) held a reader back from: it is
    owed to them in their first alert on a later local day, unless a digest brings it first.

    Without foreign keys: a capped alert among a million readers writes a row for each of the
    hundreds of thousands it holds back, and a key's check per row doubled the database's work on
    it (bench/RESULTS.md). The article and the alert are an alert's item, never deleted; forgetting
    a reader deletes theirs (subscribers/privacy.py)."""

    __tablename__ = "alert_carries"

    subscriber_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(Integer)  # the alert they were held back from
    created_at: Mapped[dt.datetime]


class Suppression(Base):
    """An address never to send to. Keyed by the address's HMAC so that the entry outlives the
    address itself once a person is forgotten (`email` is then NULL)."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    reason: Mapped[SuppressionReason] = mapped_column(_enum(SuppressionReason))
    source: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_suppressions_email", "email"),)


class AuditEntry(Base):
    """One state change of a subscriber: who or what did it, from where, and what changed."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(40))
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), index=True
    )
    # The address's HMAC, never the address: the log outlives a forgotten person's data.
    email_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(40))
    ip: Mapped[str | None] = mapped_column(String(45))
    details: Mapped[dict] = mapped_column(JSON, default=dict)


class Delivery(Base):
    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    # Which rendered variant (sections and format) this reader receives.
    variant: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[DeliveryStatus] = mapped_column(
        _enum(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    claim_token: Mapped[str | None] = mapped_column(String(36))
    claimed_at: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    message_id: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[dt.datetime | None]
    # When the provider last told us about this message (webhook events).
    event_at: Mapped[dt.datetime | None]
    # Set when an unknown outcome with no provider event was sent again by itself (once only).
    resent_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The send batch that handed this reader over (or owns the row while it is pending).
    batch_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))

    __table_args__ = (
        UniqueConstraint("edition_id", "subscriber_id", name="uq_deliveries_edition_subscriber"),
        Index("ix_deliveries_edition_status", "edition_id", "status"),
        Index("ix_deliveries_batch", "batch_id", "status"),
    )


class SendBatch(Base):
    """Up to SEND_BATCH_SIZE readers of one variant, sent in one provider request. The batch is
    what a worker claims (one conditional UPDATE of this row).

    A planned batch names its readers (`members`, subscriber ids). Handed over whole in one
    request, its row alone records them as accepted (`sent_at`, `message_id`): a member gets a
    delivery row when something happens to them (an event, a failure, a split request), or from
    reconciliation a while after the send (`recorded_at`). A batch without members owns the
    pending rows that name it (rows made pending again by a retry or a re-send)."""

    __tablename__ = "send_batches"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    variant: Mapped[str] = mapped_column(String(300))
    size: Mapped[int]  # readers when the batch was cut
    members: Mapped[list[int] | None] = mapped_column(IdArray().with_variant(JSON(), "sqlite"))
    # The lowest and highest member: an alert's daily cap, counted a slice of readers at a time,
    # unnests only the batches that may hold the slice's readers (None: planned before 0017).
    first_member_id: Mapped[int | None]
    last_member_id: Mapped[int | None]
    state: Mapped[BatchState] = mapped_column(_enum(BatchState), default=BatchState.PENDING)
    claim_token: Mapped[str | None] = mapped_column(String(36))
    claimed_at: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    message_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]  # handed over whole: its members without a row were accepted then
    recorded_at: Mapped[dt.datetime | None]  # every member of it has a delivery row

    __table_args__ = (Index("ix_send_batches_edition_state", "edition_id", "state"),)


class PlanSlice(Base):
    """One range of subscriber ids of an edition's plan, planned by its own task so that the first
    batches leave while the rest of the list is still being planned. The edition is not sent
    while a slice is unplanned."""

    __tablename__ = "plan_slices"

    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(primary_key=True)
    first_subscriber_id: Mapped[int]
    last_subscriber_id: Mapped[int]
    planned_at: Mapped[dt.datetime | None]


class DeliveryEvent(Base):
    __tablename__ = "delivery_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"), index=True
    )
    provider_event_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    event: Mapped[str] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(320))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Copied from the delivery and the payload when the event is kept, so that the reports are
    # grouped queries over indexed columns, never a walk through JSON payloads.
    edition_id: Mapped[int | None] = mapped_column(Integer)
    subscriber_id: Mapped[int | None] = mapped_column(Integer)
    url: Mapped[str | None] = mapped_column(String(2000))  # a click's link
    # A bounce's type ("bounce": hard, "blocked": soft) and the receiving server's reason.
    kind: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(String(500))
    # An open's or a click's maker, decided as it is applied (reports/audience.py): "human",
    # "machine" or "unknown", and the rule that decided ("" for a person). NULL for other events.
    audience: Mapped[str | None] = mapped_column(String(8))
    audience_reason: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (
        Index("ix_delivery_events_edition", "edition_id", "event", "delivery_id"),
        Index("ix_delivery_events_subscriber", "subscriber_id", "event", "occurred_at"),
    )


class EditionCount(Base):
    """A running count of one fact of an edition, kept as events arrive so that a report reads a
    few hundred rows, never the edition's events: `key` names the fact ("event:open",
    "link:3", "hour:click:5", "reason:bounce:hard:Invalid Address"), `total` counts events and
    `readers` counts deliveries (each once, see ReaderMark)."""

    __tablename__ = "edition_counts"

    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(600), primary_key=True)
    readers: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)


class ReaderMark(Base):
    """That a delivery has had a fact counted once: the first insert of (delivery, mark) wins,
    so `readers` grows exactly once per reader however many workers apply events at a time."""

    __tablename__ = "reader_marks"

    delivery_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True)
    mark: Mapped[str] = mapped_column(String(100), primary_key=True)


class EditionLink(Base):
    """A link of an edition and the article it leads to, written when the edition is approved:
    a click event names only its URL, and this maps it back to article, section and position."""

    __tablename__ = "edition_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    section: Mapped[str] = mapped_column(String(200))
    position: Mapped[int]

    __table_args__ = (UniqueConstraint("edition_id", "url", name="uq_edition_links_url"),)


class WebhookBatch(Base):
    """A verified webhook request, kept until a worker has processed it: nothing is lost if the
    queue is down when it arrives."""

    __tablename__ = "webhook_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[dt.datetime | None]
    event_count: Mapped[int] = mapped_column(default=0)
    # SHA-256 of what SendGrid signed (the timestamp header, then the body): the same request
    # sent again finds its batch. NULL for batches kept before replays were recognised.
    request_hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_webhook_batches_unprocessed", "processed_at"),
                      Index("ix_webhook_batches_request", "request_hash", unique=True))


class Editor(Base):
    __tablename__ = "editors"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="editor")
    # Refused logins since `failures_since` (a window of LOGIN_LOCKOUT_MINUTES); at
    # LOGIN_MAX_FAILURES the account is locked until `locked_until`. Counted by one UPDATE each.
    failed_logins: Mapped[int] = mapped_column(default=0)
    failures_since: Mapped[dt.datetime | None]
    locked_until: Mapped[dt.datetime | None]
    # Part of every session cookie's signature: logging out adds one, which ends every session.
    session_generation: Mapped[int] = mapped_column(default=0)
    # SHA-256 of the editor's API token (the token itself is shown once, never stored).
    api_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ImportState(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class SubscriberImport(Base):
    """A CSV file uploaded for import, and how far a worker has got with it (subscribers/imports.py).
    The file is kept here, so that the worker can read it and a redelivered task resume it; its
    size is bounded by IMPORT_MAX_BYTES before the row is written."""

    __tablename__ = "subscriber_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    what: Mapped[str] = mapped_column(String(300))  # the file's name, as messages and audit entries give it
    actor: Mapped[str] = mapped_column(String(100))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    lines: Mapped[int]  # in the file, counted as it is kept: what progress is measured against
    state: Mapped[ImportState] = mapped_column(_enum(ImportState), default=ImportState.QUEUED)
    # Bumped by each run that claims the import: a run whose number is no longer the latest stops
    # at its next batch, so a redelivered message never counts a batch twice.
    attempt: Mapped[int] = mapped_column(default=0)
    # The file's last line whose outcome is committed (with the counts below): a new run starts after it.
    through_line: Mapped[int] = mapped_column(default=1)
    rows: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    # The first PROBLEMS_KEPT bad rows, [{"line": n, "reason": "..."}]: a file of nothing but bad
    # rows would otherwise make a list as large as itself.
    problems: Mapped[list] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)  # why the whole file was refused, or the run failed
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
