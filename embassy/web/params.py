"""Query strings and form bodies, decoded strictly: well-formed input or one :class:`InputError`.

Every handler that reads a parameter or a form goes through here, so that no input, however
broken, reaches a view as an exception it did not expect. The rules:

- ``application/x-www-form-urlencoded`` (query strings and form bodies): ``&``-separated
  ``name=value`` pairs, ``+`` for a space, ``%XX`` escapes with two hex digits; the decoded bytes
  must be UTF-8. A lone ``%``, a bad escape or bytes that are not UTF-8 are an :class:`InputError`
  (not replaced with U+FFFD, not passed on literally).
- A form body's charset, when given, must be UTF-8 (or ASCII, its subset): browsers send UTF-8
  for pages served in UTF-8, so any other charset is a client we did not write the form for.
- ``multipart/form-data`` needs its boundary; each part needs a name, may not be a nested
  multipart or compressed/transfer-encoded, and is text in UTF-8 - or, read with
  :func:`read_form_with_files` or :func:`read_upload`, a file in one of the fields they name (its
  bytes kept in memory as sent, for the caller to check by content). Other content types are an
  :class:`UnsupportedFormError` (415).
- Text fields may hold no control characters other than tab, line feed and carriage return.
- Numbers are ASCII digits only: ``str.isdigit`` accepts ``²`` and ``①``, on which ``int()``
  fails, and ``int()`` takes Arabic-Indic ``٣``, which would give one page several addresses.

Errors: :class:`InputError` (answered 400 by the site's middleware) and its subclass
:class:`UnsupportedFormError` (415). A sub-application with its own error middleware maps them
the same way; the site's frame middleware maps them for everything it wraps.
"""

import asyncio
import re
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from urllib.parse import unquote_to_bytes

from aiohttp import BodyPartReader, MultipartReader, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from multidict import MultiDict, MultiDictProxy

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
UTF8_NAMES = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
PLAIN_ENCODINGS = frozenset({"", "identity", "binary", "8bit", "7bit"})  # what browsers send: nothing to undo
MAX_FIELDS = 64
MAX_DIGITS = 18

_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

Params = MultiDictProxy[str]
_EMPTY: Params = MultiDictProxy(MultiDict())


class InputError(Exception):
    """A query string or form that is not well formed; the message says what is wrong."""

    status = 400


class UnsupportedFormError(InputError):
    """A body in a content type or charset the site does not read."""

    status = 415


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file part of a multipart form (:func:`read_form_with_files`): bytes in memory, never on disk.
    ``filename`` is whatever the browser sent: a label, never a path."""

    field: str
    filename: str
    data: bytes = dataclass_field(repr=False)


@dataclass(frozen=True, slots=True)
class FileLimits:
    fields: frozenset[str]  # the field names that may carry files
    count: int  # at most this many non-empty files


def parse_urlencoded(raw: bytes, *, max_fields: int = MAX_FIELDS) -> Params:
    """``a=1&b=x+y`` as a read-only multidict of strings; raises InputError when malformed."""
    if _BAD_ESCAPE.search(raw):
        raise InputError("a '%' that is not followed by two hex digits")
    out: MultiDict[str] = MultiDict()
    for pair in raw.split(b"&"):
        if not pair:
            continue
        if len(out) >= max_fields:
            raise InputError(f"more than {max_fields} fields")
        name, _, value = pair.partition(b"=")
        out.add(_decode(name), _decode(value))
    return MultiDictProxy(out)


def _decode(part: bytes) -> str:
    try:
        return unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError("percent-decoded bytes that are not UTF-8") from e


def query(request: web.BaseRequest) -> Params:
    """The request's query string, parsed strictly."""
    raw = request.rel_url.raw_query_string
    return parse_urlencoded(raw.encode("utf-8", "surrogateescape")) if raw else _EMPTY


def text(params: Params, name: str, *, default: str = "", max_chars: int = 1000) -> str:
    """A text field, whitespace-trimmed and cut to ``max_chars``; control characters are an InputError."""
    value = params.get(name)
    if value is None:
        return default
    if _CONTROL.search(value):
        raise InputError(f"control characters in {name!r}")
    return value.strip()[:max_chars]


def integer(params: Params, name: str, *, default: int) -> int:
    """A whole number in ASCII digits (range checks are the caller's); anything else is an InputError."""
    value = params.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= MAX_DIGITS):
        raise InputError(f"{name!r} must be a whole number written in the digits 0-9")
    return int(value)


async def read_form(request: web.BaseRequest, *, timeout: float) -> Params:
    """The request's form body, decoded strictly, read within ``timeout`` seconds.

    A body without a Content-Type is read as urlencoded. The size is bounded by the application's
    ``client_max_size`` (413, at once when Content-Length says so). A body that does not arrive in time, or cannot be de-chunked or
    decompressed, is an InputError."""
    return (await read_form_with_files(request, timeout=timeout, files=None))[0]


