"""Errors of the publishing workflow; the staff area and the API map them to pages and statuses."""


class PublishingError(Exception):
    """Root of every error raised by ``embassy.publishing``."""


class NotFoundError(PublishingError):
    """No such item, edition or image (or it was removed)."""


class StateError(PublishingError):
    """The edition is not in a state that allows this (submit a published edition, approve a draft)."""


class NotAllowedError(PublishingError):
    """The actor's roles do not allow this, or the two-person rule forbids it (approving one's own edition)."""


class InvalidFieldError(PublishingError):
    """A field's value is refused; ``field`` names it, the message says why and what would do."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ImageError(InvalidFieldError):
    """An upload that is not a JPEG, PNG or WebP image we can read, or is too big in pixels."""

    def __init__(self, message: str) -> None:
        super().__init__("image", message)


class ImageTooLargeError(ImageError):
    """An upload over the size limit in bytes."""
