"""The contact channels' errors: one root, mapped to HTTP statuses in the views and exit codes in the CLI."""


class ContactError(Exception):
    """A submission, case or inbox operation could not be done."""


class NotOpenError(ContactError):
    """The inbox has no key yet (`embassy inbox init`): nothing can be sealed, so nothing is accepted."""


class CodeFormatError(ContactError):
    """A tracking code that is malformed or fails its check character."""


class InvalidSubmissionError(ContactError):
    """Fields a visitor must correct; ``problems`` maps each field to a key for the page's words."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("the form has fields to correct: " + ", ".join(sorted(problems)))
        self.problems = problems


class AttachmentError(ContactError):
    """An attachment that is not a PDF, JPEG or PNG, or too large, or one too many."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class FormTokenError(ContactError):
    """A public form's token is forged, expired or already used; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"form token {reason}")
        self.reason = reason


class CaseNotFoundError(ContactError):
    """No case has this id (staff) or this tracking code (public)."""


class WrongStateError(ContactError):
    """The case or inbox is not in a state that allows this (a closed case, a missing grant)."""


class InboxLockedError(ContactError):
    """This session or caller does not hold the inbox key: sealed content cannot be shown."""


class BusyError(ContactError):
    """Too many key derivations are waiting already; the client should try again shortly."""
