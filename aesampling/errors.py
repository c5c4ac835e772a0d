"""Exceptions for mistakes a user can make and fix.

Scripts turn these into a one-line message and a non-zero exit; anything
else is a bug and keeps its traceback.
"""


class UserInputError(ValueError):
    """Bad input from the user: a wrong flag value, file, model or dataset."""


class DataUnavailableError(UserInputError):
    """A dataset or weights file cannot be obtained (for example, offline)."""
