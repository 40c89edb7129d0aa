"""Attachments: PDF, JPEG and PNG only, recognised by their content, never by name or declared type.

- PNG and JPEG: Pillow must identify the bytes as that format and ``verify()`` them (structure and
  checksums), within Pillow's decompression-bomb limit; nothing is decoded into pixels or written.
- PDF: the bytes start with ``%PDF-1.`` or ``%PDF-2.`` and carry ``%%EOF`` in their last 1 KiB.
  The server never renders a PDF; officers download it (``Content-Disposition: attachment`` under
  a sandboxing CSP) and open it in their own viewer.

The name a browser sends is only a label: it is cut to its last path segment (so ``../../x`` and
``C:\\x`` are harmless), stripped of control and bidirectional-override characters, capped at 100
characters, and given the extension of the type found. It is sealed with the bytes (a file name
may say who someone is) and is never used as a path.
"""

import io
import json
import re
import unicodedata
import warnings
from dataclasses import dataclass

from PIL import Image

from embassy.contact.errors import AttachmentError

MAX_FILES = 3
MAX_BYTES = 5 * 1024 * 1024
TYPES = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|]')


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    content_type: str
    data: bytes

    def sealed_bytes(self) -> bytes:
        """What is sealed: a JSON header line (name, type), then the bytes as they came."""
        header = json.dumps({"name": self.name, "type": self.content_type}, ensure_ascii=False).encode()
        return header + b"\n" + self.data

    @classmethod
    def from_sealed_bytes(cls, plain: bytes) -> "Attachment":
        header, _, data = plain.partition(b"\n")
        meta = json.loads(header)
        return cls(str(meta["name"]), str(meta["type"]), data)


def sniff(data: bytes) -> str | None:
    """The type of ``data`` by its content: one of :data:`TYPES`, or None."""
    if data.startswith((b"%PDF-1.", b"%PDF-2.")) and b"%%EOF" in data[-1024:]:
        return "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png" if _image_ok(data, "PNG") else None
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg" if _image_ok(data, "JPEG") else None
    return None


def _image_ok(data: bytes, fmt: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as img:
                img.verify()
        return True
    except Exception:  # Pillow raises many kinds for broken files: each is "not this type"
        return False


def safe_name(name: str, content_type: str) -> str:
    """A harmless label for a file name a browser sent (see the module's docstring)."""
    base = re.split(r"[\\/]", name)[-1]
    base = unicodedata.normalize("NFC", _BIDI.sub("", base))
    base = _UNSAFE.sub("_", base).strip(" .") or "attachment"
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return stem[:96] + TYPES[content_type]


def check_attachment(name: str, data: bytes) -> Attachment:
    """The attachment, if its content is an allowed type within the size limit; else AttachmentError."""
    if len(data) > MAX_BYTES:
        raise AttachmentError(f"an attachment is larger than {MAX_BYTES >> 20} MiB", "too_large")
    kind = sniff(data)
    if kind is None:
        raise AttachmentError("an attachment is not a PDF, JPEG or PNG file", "bad_type")
    return Attachment(safe_name(name, kind), kind, data)
