"""The editorial workflow's transitions, each one transaction with its audit entry (and, when it
publishes or withdraws, its signed statement and the search index).

An item has one line of editions per language. At most one edition of a line is *in progress*
(draft, submitted, approved, scheduled) and at most one is *public* (published or withdrawn); the
database enforces both with unique indexes. The transitions:

==========  ==============================  ===================================================
action      from                            to
==========  ==============================  ===================================================
create      (nothing)                       item + draft 1 in one language
new         no edition in progress          draft n+1 (an update, or a translation from a source)
edit        draft, submitted, approved      draft (an approval is for the text it approved)
submit      draft                           submitted
approve     submitted, by another person    approved
publish     approved                        published now, or scheduled for ``at``
publish     draft/submitted + urgent reason published unreviewed (publishers; the reason audited)
review      published unreviewed, by        published (reviewed)
            someone but who published it
withdraw    published                       withdrawn (a statement of its own)
discard     in progress                     (deleted)
remove      any item (admins)               removed: 410 everywhere (the reason audited)
==========  ==============================  ===================================================

Publishing signs the edition as a statement (``embassy/content/statements.py``), marks the line's
previous public edition superseded, and indexes the text for search. A scheduled edition is
published by :meth:`Workflow.publish_due`, which any number of processes may call at once: the
``scheduled -> published`` change is made inside ``BEGIN IMMEDIATE`` after re-reading the state,
so each edition is published exactly once.
"""

import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from embassy.audit.log import append
from embassy.content.model import ALERT, PAGE, route_of
from embassy.content.repo import utc_now
from embassy.content.statements import Signer
from embassy.content.text import ImageRef, body_problems, html_to_text, render_markdown
from embassy.publishing import fields, store
from embassy.publishing.errors import InvalidFieldError, NotAllowedError, NotFoundError, StateError
from embassy.publishing.fields import AlertSettings, Draft, PagePlace
from embassy.publishing.images import ProcessedImage
from embassy.publishing.rules import Actor, require
from embassy.publishing.store import Edition, Item


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an action left: the edition's new state, its public path and statement when published."""

    id: str
    lang: str
    edition: int
    state: str
    path: str | None = None
    statement: str | None = None


