"""User-facing errors.

Anything the user can fix (a bad path, a wrong option, a corrupt image, a missing weight file)
raises :class:`StylexError` with a message that names the file or option and says what to do.
The command line prints the message and exits with status 2; it never shows a traceback for these.
"""


class StylexError(Exception):
    """An error caused by user input or the environment, with an actionable message."""
