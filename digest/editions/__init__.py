"""Editions: the biweekly cadence, composition, approval and rendering of the digest email."""
