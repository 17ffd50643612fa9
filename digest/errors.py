"""Errors a user can cause: each names the input at fault, and the operation changed nothing."""


class InputError(Exception):
    """Bad input from a person (CLI, web form, API); the message says which input and why."""


class NotFound(InputError):
    """A referenced object (edition, feed, subscriber) does not exist."""


class Conflict(InputError):
    """The request is valid but the object's state does not allow it (e.g. approving a sent edition)."""
