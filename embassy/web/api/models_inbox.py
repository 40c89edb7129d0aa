"""The inbox endpoints' bodies as typed models (the schemas of ``/api/v1/openapi.json`` for them).

A token holds no inbox key, so a case's entries come with their kind, author and time, and
``sealed: true``, never their content (reading needs an officer's signed-in session).
"""

from typing import Literal

from pydantic import Field

from embassy.contact.model import CHANNELS, STATUSES
from embassy.web.api.models import TIME, Request, Response

MAX_REPLY = 8000
Channel = Literal["emergency", "consular", "general"]
Status = Literal["new", "in_progress", "waiting", "closed"]
assert set(Channel.__args__) == set(CHANNELS) and set(Status.__args__) == set(STATUSES)  # type: ignore[attr-defined]


class CaseSummary(Response):
    id: str = Field(pattern=r"^[0-9a-f]{16}$")
    channel: Channel
    type: str
    lang: str
    status: Status
    received: str = Field(json_schema_extra=TIME)
    priority: int = Field(description="0 emergency, 1 consular service, 2 general inquiry")
    updated: str = Field(json_schema_extra=TIME)
    review: bool = Field(description="Sent without the proof of work (no JavaScript): flagged for review")
    assigned: str | None
    closed: str | None = Field(json_schema_extra=TIME)


class Inbox(Response):
    cases: list[CaseSummary]


class CaseEntry(Response):
    kind: Literal["inquiry", "followup", "reply"]
    author: str
    created: str = Field(json_schema_extra=TIME)
    attachments: int
    sealed: Literal[True]


class CaseDetail(CaseSummary):
    entries: list[CaseEntry]
    message: None = Field(description="Always null through the API: a token holds no inbox key")


class Reply(Request):
    body: str = Field(min_length=1, max_length=MAX_REPLY, description="Sealed to the code holder and the inbox")
    status: Status | None = Field(default=None, description="Also set the case's status")


class StatusChange(Request):
    status: Status