class Workflow:
    def __init__(
        self,
        conn: sqlite3.Connection,
        signer: Signer,
        languages: tuple[str, ...],
        on_change: Callable[[], object] | None = None,
        clock: Callable[[], str] = utc_now,
    ) -> None:
        self.conn = conn
        self.signer = signer
        self.languages = languages
        self.on_change = on_change
        self.clock = clock

    # -- writing ---------------------------------------------------------------------------------

    def create(
        self, actor: Actor, kind: str, lang: str, draft: Draft, *, slug: str | None = None,
        alert: AlertSettings | None = None, place: PagePlace | None = None,
    ) -> Outcome:  # fmt: skip
        require(actor, "create")
        fields.check_kind(kind)
        fields.check_lang(lang, self.languages)
        draft = fields.check_draft(draft)
        settings = fields.check_alert(alert or AlertSettings()) if kind == ALERT else None
        where = fields.check_place(place or PagePlace()) if kind == PAGE else None
        item_id = secrets.token_hex(6)
        now = self.clock()
        with self._tx():
            chosen = self._free_slug(kind, slug, draft.title, item_id)
            self.conn.execute(
                "INSERT INTO item (id, kind, route, slug, section, position, parent, severity, countries, expires, "
                "created, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (item_id, kind, route_of(kind), chosen, where.section if where else "", where.position if where else 0,
                 where.parent if where else None, settings.severity if settings else None,
                 ",".join(settings.countries) if settings else "", settings.expires if settings else None, now,
                 actor.name),
            )  # fmt: skip
            self._insert(item_id, lang, 1, draft, actor, now)
            self._audit(actor, "item.create", item_id, lang, 1, kind=kind, slug=chosen)
        return Outcome(item_id, lang, 1, "draft")

    def new_edition(self, actor: Actor, item_id: str, lang: str, draft: Draft | None = None,
                    source: str | None = None) -> Outcome:  # fmt: skip
        """A new draft in ``lang``: an update of its line, or (``source``) a translation that starts
        from the source language's current edition. ``draft`` None copies the text to start from."""
        require(actor, "translate" if source else "edit")
        fields.check_lang(lang, self.languages)
        now = self.clock()
        with self._tx():
            d = store.detail(self.conn, item_id)
            self._live(d.item)
            if d.working(lang) is not None:
                raise StateError(f"{lang} already has edition {d.working(lang).number} in progress; edit that one")  # type: ignore[union-attr]
            base = d.public(lang) or d.latest(lang)
            from_edition = base
            if source:
                fields.check_lang(source, self.languages)
                from_edition = d.public(source) or d.latest(source)
                if from_edition is None or source == lang:
                    raise InvalidFieldError("source", f"no edition in {source} to translate from")
            if draft is None:
                if from_edition is None:
                    raise InvalidFieldError("title", "required: nothing to start from in this language")
                draft = Draft(from_edition.title, from_edition.summary, from_edition.body_md, "", True)
            draft = fields.check_draft(draft)
            number = (d.latest(lang).number if d.latest(lang) else 0) + 1  # type: ignore[union-attr]
            src = (source, from_edition.number) if source and from_edition else (None, None)
            self._insert(item_id, lang, number, draft, actor, now, src)
            self._audit(actor, "edition.new", item_id, lang, number, source=source)
        return Outcome(item_id, lang, number, "draft")

    def edit(self, actor: Actor, item_id: str, lang: str, draft: Draft) -> Outcome:
        require(actor, "edit")
        draft = fields.check_draft(draft)
        with self._tx():
            e = self._working(item_id, lang, ("draft", "submitted", "approved"))
            body = self._render(item_id, draft.body)
            self.conn.execute(
                "UPDATE edition SET title = ?, summary = ?, body_md = ?, body_html = ?, change_note = ?, major = ?, "
                "state = 'draft', submitted = NULL, approved = NULL, approved_by = NULL, updated = ? "
                "WHERE item = ? AND lang = ? AND number = ?",
                (draft.title, draft.summary, draft.body, body, draft.change_note, int(draft.major), self.clock(),
                 item_id, lang, e.number),
            )  # fmt: skip
            self._audit(actor, "edition.edit", item_id, lang, e.number, was=e.state)
        return Outcome(item_id, lang, e.number, "draft")

    def submit(self, actor: Actor, item_id: str, lang: str) -> Outcome:
        require(actor, "submit")
        with self._tx():
            e = self._working(item_id, lang, ("draft",))
            self._check_body(item_id, e)
            self._set(e, "submitted", submitted=self.clock())
            self._audit(actor, "edition.submit", item_id, lang, e.number)
        return Outcome(item_id, lang, e.number, "submitted")

    def approve(self, actor: Actor, item_id: str, lang: str) -> Outcome:
        require(actor, "approve")
        with self._tx():
            e = self._working(item_id, lang, ("submitted",))
            if e.author == actor.name:
                raise NotAllowedError("nobody approves their own edition: another publisher must review it")
            self._set(e, "approved", approved=self.clock(), approved_by=actor.name)
            self._audit(actor, "edition.approve", item_id, lang, e.number)
        return Outcome(item_id, lang, e.number, "approved")

    def publish(self, actor: Actor, item_id: str, lang: str, *, at: str | None = None,
                urgent_reason: str | None = None) -> Outcome:  # fmt: skip
        """Publish the approved edition now, or schedule it for ``at``; with ``urgent_reason`` a
        publisher publishes a draft or submitted edition without approval (flagged until reviewed)."""
        require(actor, "publish")
        when = fields.check_time("at", at) if at else None
        reason = fields.reason("urgent_reason", urgent_reason) if urgent_reason is not None else None
        now = self.clock()
        with self._tx():
            e = self._working(item_id, lang, ("draft", "submitted", "approved"))
            if e.state != "approved" and reason is None:
                raise StateError(
                    f"edition {e.number} ({lang}) is {e.state}: it needs another person's approval, or an urgent "
                    "publication with a written reason"
                )
            self._check_body(item_id, e)
            if reason is not None:
                self.conn.execute(
                    "UPDATE edition SET urgent_reason = ? WHERE item = ? AND lang = ? AND number = ?",
                    (reason, item_id, lang, e.number),
                )
                e = replace(e, urgent_reason=reason)
            if when is not None and when > now:
                self._set(e, "scheduled", publish_at=when, published_by=actor.name)
                self._audit(actor, "edition.schedule", item_id, lang, e.number, at=when, urgent_reason=reason)
                return Outcome(item_id, lang, e.number, "scheduled")
            return self._publish_now(actor.name, e, now, urgent=reason)

    def publish_due(self, now: str | None = None) -> list[Outcome]:
        """Publish every scheduled edition whose time has come (exactly once, whoever else calls this)."""
        now = now or self.clock()
        done: list[Outcome] = []
        due = "SELECT 1 FROM edition WHERE state = 'scheduled' AND publish_at <= ? LIMIT 1"
        if self.conn.execute(due, (now,)).fetchone() is None:  # the usual tick: nothing due, nothing written
            return done
        with self._tx():
            rows = self.conn.execute(
                "SELECT item, lang FROM edition WHERE state = 'scheduled' AND publish_at <= ? ORDER BY publish_at",
                (now,),
            ).fetchall()
            for item_id, lang in rows:
                e = self._working(item_id, lang, ("scheduled",))
                done.append(self._publish_now(e.published_by or "scheduler", e, now, urgent=e.urgent_reason,
                                              scheduled=True))  # fmt: skip
        return done

    def review(self, actor: Actor, item_id: str, lang: str) -> Outcome:
        require(actor, "review")
        with self._tx():
            d = store.detail(self.conn, item_id)
            e = d.public(lang)
            if e is None or not e.unreviewed:
                raise StateError(f"{lang}: no urgent publication waits for review")
            if actor.name in (e.published_by, e.author):
                raise NotAllowedError("someone other than its author and its publisher must review an urgent publication")
            self._set(e, e.state, reviewed=self.clock(), reviewed_by=actor.name)
            self._audit(actor, "edition.review", item_id, lang, e.number)
        return Outcome(item_id, lang, e.number, e.state, d.item.path(lang), e.statement_id)

    def withdraw(self, actor: Actor, item_id: str, lang: str, reason: str) -> Outcome:
        require(actor, "withdraw")
        why = fields.reason("reason", reason)
        now = self.clock()
        with self._tx():
            d = store.detail(self.conn, item_id)
            self._live(d.item)
            e = d.public(lang)
            if e is None or e.state != "published":
                raise StateError(f"{lang}: nothing published to withdraw")
            st = self.signer.sign({
                "kind": "withdrawal", "lang": lang, "slug": d.item.slug, "path": d.item.path(lang), "title": e.title,
                "published": now, "item": item_id, "edition": e.number, "withdraws": e.statement_id or "",
                "reason": why,
            })  # fmt: skip
            self._store_statement(st, item_id, now)
            self._set(e, "withdrawn", withdrawn=now, withdrawn_by=actor.name, withdrawn_reason=why,
                      withdrawal_statement=st.id)  # fmt: skip
            self._audit(actor, "edition.withdraw", item_id, lang, e.number, reason=why, statement=st.id)
        return Outcome(item_id, lang, e.number, "withdrawn", d.item.path(lang), st.id)

    def discard(self, actor: Actor, item_id: str, lang: str) -> Outcome:
        require(actor, "discard")
        with self._tx():
            e = self._working(item_id, lang, store.WORKING)
            self.conn.execute("DELETE FROM edition WHERE item = ? AND lang = ? AND number = ?", (item_id, lang, e.number))
            self._audit(actor, "edition.discard", item_id, lang, e.number, was=e.state)
        return Outcome(item_id, lang, e.number, "discarded")

    def remove(self, actor: Actor, item_id: str, reason: str) -> Item:
        """Take an item off the site for legal reasons: every URL of it answers 410 from now on."""
        require(actor, "remove")
        why = fields.reason("reason", reason)
        with self._tx():
            item = self._live(store.get_item(self.conn, item_id))
            self.conn.execute(
                "UPDATE item SET removed = ?, removed_by = ?, removed_reason = ? WHERE id = ?",
                (self.clock(), actor.name, why, item_id),
            )
            self.conn.execute("DELETE FROM search_index WHERE slug = ? AND kind = ?", (item.slug, item.kind))
            self._audit(actor, "item.remove", item_id, None, None, slug=item.slug, reason=why)
        return store.get_item(self.conn, item_id)

    def add_image(self, actor: Actor, item_id: str, image: ProcessedImage) -> ImageRef:
        """Keep an uploaded image (already checked and re-encoded: ``images.process_image``) for the item's bodies."""
        require(actor, "upload")
        with self._tx():
            self._live(store.get_item(self.conn, item_id))
            known = self.conn.execute("SELECT 1 FROM image WHERE id = ? AND item = ?", (image.id, item_id)).fetchone()
            if known is None:
                if self.conn.execute("SELECT 1 FROM image WHERE id = ?", (image.id,)).fetchone():
                    raise InvalidFieldError("image", "this very file is already an image of another item")
                self.conn.execute(
                    "INSERT INTO image (id, item, format, width, height, bytes, uploaded, uploaded_by) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (image.id, item_id, image.format, image.width, image.height, image.size, self.clock(), actor.name),
                )
                for v in image.variants:
                    self.conn.execute(
                        "INSERT OR IGNORE INTO image_variant (name, image, width, height, content_type, data) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (v.name, image.id, v.width, v.height, v.content_type, v.data),
                    )
                self._audit(actor, "image.upload", item_id, None, None, image=image.id, format=image.format,
                            width=image.width, height=image.height, bytes=image.size)  # fmt: skip
        return store.images(self.conn, item_id)[image.id]

    def next_event(self, now: str) -> str | None:
        """When something next changes by itself: a scheduled publication or an alert's expiry."""
        row = self.conn.execute(
            "SELECT min(t) FROM (SELECT min(publish_at) AS t FROM edition WHERE state = 'scheduled' "
            "UNION ALL SELECT min(expires) FROM item WHERE expires > ? AND removed IS NULL)",
            (now,),
        ).fetchone()
        return row[0] if row and row[0] else None

    # -- inside ----------------------------------------------------------------------------------

    def _publish_now(self, who: str, e: Edition, now: str, *, urgent: str | None, scheduled: bool = False) -> Outcome:
        d = store.detail(self.conn, e.item)
        item = self._live(d.item)
        previous = d.public(e.lang)
        body = self._render(e.item, e.body_md)
        statement: dict[str, Any] = {
            "kind": item.kind, "lang": e.lang, "slug": item.slug, "path": item.path(e.lang), "title": e.title,
            "summary": e.summary, "body_html": body, "published": now, "item": item.id, "edition": e.number,
            "major": e.major, "change_note": e.change_note,
        }  # fmt: skip
        if previous is not None and previous.statement_id:
            statement["previous"] = previous.statement_id
        if item.kind == ALERT:
            statement.update(severity=item.severity or "warning", countries=list(item.countries))
            if item.expires:
                statement["expires"] = item.expires
        if urgent:
            statement["urgent"] = True
        st = self.signer.sign(statement)
        self._store_statement(st, item.id, now)
        if previous is not None:
            self._set(previous, "superseded")
        self._set(e, "published", published=now, published_by=who, body_html=body, statement_id=st.id)
        self.conn.execute("UPDATE item SET first_published = coalesce(first_published, ?) WHERE id = ?", (now, item.id))
        self.conn.execute("DELETE FROM search_index WHERE slug = ? AND lang = ? AND kind = ?", (item.slug, e.lang, item.kind))
        self.conn.execute(
            "INSERT INTO search_index (title, body, lang, kind, slug) VALUES (?, ?, ?, ?, ?)",
            (e.title, html_to_text(e.summary + " " + body), e.lang, item.kind, item.slug),
        )
        self._audit(
            Actor(who, frozenset()), "edition.publish", item.id, e.lang, e.number, statement=st.id, major=e.major,
            urgent_reason=urgent, scheduled=scheduled,
        )  # fmt: skip
        return Outcome(item.id, e.lang, e.number, "published", item.path(e.lang), st.id)

    def _store_statement(self, st: Any, item_id: str, when: str) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO statement (id, payload, signature, key_id, published, item) VALUES (?, ?, ?, ?, ?, ?)",
            (st.id, st.payload, st.signature, st.key_id, when, item_id),
        )

    def _insert(self, item_id: str, lang: str, number: int, d: Draft, actor: Actor, now: str,
                source: tuple[str | None, int | None] = (None, None)) -> None:  # fmt: skip
        self.conn.execute(
            "INSERT INTO edition (item, lang, number, state, title, summary, body_md, body_html, change_note, major, "
            "source_lang, source_number, author, created, updated) VALUES (?, ?, ?, 'draft', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (item_id, lang, number, d.title, d.summary, d.body, self._render(item_id, d.body), d.change_note,
             int(d.major), source[0], source[1], actor.name, now, now),
        )  # fmt: skip

    def _render(self, item_id: str, body: str) -> str:
        return render_markdown(body, store.images(self.conn, item_id))

    def _check_body(self, item_id: str, e: Edition) -> None:
        problems = body_problems(e.body_md, store.images(self.conn, item_id))
        if problems:
            raise InvalidFieldError("body", "; ".join(problems))

    def _working(self, item_id: str, lang: str, states: tuple[str, ...]) -> Edition:
        d = store.detail(self.conn, item_id)
        self._live(d.item)
        e = d.working(lang)
        if e is None:
            raise StateError(f"{lang}: no edition in progress")
        if e.state not in states:
            raise StateError(f"edition {e.number} ({lang}) is {e.state}, not {' or '.join(states)}")
        return e

    @staticmethod
    def _live(item: Item) -> Item:
        if item.removed:
            raise NotFoundError(f"item {item.id} was removed")
        return item

    def _set(self, e: Edition, state: str, **values: Any) -> None:
        values["state"] = state
        assignments = ", ".join(f"{k} = ?" for k in values)
        self.conn.execute(
            f"UPDATE edition SET {assignments} WHERE item = ? AND lang = ? AND number = ?",  # noqa: S608 - our own names
            (*values.values(), e.item, e.lang, e.number),
        )

    def _free_slug(self, kind: str, wanted: str | None, title: str, item_id: str) -> str:
        if wanted:
            fields.check_slug(wanted)
            if store.item_by_slug(self.conn, kind, wanted) is not None:
                raise InvalidFieldError("slug", f"{wanted!r} is taken by another item; choose another")
            return wanted
        base = fields.slug_from(title) or f"item-{item_id}"
        slug, n = base, 1
        while store.item_by_slug(self.conn, kind, slug) is not None:
            n += 1
            slug = f"{base}-{n}"
        return slug

    def _audit(self, actor: Actor, action: str, item_id: str, lang: str | None, number: int | None,
               **detail: Any) -> None:  # fmt: skip
        info = {"item": item_id, **({"lang": lang} if lang else {}), **({"edition": number} if number else {})}
        info.update({k: v for k, v in detail.items() if v is not None})
        append(self.conn, actor.name, action, info)

    @contextmanager
    def _tx(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, then tell every serving process (nested uses join the outer one)."""
        if self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        if self.on_change is not None:
            self.on_change()
