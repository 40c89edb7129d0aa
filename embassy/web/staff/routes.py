"""Every route of the staff area with who may use it: the one table the access middleware reads."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from embassy.web.staff import access
from embassy.web.staff import views_account as account
from embassy.web.staff import views_admin as admin
from embassy.web.staff import views_editions as editions
from embassy.web.staff import views_inbox as inbox
from embassy.web.staff import views_items as items
from embassy.web.staff import views_signin as signin
from embassy.web.staff.access import Access, can

View = Callable[[web.Request], Awaitable[web.StreamResponse]]
EDIT_BODY = 1024 * 1024  # an edition's form: a body of 100,000 characters, percent-encoded
UPLOAD_BODY = 11 * 1024 * 1024  # an image of up to 10 MiB and its form


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # below /staff
    name: str
    access: Access
    view: View
    max_body: int = 0  # a larger body than the site's forms (0: the site's limit)
    files: frozenset[str] = frozenset()  # fields that may carry a file (multipart)


ROUTES = (
    Route("GET", "/", "staff_home", access.SIGNED_IN, account.home),
    Route("GET", "/login", "staff_login", access.PUBLIC, signin.login_page),
    Route("POST", "/login", "staff_login_post", access.PUBLIC, signin.login_post),
    Route("GET", "/login/factor", "staff_factor", access.SECOND_FACTOR, signin.factor_page),
    Route("POST", "/login/totp", "staff_factor_totp", access.SECOND_FACTOR, signin.totp_post),
    Route("POST", "/login/recovery", "staff_factor_recovery", access.SECOND_FACTOR, signin.recovery_post),
    Route("POST", "/login/passkey/options", "staff_factor_passkey_options", access.SECOND_FACTOR,
          signin.passkey_options),
    Route("POST", "/login/passkey", "staff_factor_passkey", access.SECOND_FACTOR, signin.passkey_post),
    Route("POST", "/logout", "staff_logout", access.ANY_SESSION, signin.logout),
    Route("GET", "/account", "staff_account", access.SIGNED_IN, account.account_page),
    Route("GET", "/account/password", "staff_password", access.NEW_PASSWORD, account.password_page),
    Route("POST", "/account/password", "staff_password_post", access.NEW_PASSWORD, account.password_post),
    Route("GET", "/account/factors", "staff_factors", access.ENROL, account.factors_page),
    Route("GET", "/account/totp", "staff_totp", access.ENROL, account.totp_page),
    Route("POST", "/account/totp", "staff_totp_post", access.ENROL, account.totp_post),
    Route("POST", "/account/totp/remove", "staff_totp_remove", access.SIGNED_IN, account.totp_remove),
    Route("POST", "/account/passkeys/options", "staff_passkey_options", access.ENROL, account.passkey_options),
    Route("POST", "/account/passkeys", "staff_passkey_post", access.ENROL, account.passkey_post),
    Route("POST", "/account/passkeys/remove", "staff_passkey_remove", access.SIGNED_IN, account.passkey_remove),
    Route("POST", "/account/recovery-codes", "staff_recovery_codes", access.SIGNED_IN, account.recovery_codes),
    Route("GET", "/sessions", "staff_sessions", access.SIGNED_IN, account.sessions_page),
    Route("POST", "/sessions/end", "staff_sessions_end", access.SIGNED_IN, account.sessions_end),
    Route("GET", "/tokens", "staff_tokens", access.SIGNED_IN, account.tokens_page),
    Route("POST", "/tokens", "staff_tokens_post", access.SIGNED_IN, account.tokens_post),
    Route("POST", "/tokens/revoke", "staff_tokens_revoke", access.SIGNED_IN, account.tokens_revoke),
    Route("GET", "/admin/accounts", "staff_admin_accounts", access.ADMIN, admin.accounts_page),
    Route("POST", "/admin/accounts", "staff_admin_accounts_post", access.ADMIN, admin.accounts_post),
    Route("POST", "/admin/accounts/{name}", "staff_admin_account_action", access.ADMIN, admin.account_action),
    Route("POST", "/admin/sessions/end", "staff_admin_sessions_end", access.ADMIN, admin.sessions_end),
    Route("GET", "/admin/audit", "staff_admin_audit", access.ADMIN, admin.audit_page),
    Route("GET", "/inbox", "staff_inbox", access.INBOX, inbox.inbox_page),
    Route("GET", "/inbox/access", "staff_inbox_access", access.INBOX, inbox.access_page),
    Route("POST", "/inbox/access", "staff_inbox_access_post", access.INBOX, inbox.access_post),
    Route("GET", "/inbox/cases/{case}", "staff_case", access.INBOX, inbox.case_page),
    Route("POST", "/inbox/cases/{case}/reply", "staff_case_reply", access.INBOX, inbox.reply_post),
    Route("POST", "/inbox/cases/{case}/status", "staff_case_status", access.INBOX, inbox.status_post),
    Route("POST", "/inbox/cases/{case}/assign", "staff_case_assign", access.INBOX, inbox.assign_post),
    Route("GET", "/inbox/cases/{case}/attachments/{n}", "staff_case_attachment", access.INBOX, inbox.attachment),
    Route("GET", "/static/{name}", "staff_static", access.PUBLIC, signin.static),
    # publishing: the roles of each action are embassy/publishing/rules.py's (the workflow checks them again)
    Route("GET", "/items", "staff_items", can("read"), items.items_page),
    Route("GET", "/items/new", "staff_item_new", can("create"), items.new_page),
    Route("POST", "/items", "staff_item_create", can("create"), items.create, max_body=EDIT_BODY),
    Route("GET", "/items/{id}", "staff_item", can("read"), items.item_page),
    Route("POST", "/items/{id}/images", "staff_item_image", can("upload"), items.upload, max_body=UPLOAD_BODY,
          files=frozenset({"image"})),
    Route("POST", "/items/{id}/remove", "staff_item_remove", can("remove"), items.remove),
    Route("GET", "/translations", "staff_translations", can("read"), items.translations_page),
    Route("GET", "/items/{id}/{lang}/edit", "staff_edition_edit", can("edit"), editions.edit_page),
    Route("POST", "/items/{id}/{lang}/edit", "staff_edition_save", can("edit"), editions.save, max_body=EDIT_BODY),
    Route("GET", "/items/{id}/{lang}/preview", "staff_edition_preview", can("read"), editions.preview),
    Route("POST", "/items/{id}/{lang}/new", "staff_edition_new", can("edit"), editions.act),
    Route("POST", "/items/{id}/{lang}/submit", "staff_edition_submit", can("submit"), editions.act),
    Route("POST", "/items/{id}/{lang}/approve", "staff_edition_approve", can("approve"), editions.act),
    Route("POST", "/items/{id}/{lang}/publish", "staff_edition_publish", can("publish"), editions.act),
    Route("POST", "/items/{id}/{lang}/review", "staff_edition_review", can("review"), editions.act),
    Route("POST", "/items/{id}/{lang}/withdraw", "staff_edition_withdraw", can("withdraw"), editions.act),
    Route("POST", "/items/{id}/{lang}/discard", "staff_edition_discard", can("discard"), editions.act),
)  # fmt: skip

ACCESS = {r.name: r.access for r in ROUTES}
BODY_LIMITS = {r.name: r.max_body for r in ROUTES if r.max_body}
FILE_FIELDS = {r.name: r.files for r in ROUTES if r.files}


def setup_routes(app: web.Application) -> None:
    for r in ROUTES:
        app.router.add_route(r.method, r.path, r.view, name=r.name)
