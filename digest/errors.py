"""Errors a person can cause (CLI, web form, API): each names the input at fault, and the
operation changed nothing. What each means decides how every surface answers it."""


class UserError(Exception):
    """Something a person asked for cannot be done; the message says which input and why."""


class InputError(UserError):
    """Bad input, or a request the object's state refuses: a form shows it again with this message
    (400), the CLI prints it."""


class Conflict(InputError):
    """The request is valid but the object's state does not allow it (e.g. approving a sent edition)."""


class NotFound(UserError):
    """A referenced object (edition, feed, subscriber) does not exist: a 404, never the form again."""
