"""Staff uploads made safe to serve: checked by content, re-encoded without metadata, resized.

An upload is accepted only if Pillow reads it whole as a JPEG, PNG or WebP image (whatever its name
or declared type says), within :data:`MAX_BYTES` and :data:`MAX_PIXELS`. It is then decoded and
encoded anew in its own format, which drops every metadata block (EXIF with its GPS position and
camera serial, XMP, IPTC, ICC profiles, comments); an EXIF orientation is applied to the pixels
first. Variants are made at :data:`WIDTHS` (never wider than the original). Each variant is named by
the hash of its bytes, so its URL (``/media/<name>``) never changes meaning and is cached for a year.

CPU work: callers run :func:`process_image` off the event loop, in a pool of their own.
"""

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from embassy.publishing.errors import ImageError, ImageTooLargeError

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
MIN_SIDE = 16
WIDTHS = (480, 960, 1600)
FORMATS = {"JPEG": ("jpg", "image/jpeg"), "PNG": ("png", "image/png"), "WEBP": ("webp", "image/webp")}


@dataclass(frozen=True, slots=True)
class Variant:
    name: str  # <24 hex of SHA-256>.<ext>
    width: int
    height: int
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class ProcessedImage:
    id: str  # 16 hex of the SHA-256 of the upload: the same file uploaded twice is one image
    format: str
    width: int
    height: int
    size: int
    variants: tuple[Variant, ...]  # narrowest first


def process_image(data: bytes) -> ProcessedImage:
    """Raises :class:`ImageTooLargeError` over the byte limit, :class:`ImageError` for anything
    that is not a whole JPEG, PNG or WebP image of sensible dimensions."""
    if len(data) > MAX_BYTES:
        raise ImageTooLargeError(f"{len(data)} bytes; an image may have at most {MAX_BYTES // (1024 * 1024)} MiB")
    if not data:
        raise ImageError("the file is empty")
    fmt = ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data), formats=list(FORMATS))
            fmt = probe.format or ""
            width, height = probe.size
            if width * height > MAX_PIXELS:
                raise ImageError(f"{width}x{height} pixels; at most {MAX_PIXELS // 1_000_000} megapixels")
            if min(width, height) < MIN_SIDE:
                raise ImageError(f"{width}x{height} pixels; at least {MIN_SIDE} on each side")
            if getattr(probe, "n_frames", 1) > 1:
                raise ImageError("an animated image; upload a still JPEG, PNG or WebP")
            probe.load()  # decodes everything: a truncated or corrupt file fails here
            image = ImageOps.exif_transpose(probe)
    except UnidentifiedImageError as e:
        raise ImageError("not a JPEG, PNG or WebP image (its content was checked, not its name)") from e
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise ImageError(f"too many pixels to decode safely; at most {MAX_PIXELS // 1_000_000} megapixels") from e
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageError(f"the {fmt or 'image'} file is damaged or truncated ({str(e)[:80]})") from e
    image = _plain_mode(image, fmt)
    variants = []
    for target in [w for w in WIDTHS if w < image.width] + [min(image.width, WIDTHS[-1])]:
        scaled = image if target == image.width else image.resize(
            (target, max(1, round(image.height * target / image.width))), Image.Resampling.LANCZOS
        )
        variants.append(_encode(scaled, fmt))
    unique = {v.width: v for v in variants}
    return ProcessedImage(
        hashlib.sha256(data).hexdigest()[:16], fmt, image.width, image.height, len(data),
        tuple(unique[w] for w in sorted(unique)),
    )  # fmt: skip


def _plain_mode(image: Image.Image, fmt: str) -> Image.Image:
    if fmt == "JPEG":
        return image.convert("RGB") if image.mode not in ("RGB", "L") else image
    return image.convert("RGBA") if image.mode not in ("RGB", "RGBA", "L", "LA") else image


def _encode(image: Image.Image, fmt: str) -> Variant:
    image.info = {}  # nothing of the upload's metadata (ICC, EXIF, XMP, text chunks) is written again
    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, "JPEG", quality=85, optimize=True, progressive=True)
    elif fmt == "PNG":
        image.save(out, "PNG", optimize=True)
    else:
        image.save(out, "WEBP", quality=82, method=4)
    data = out.getvalue()
    ext, ctype = FORMATS[fmt]
    return Variant(f"{hashlib.sha256(data).hexdigest()[:24]}.{ext}", image.width, image.height, ctype, data)
