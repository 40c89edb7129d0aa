"""The root of the static mirror's errors (the CLI reports each as one line)."""


class MirrorError(Exception):
    """Root of the mirror's errors."""