async def read_form_with_files(
    request: web.BaseRequest, *, timeout: float, files: FileLimits | None
) -> tuple[Params, list[UploadedFile]]:
    """As :func:`read_form`, and a multipart body may carry up to ``files.count`` files in the fields
    ``files.fields`` (each kept in memory, never written to disk; the request's ``client_max_size``
    bounds them all). An empty file part (a file input left empty) is skipped."""
    limit = request.client_max_size
    if request.content_length is not None and request.content_length > limit:  # refuse before waiting for it
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    declared = hdrs.CONTENT_TYPE in request.headers
    ctype = request.content_type if declared else FORM
    if ctype not in (FORM, MULTIPART):
        raise UnsupportedFormError(f"content type {ctype!r}; forms are {FORM} or {MULTIPART}")
    charset = request.charset
    if charset is not None and charset.lower() not in UTF8_NAMES:
        raise UnsupportedFormError(f"charset {charset!r}; forms are read in UTF-8 only")
    return await _read(request, ctype, timeout, files)


async def _read(
    request: web.BaseRequest, ctype: str, timeout: float, files: FileLimits | None
) -> tuple[Params, list[UploadedFile]]:
    try:
        async with asyncio.timeout(timeout):
            if ctype == MULTIPART:
                return await _read_multipart(request, files)
            return parse_urlencoded(await request.read()), []
    except TimeoutError as e:
        raise InputError(f"the form did not arrive within {timeout:g} s") from e
    except RequestPayloadError as e:
        raise InputError("a body that could not be read (bad chunking or compression)") from e


async def _read_multipart(request: web.BaseRequest, files: FileLimits | None) -> tuple[Params, list[UploadedFile]]:
    try:
        reader = MultipartReader(request.headers, request.content)
    except (ValueError, KeyError, AssertionError) as e:  # no or a broken boundary
        raise InputError("multipart/form-data without a usable boundary") from e
    limit = request.client_max_size
    out: MultiDict[str] = MultiDict()
    uploaded: list[UploadedFile] = []
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise InputError("a nested multipart body")
            is_file = part.filename is not None
            if part.name is None or (is_file and (files is None or part.name not in files.fields)):
                raise InputError("a multipart part without a field name, or a file")
            if len(out) >= MAX_FIELDS:
                raise InputError(f"more than {MAX_FIELDS} fields")
            charset = part.get_charset(default="utf-8")
            if charset.lower() not in UTF8_NAMES:
                raise UnsupportedFormError(f"charset {charset!r} in a multipart part")
            for header in (hdrs.CONTENT_ENCODING, hdrs.CONTENT_TRANSFER_ENCODING):
                if part.headers.get(header, "").strip().lower() not in PLAIN_ENCODINGS:
                    raise UnsupportedFormError(f"{header} {part.headers[header]!r} in a multipart part")
            data = bytearray()
            while chunk := await part.read_chunk():
                if request.content.total_bytes > limit:
                    raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content.total_bytes)
                data.extend(chunk)
            if is_file:
                assert files is not None
                if data:
                    if len(uploaded) >= files.count:
                        raise InputError(f"more than {files.count} files")
                    uploaded.append(UploadedFile(part.name, str(part.filename), bytes(data)))
                continue
            out.add(part.name, data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise InputError("a multipart field that is not UTF-8") from e
    except (HttpProcessingError, ValueError, RuntimeError, AssertionError, LookupError) as e:  # a broken body
        raise InputError(f"a broken multipart body ({type(e).__name__})") from e
    return MultiDictProxy(out), uploaded


async def read_upload(
    request: web.BaseRequest, *, timeout: float, files: frozenset[str]
) -> tuple[Params, dict[str, UploadedFile]]:
    """A ``multipart/form-data`` form whose ``files`` fields may each carry one file (the staff
    area's image upload), read as strictly as :func:`read_form_with_files`; files by field name."""
    if request.content_length is not None and request.content_length > request.client_max_size:
        raise web.HTTPRequestEntityTooLarge(max_size=request.client_max_size, actual_size=request.content_length)
    if hdrs.CONTENT_TYPE not in request.headers or request.content_type != MULTIPART:
        raise UnsupportedFormError(f"an upload is sent as {MULTIPART}")
    form, uploaded = await read_form_with_files(request, timeout=timeout, files=FileLimits(files, len(files)))
    by_field: dict[str, UploadedFile] = {}
    for upload in uploaded:
        if upload.field in by_field:
            raise InputError(f"two files in the field {upload.field!r}")
        by_field[upload.field] = upload
    return form, by_field
