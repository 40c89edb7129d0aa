"""Errors of the content package; the web layer maps them to HTTP statuses, the CLI to exit codes."""


class ContentError(Exception):
    """Root of every error raised by ``embassy.content``."""


class StatementError(ContentError):
    """A statement document is malformed, signed by an unknown key, or its signature does not verify."""


class KeysDocumentError(StatementError):
    """A file given as the mission's embassy-keys.json is not such a document."""
