"""The send ledger: what each reader's state is in each edition.

A reader's state is their delivery row, or else (a member of a planned batch with no row yet)
their batch's state. Rows are written in one module (writer) and states are read in one module
(states); nothing else inserts delivery rows or counts them by status
(tests/test_ledger_boundary.py). docs/architecture.md has the state table."""
