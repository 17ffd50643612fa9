"""Alerts: new articles on the topics readers follow at pace alert, held a while, then sent as
an edition of kind alert through the same planning, batches, claims and ledger as the digest."""
