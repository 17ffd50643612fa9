"""The web app: public pages (archive, unsubscribe), editor previews, health."""
