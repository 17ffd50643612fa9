"""The store: models, engine and sessions shared by every part of the service."""
