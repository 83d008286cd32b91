"""Errors a person can act on: printed as one line, never a traceback."""


class UserError(Exception):
    """Bad input or a missing piece the user can fix. The message is the whole one-line story:
    what (file, field), what is wrong, and how to fix it."""

    exit_code = 2
