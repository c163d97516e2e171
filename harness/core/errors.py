"""The one exception type users see: a message that says what went wrong and where."""


class HarnessError(Exception):
    """A user-facing error. The CLI prints its message alone, without a traceback."""
