"""The staff API's request and response bodies as typed models: they validate what comes in, shape
what goes out, and are where ``/api/v1/openapi.json`` takes its schemas from (openapi.py).

Requests refuse unknown fields and values of the wrong type (no coercion: ``"major": "yes"`` is a
422, not ``true``); lengths and formats beyond the shape (slugs, times, alt texts) are the
workflow's checks (``embassy/publishing/fields.py``), answered 422 with the field's name as well.
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from embassy.content.model import KINDS, SEVERITIES
from embassy.publishing import fields
from embassy.publishing.store import STATES

Kind = Literal["news", "page", "alert"]
State = Literal["draft", "submitted", "approved", "scheduled", "published", "superseded", "withdrawn"]
Severity = Literal["info", "warning", "critical"]
assert set(Kind.__args__) == set(KINDS) and set(State.__args__) == set(STATES)  # type: ignore[attr-defined]
assert set(Severity.__args__) == set(SEVERITIES)  # type: ignore[attr-defined]

LANG = r"^[a-z]{2,3}$"  # the document narrows it to the mission's languages (openapi.py)
SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
TIME: JsonDict = {"format": "date-time"}


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- requests ------------------------------------------------------------------------------------


class EditionText(Request):
    title: str = Field(min_length=1, max_length=fields.MAX_TITLE)
    summary: str = Field(default="", max_length=fields.MAX_SUMMARY)
    body: str = Field(default="", max_length=fields.MAX_BODY, description="Markdown; images as ![alt](image:ID)")
    change_note: str = Field(default="", max_length=fields.MAX_NOTE, description="What changed (shown in the history if major)")
    major: bool = Field(default=True, description="A major change appears in the public history and the feed")


class NewItem(Request):
    kind: Kind
    lang: str = Field(pattern=LANG)
    title: str = Field(min_length=1, max_length=fields.MAX_TITLE)
    summary: str = Field(default="", max_length=fields.MAX_SUMMARY)
    body: str = Field(default="", max_length=fields.MAX_BODY, description="Markdown")
    slug: str | None = Field(default=None, max_length=fields.MAX_SLUG, pattern=SLUG, description="Default: made from the title")
    severity: Severity = Field(default="warning", description="Alerts only")
    countries: list[Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")]] = Field(
        default_factory=list, max_length=fields.MAX_COUNTRIES, description="Alerts only: ISO 3166 codes"
    )
    expires: str | None = Field(default=None, max_length=40, json_schema_extra=TIME,
                                description="Alerts only: ISO 8601, no longer a banner after")  # fmt: skip
    section: str = Field(default="about", max_length=20, description="Pages only")
    parent: str | None = Field(default=None, max_length=fields.MAX_SLUG, pattern=SLUG,
                               description="Pages only: the parent page's slug")  # fmt: skip


class NewEdition(Request):
    """A new draft in a language: an update (text given), or a translation (``source``: the language
    to start from; the text may be left out to start from the source's)."""

    title: str | None = Field(default=None, min_length=1, max_length=fields.MAX_TITLE)
    summary: str = Field(default="", max_length=fields.MAX_SUMMARY)
    body: str = Field(default="", max_length=fields.MAX_BODY)
    change_note: str = Field(default="", max_length=fields.MAX_NOTE)
    major: bool = True
    source: str | None = Field(default=None, pattern=LANG)


class Publish(Request):
    at: str | None = Field(default=None, max_length=40, json_schema_extra=TIME,
                           description="ISO 8601 with offset; absent or past: now")  # fmt: skip
    urgent_reason: str | None = Field(
        default=None, max_length=fields.MAX_REASON,
        description="Publishers only: publish without approval; kept in the audit log; flagged until reviewed",
    )  # fmt: skip


class Reason(Request):
    reason: str = Field(min_length=1, max_length=fields.MAX_REASON)


class Empty(Request):
    pass


# -- responses -----------------------------------------------------------------------------------


class Error(Response):
    error: str
    field: str | None = None


class Index(Response):
    name: str
    version: str
    openapi: str


class Me(Response):
    name: str
    roles: list[str]
    token: str


class Account(Response):
    name: str
    roles: list[str]
    factors: list[str]
    disabled: bool
    last_sign_in: str | None
    created: str
    must_change_password: bool
    recovery_codes_left: int


class Accounts(Response):
    accounts: list[Account]


class AuditEntry(Response):
    seq: int
    time: str
    actor: str
    action: str
    detail: dict[str, Any]
    hash: str


class Audit(Response):
    entries: list[AuditEntry]
    more: bool


class EditionSummary(Response):
    lang: str
    edition: int
    state: State
    title: str
    author: str
    published: str | None
    unreviewed: bool


class ItemSummary(Response):
    id: str
    kind: Kind
    slug: str
    editions: list[EditionSummary]


class Items(Response):
    items: list[ItemSummary]


class EditionFull(Response):
    item: str
    lang: str
    edition: int
    state: State
    title: str
    summary: str
    body_md: str
    body_html: str
    change_note: str
    major: bool
    source_lang: str | None
    source_number: int | None
    author: str
    created: str
    updated: str
    submitted: str | None
    approved_by: str | None
    approved: str | None
    publish_at: str | None
    published: str | None
    published_by: str | None
    urgent_reason: str | None
    reviewed_by: str | None
    reviewed: str | None
    statement_id: str | None
    withdrawn: str | None
    withdrawn_by: str | None
    withdrawn_reason: str | None
    withdrawal_statement: str | None
    unreviewed: bool


class Translation(Response):
    lang: str
    status: Literal["current", "outdated", "missing"]
    working: State | None
    source: str | None


class Image(Response):
    id: str
    width: int
    height: int
    urls: list[str]
    markdown: str


class ItemFull(Response):
    id: str
    kind: Kind
    slug: str
    section: str
    parent: str | None
    severity: Severity | None
    countries: list[str]
    expires: str | None
    created: str
    created_by: str
    first_published: str | None
    removed: str | None
    removed_reason: str | None
    editions: list[EditionFull]
    translations: list[Translation]
    images: list[Image]


class Outcome(Response):
    id: str
    lang: str
    edition: int
    state: Literal["draft", "submitted", "approved", "scheduled", "published", "superseded", "withdrawn", "discarded"]
    url: str | None = None
    statement: str | None = None


class Removed(Response):
    id: str
    removed: str
    reason: str


class TranslationRow(Response):
    id: str
    kind: Kind
    slug: str
    title: str
    translations: list[Translation]


class TranslationsOverview(Response):
    items: list[TranslationRow]
