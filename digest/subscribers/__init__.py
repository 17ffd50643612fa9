"""Subscribers: addresses, lifecycle (add, confirm, unsubscribe) and signed per-reader tokens."""
