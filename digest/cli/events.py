"""Events: `digest events reclassify`."""

from __future__ import annotations

from digest.cli.common import EditionOption, console, events_app, transaction


@events_app.command("reclassify")
def events_reclassify(edition_id: EditionOption = None) -> None:
    """Decide again who made each kept open and click (person, machine or unknown) under today's
    SCANNER_* settings, and move the reports' counts of those whose maker changed: one edition,
    or every edition with any. Each edition is its own transaction."""
    from digest.editions.lookup import get_edition
    from digest.reports.reclassify import editions_with_engagement, reclassify_edition

    if edition_id is not None:
        with transaction() as session:
            get_edition(session, edition_id)
        editions = [edition_id]
    else:
        with transaction() as session:
            editions = editions_with_engagement(session)
    for edition in editions:
        with transaction() as session:
            done = reclassify_edition(session, edition)
        console.print(f"edition {edition}: {done.classified} opens and clicks classified, {done.changed} changed"
                      + (f", {done.moved} to another maker" if done.moved else "")
                      + (" (counts rebuilt)" if done.recounted else " (counts moved)" if done.moved else ""),
                      highlight=False, soft_wrap=True)
    if not editions:
        console.print("no opens or clicks kept yet")
