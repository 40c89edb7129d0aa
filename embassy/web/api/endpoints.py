"""Every API endpoint with the roles it needs and its typed request and response: the one table the
API's middleware (roles), the router and the OpenAPI document (openapi.py) read.

``roles=None``: no token needed (the index and the OpenAPI document); an empty set: any valid
token; else the token must carry one of the roles (its scopes as the account holds them now). The
publishing endpoints take their roles from ``embassy/publishing/rules.py``, which the workflow
checks again with the two-person rule.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from pydantic import BaseModel

from embassy.publishing.rules import ACTION_ROLES
from embassy.web.api import models as m
from embassy.web.api import models_inbox as mi
from embassy.web.api import models_replication as mr
from embassy.web.api import views, views_inbox
from embassy.web.api import views_items as items

View = Callable[[web.Request], Awaitable[web.StreamResponse]]
ANY_TOKEN: frozenset[str] = frozenset()
OFFICERS = frozenset({"consular", "admin"})


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    description: str
    enum: tuple[str, ...] = ()
    integer: bool = False


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str  # below /api/v1
    name: str
    roles: frozenset[str] | None
    view: View
    summary: str
    response: type[BaseModel] | None = None  # None: the OpenAPI document itself
    status: int = 200
    request: type[BaseModel] | None = None  # a JSON body of this model
    image_body: bool = False  # the body is an image's bytes
    query: tuple[Query, ...] = ()
    conflicts: bool = False  # may answer 409 (wrong state)


R = ACTION_ROLES
EDITION = "/items/{id}/editions/{lang}"
ITEM_QUERY = (
    Query("state", "items having an edition in this state", ("draft", "submitted", "approved", "scheduled",
                                                              "published", "superseded", "withdrawn")),
    Query("kind", "items of this kind", ("news", "page", "alert")),
    Query("lang", "items having an edition in this language (and only those editions)"),
)  # fmt: skip

ENDPOINTS = (
    Endpoint("GET", "/", "api_index", None, views.index, "What this API is and where its description lives", m.Index),
    Endpoint("GET", "/openapi.json", "api_openapi", None, views.openapi, "This API's OpenAPI 3.1 description"),
    Endpoint("GET", "/me", "api_me", ANY_TOKEN, views.me, "The account and roles the token speaks for", m.Me),
    Endpoint("GET", "/staff", "api_staff", frozenset({"admin"}), views.staff, "Staff accounts (admin)", m.Accounts),
    Endpoint("GET", "/replication", "api_replication", frozenset({"admin"}), views.replication, "Continuous "
             "replication: stores, registries, snapshots per store, RPO, figures, alerts (admin)", mr.Replication),
    Endpoint("GET", "/audit", "api_audit", frozenset({"admin"}), views.audit, "Audit log entries after seq N (admin)",
             m.Audit, query=(Query("after", "the number of the last entry you have (0 for all)", integer=True),)),
    Endpoint("GET", "/items", "api_items", R["read"], items.list_items, "Items with their editions", m.Items,
             query=ITEM_QUERY),
    Endpoint("POST", "/items", "api_item_create", R["create"], items.create_item, "A new item, as a draft in one "
             "language", m.Outcome, 201, m.NewItem),
    Endpoint("GET", "/items/{id}", "api_item", R["read"], items.get_item, "One item: every edition, its translations' "
             "state, its images", m.ItemFull),
    Endpoint("POST", "/items/{id}/remove", "api_item_remove", R["remove"], items.remove, "Remove an item for legal "
             "reasons: 410 everywhere (admin; the reason is audited)", m.Removed, request=m.Reason, conflicts=True),
    Endpoint("POST", "/items/{id}/images", "api_item_image", R["upload"], items.upload_image, "Upload an image (JPEG, "
             "PNG, WebP; re-encoded without metadata, resized) for the item's bodies", m.Image, 201, image_body=True),
    Endpoint("POST", EDITION, "api_edition_new", R["edit"], items.new_edition, "A new edition as a draft: an update, or "
             "a translation from a source language", m.Outcome, 201, m.NewEdition, conflicts=True),
    Endpoint("PUT", EDITION, "api_edition_edit", R["edit"], items.edit_edition, "Change the edition in progress (it "
             "becomes a draft again)", m.Outcome, request=m.EditionText, conflicts=True),
    Endpoint("DELETE", EDITION, "api_edition_discard", R["discard"], items.discard, "Discard the edition in progress",
             m.Outcome, conflicts=True),
    Endpoint("POST", EDITION + "/submit", "api_edition_submit", R["submit"], items.submit, "Submit the draft for "
             "review", m.Outcome, request=m.Empty, conflicts=True),
    Endpoint("POST", EDITION + "/approve", "api_edition_approve", R["approve"], items.approve, "Approve a submitted "
             "edition (never one's own)", m.Outcome, request=m.Empty, conflicts=True),
    Endpoint("POST", EDITION + "/publish", "api_edition_publish", R["publish"], items.publish, "Publish the approved "
             "edition now or at a time; or, urgently with a reason, one not approved", m.Outcome, request=m.Publish,
             conflicts=True),
    Endpoint("POST", EDITION + "/review", "api_edition_review", R["review"], items.review, "Review an urgent "
             "publication (someone other than who published it)", m.Outcome, request=m.Empty, conflicts=True),
    Endpoint("POST", EDITION + "/withdraw", "api_edition_withdraw", R["withdraw"], items.withdraw, "Withdraw the "
             "published edition (the page stays, with the reason)", m.Outcome, request=m.Reason, conflicts=True),
    Endpoint("GET", "/translations", "api_translations", R["read"], items.translations, "Per item, which languages "
             "are missing or older than the newest major edition", m.TranslationsOverview),
    Endpoint("GET", "/inbox", "api_inbox", OFFICERS, views_inbox.inbox, "The consular queue, emergency first, then "
             "oldest", mi.Inbox, query=(Query("channel", "cases of this channel", ("emergency", "consular", "general")),
                                        Query("status", "cases in this status (default: every open one)",
                                              ("new", "in_progress", "waiting", "closed", "all")))),
    Endpoint("GET", "/cases/{id}", "api_case", OFFICERS, views_inbox.case, "A case's metadata and its entries' kinds "
             "and times; their content stays sealed (a token holds no inbox key)", mi.CaseDetail),
    Endpoint("POST", "/cases/{id}/reply", "api_case_reply", OFFICERS, views_inbox.reply, "Reply to a case, sealed to "
             "its code holder and the inbox", mi.CaseSummary, 201, mi.Reply),
    Endpoint("POST", "/cases/{id}/status", "api_case_status", OFFICERS, views_inbox.status, "Set a case's status",
             mi.CaseSummary, request=mi.StatusChange),
)  # fmt: skip

ROLES_BY_NAME = {e.name: e.roles for e in ENDPOINTS}


def setup_routes(app: web.Application) -> None:
    for e in ENDPOINTS:
        app.router.add_route(e.method, e.path, e.view, name=e.name)
