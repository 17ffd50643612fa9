"""Feeds: fetch (httpx), parse (feedparser), sanitize (nh3) and poll into articles."""
