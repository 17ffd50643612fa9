"""The trends across editions as the dashboard and the reports page show them: charts and the
figures behind them, from one call."""

from __future__ import annotations

from sqlalchemy.orm import Session

from digest.reports.charts import bar_chart, line_chart
from digest.reports.trends import clicks_by, clicks_by_tag, edition_trends


def _percent_axis(value: float) -> str:
    return f"{value * 100:.1f}%"


def trend_charts(session: Session, count: int) -> dict:
    trends = edition_trends(session, count)
    labels = [str(t.period) for t in trends]
    sections, authors = clicks_by(session, "section", count), clicks_by(session, "author", count)
    tags = clicks_by_tag(session, count)
    return {
        "trends": trends,
        "sections": sections,
        "authors": authors,
        "tags": tags,
        "rates_chart": line_chart("Delivery and click rate per edition", labels, [
            ("Delivery rate", [t.delivery_rate for t in trends]),
            ("Click rate (people)", [t.click_rate for t in trends])], fmt=_percent_axis),
        "losses_chart": line_chart("Unsubscribe and complaint rate per edition", labels, [
            ("Unsubscribe rate", [t.unsubscribe_rate for t in trends]),
            ("Complaint rate", [t.complaint_rate for t in trends])], fmt=_percent_axis),
        "list_chart": line_chart("List size at each send", labels, [
            ("Confirmed", [t.confirmed for t in trends]), ("Unsubscribed", [t.unsubscribed for t in trends]),
            ("Suppressed", [t.suppressed for t in trends])]),
        "sections_chart": bar_chart("People who clicked, by section", sections),
        "authors_chart": bar_chart("People who clicked, by author", authors),
        "tags_chart": bar_chart("People who clicked, by tag", tags),
        "complaint_warnings": [t for t in trends if t.complaint_warning],
    }
