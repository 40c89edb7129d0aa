"""What an officer reads and writes in a case, with the inbox keys their session unlocked.

Synchronous (run on a thread): opening envelopes is CPU work. A case sealed to an inbox key the
officer does not hold raises :class:`InboxLockedError`; an envelope altered in the database is
shown as such (``unreadable``), never as other text.
"""

import sqlite3
from dataclasses import dataclass

from nacl.public import PrivateKey

from embassy.contact import cases
from embassy.contact.attachments import Attachment
from embassy.contact.errors import InboxLockedError
from embassy.contact.model import Submission
from embassy.contact.officer_session import OfficerKeys
from embassy.contact.service import inbox_public
from keys.sealing import SealError, open_envelope, seal


@dataclass(frozen=True, slots=True)
class FileInfo:
    id: int
    size: int
    name: str
    content_type: str


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    kind: str  # inquiry | followup | reply
    author: str
    created: str
    text: str
    submission: Submission | None  # the inquiry's fields
    files: tuple[FileInfo, ...]
    unreadable: bool = False


def _private(case: cases.Case, keys: OfficerKeys) -> PrivateKey:
    pair = keys.pair(case.inbox_key)
    if pair is None:
        raise InboxLockedError(f"this session does not hold inbox key {case.inbox_key}")
    return PrivateKey(pair.private)


def open_case(conn: sqlite3.Connection, case_id: str, keys: OfficerKeys) -> tuple[cases.Case, list[Entry]]:
    case = cases.get(conn, case_id)
    private = _private(case, keys)
    out = []
    for m in cases.messages(conn, case_id):
        files = []
        for att_id, size in m.attachments:
            try:
                a = Attachment.from_sealed_bytes(
                    open_envelope(cases.attachment(conn, case_id, att_id), private, cases.message_label(case_id, "attachment"))
                )
                files.append(FileInfo(att_id, size, a.name, a.content_type))
            except (SealError, ValueError, KeyError):
                files.append(FileInfo(att_id, size, "", ""))
        try:
            plain = open_envelope(m.sealed, private, cases.message_label(case_id, m.kind))
            submission = Submission.from_sealed_json(plain) if m.kind == "inquiry" else None
            text = submission.message if submission else plain.decode("utf-8")
            out.append(Entry(m.id, m.kind, m.author, m.created, text, submission, tuple(files)))
        except (SealError, ValueError, KeyError):
            out.append(Entry(m.id, m.kind, m.author, m.created, "", None, tuple(files), unreadable=True))
    return case, out


def open_attachment(conn: sqlite3.Connection, case_id: str, attachment_id: int, keys: OfficerKeys) -> Attachment:
    case = cases.get(conn, case_id)
    sealed = cases.attachment(conn, case_id, attachment_id)
    try:
        return Attachment.from_sealed_bytes(open_envelope(sealed, _private(case, keys), cases.message_label(case_id, "attachment")))
    except (SealError, ValueError, KeyError) as e:
        raise InboxLockedError(f"attachment {attachment_id} of case {case_id} does not open: {e}") from e


def reply(conn: sqlite3.Connection, case_id: str, text: str, *, actor: str, status: str | None = None) -> None:
    """Seal ``text`` to the case's code key (its holder) and its inbox key (officers); no private
    key is needed, so a reply can come through the API as well."""
    case = cases.get(conn, case_id)
    sealed = seal(text.encode(), [case.code_public, inbox_public(conn, case.inbox_key)], cases.message_label(case_id, "reply"))
    cases.add_reply(conn, case_id, sealed, actor=actor, status=status)
