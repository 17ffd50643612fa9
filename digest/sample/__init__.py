"""Bundled sample content: an original Analyst-style K2 section feed used by the demo and the quickstart."""
