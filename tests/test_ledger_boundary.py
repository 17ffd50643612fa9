"""The ledger has one writer and one reader (digest/ledger/__init__.py): delivery rows are inserted
only in digest/ledger/writer.py, and deliveries are counted or grouped by status only in
digest/ledger/states.py, which knows that a member of a planned batch may have no row yet. A
query elsewhere that counted rows by status would undercount every send until reconciliation
writes the members' rows; this test names it."""

from __future__ import annotations

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
WRITER = ROOT / "digest" / "ledger" / "writer.py"
READER = ROOT / "digest" / "ledger" / "states.py"
AGGREGATES = ("func.count", "func.sum", "func.max", "func.min", "group_by(")


def _sources() -> list[pathlib.Path]:
    return sorted([*(ROOT / "digest").rglob("*.py"), *(ROOT / "workers").rglob("*.py")])


def _statements(path: pathlib.Path):
    """Each outermost call chain of the file (a whole query), with its line and source."""
    tree = ast.parse(path.read_text())
    inner: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and id(node) not in inner:
            for child in ast.walk(node):
                if child is not node:
                    inner.add(id(child))
            yield node.lineno, ast.unparse(node)


def _inserts_deliveries(source: str) -> bool:
    if "INSERT INTO deliveries" in source or re.match(r"Delivery\(", source):
        return True
    inserting = "insert(" in source or "insert_ignoring_duplicates(" in source
    return inserting and re.search(r"\bDelivery\b(?![A-Za-z])", source) is not None


def _counts_by_status(source: str) -> bool:
    return "Delivery.status" in source and any(aggregate in source for aggregate in AGGREGATES)


def offences(check, allowed: pathlib.Path) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{line}: {source[:120]}"
            for path in _sources() if path != allowed
            for line, source in _statements(path) if check(source)]


def test_only_the_writer_inserts_delivery_rows():
    assert offences(_inserts_deliveries, WRITER) == []


def test_only_the_read_model_counts_deliveries_by_status():
    assert offences(_counts_by_status, READER) == []


def test_the_checks_see_what_they_look_for():
    """The checks themselves, on the statements they exist to catch."""
    assert _counts_by_status("session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))")
    assert _counts_by_status("select(func.count()).where(Delivery.edition_id == 1, Delivery.status == 'accepted')")
    assert _counts_by_status("func.sum(case((Delivery.status.in_(HANDED_OVER), 1), else_=0))")
    assert not _counts_by_status("update(Delivery).where(Delivery.status == 'pending').values(status='cancelled')")
    assert _inserts_deliveries("insert_ignoring_duplicates(session, Delivery.__table__)")
    assert _inserts_deliveries("text('INSERT INTO deliveries (edition_id) VALUES (1)')")
    assert _inserts_deliveries("Delivery(edition_id=1, subscriber_id=2, email='a@example.org')")
    assert not _inserts_deliveries("insert_ignoring_duplicates(session, DeliveryEvent.__table__)")
    assert any(_counts_by_status(source) for _, source in _statements(READER))
    assert any(_inserts_deliveries(source) for _, source in _statements(WRITER))
