"""Errors of the content package; the web layer maps them to HTTP statuses, the CLI to exit codes."""


class ContentError(Exception):
    """Root of every error raised by ``embassy.content``."""


class StatementError(ContentError):
    """A statement document is malformed, signed by an unknown key, or its signature does not verify."""
