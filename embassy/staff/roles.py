"""The staff roles and what a name may look like."""

import re
from collections.abc import Iterable

from embassy.staff.errors import InvalidNameError, RoleError

ROLES = ("admin", "editor", "publisher", "consular")
NAME_RE = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise InvalidNameError(
            f"{name!r} is not a staff name; use 2-32 of a-z, 0-9, '.', '_', '-' starting with a letter"
        )
    return name


def parse_roles(roles: Iterable[str]) -> tuple[str, ...]:
    """Known roles, each once, in the canonical order; at least one."""
    wanted = set(roles)
    unknown = sorted(wanted - set(ROLES))
    if unknown:
        raise RoleError(f"{unknown[0]!r} is not a role; use one of {', '.join(ROLES)}")
    if not wanted:
        raise RoleError(f"give at least one role: {', '.join(ROLES)}")
    return tuple(r for r in ROLES if r in wanted)
