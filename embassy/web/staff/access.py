"""Who may use which staff route, decided in one place: each route's :class:`Access` in the
route table (routes.py), enforced by one middleware (middleware.py) before any view runs.

- ``stages``: the session stages the route serves (embassy/staff/sessions.py); none at all means
  the route needs no session (the sign-in page, static files).
- ``roles``: with a signed-in session, the account needs one of these (none listed: any role).

Outcomes: no session (or an expired one) → 302 to /staff/login; a session in another stage →
302 to where that stage continues; a signed-in account without the role → 403.
"""

from dataclasses import dataclass, field

from embassy.publishing.rules import ACTION_ROLES
from embassy.staff.sessions import Session

ALL_STAGES = frozenset({"factor", "password", "enrol", "full"})


@dataclass(frozen=True, slots=True)
class Access:
    stages: frozenset[str] = frozenset()
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def public(self) -> bool:
        return not self.stages


PUBLIC = Access()
SIGNED_IN = Access(frozenset({"full"}))
ADMIN = Access(frozenset({"full"}), frozenset({"admin"}))
INBOX = Access(frozenset({"full"}), frozenset({"consular", "admin"}))
SECOND_FACTOR = Access(frozenset({"factor"}))
NEW_PASSWORD = Access(frozenset({"password", "full"}))
ENROL = Access(frozenset({"enrol", "full"}))
ANY_SESSION = Access(ALL_STAGES)


def can(action: str) -> Access:
    """Signed in with a role that may do ``action`` with content (embassy/publishing/rules.py)."""
    return Access(frozenset({"full"}), ACTION_ROLES[action])

# Where a session in each stage continues.
CONTINUE = {
    "factor": "/staff/login/factor",
    "password": "/staff/account/password",
    "enrol": "/staff/account/factors",
    "full": "/staff/",
}


@dataclass(frozen=True, slots=True)
class Decision:
    """``allow``, or the status to answer with (and where to, for a redirect)."""

    status: int = 0
    location: str = ""

    @property
    def allowed(self) -> bool:
        return self.status == 0


ALLOW = Decision()


def decide(access: Access, session: Session | None, roles: frozenset[str]) -> Decision:
    if access.public:
        return ALLOW
    if session is None:
        return Decision(302, "/staff/login")
    if session.stage not in access.stages:
        return Decision(302, CONTINUE[session.stage])
    if session.full and access.roles and not access.roles & roles:
        return Decision(403)
    return ALLOW
