"""Who may do what with content, decided here only: the staff area's route table and the API's
endpoint table take their roles from :data:`ACTION_ROLES`, and the workflow checks them again (and
the two-person rule, which needs the edition) before it changes anything.

- editors and publishers write: create items, edit drafts, start translations, upload images, submit;
- publishers approve (never an edition they wrote), publish approved editions (now or at a time),
  withdraw, and review an urgent publication (never their own);
- a publisher may publish an edition nobody approved only with a written reason (urgent): it stays
  marked "not yet reviewed" until another publisher reviews it;
- admins remove an item for legal reasons (410); reading the staff lists needs any of these roles.
"""

from dataclasses import dataclass

from embassy.publishing.errors import NotAllowedError

WRITERS = frozenset({"editor", "publisher"})
PUBLISHERS = frozenset({"publisher"})
ADMINS = frozenset({"admin"})
READERS = frozenset({"editor", "publisher", "admin"})

ACTION_ROLES: dict[str, frozenset[str]] = {
    "read": READERS,
    "create": WRITERS,
    "edit": WRITERS,
    "translate": WRITERS,
    "upload": WRITERS,
    "submit": WRITERS,
    "discard": WRITERS,
    "approve": PUBLISHERS,
    "publish": PUBLISHERS,
    "withdraw": PUBLISHERS,
    "review": PUBLISHERS,
    "remove": ADMINS,
}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: an account name and the roles it may use now (a token's scopes, a session's roles)."""

    name: str
    roles: frozenset[str]


def may(actor: Actor, action: str) -> bool:
    return bool(ACTION_ROLES[action] & actor.roles)


def require(actor: Actor, action: str) -> None:
    if not may(actor, action):
        wanted = " or ".join(sorted(ACTION_ROLES[action]))
        raise NotAllowedError(f"{action} needs the role {wanted}; {actor.name} has {', '.join(sorted(actor.roles)) or 'none'}")
