"""Analyst Digest: the newsletter and biweekly email digest of the Central Asia-Caucasus Analyst."""
