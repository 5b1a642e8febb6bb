"""Uploaded images: sniffed, bounded, decoded and re-encoded, so only pixels we wrote get stored.

Why re-encode instead of storing the upload: the bytes a browser later fetches from us must be
an image we produced. A polyglot (a PNG that is also HTML or a script), trailing payloads,
EXIF with GPS positions or camera serials, and malformed chunks aimed at some decoder all stop
here. The format is taken from the content (Pillow's own sniffing of the magic bytes), never
from the file name or the declared Content-Type.

Limits are checked before decoding pixels: the header gives the size, so a small file that
would inflate to gigabytes (a decompression bomb) is refused without allocating it.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

ALLOWED = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
THUMBNAIL_TYPE = "image/webp"


class ImageRejected(ValueError):
    """The upload is not an image we accept; the message is written for the uploader."""


@dataclass(frozen=True, slots=True)
class Encoded:
    data: bytes
    content_type: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Processed:
    image: Encoded
    thumbnail: Encoded


def _encode(img: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        img.save(out, "JPEG", quality=88, optimize=True, progressive=True)
    elif fmt == "WEBP":
        img.save(out, "WEBP", quality=85, method=4)
    else:
        img.save(out, "PNG", optimize=True)
    return out.getvalue()


def _normalise_mode(img: Image.Image, fmt: str) -> Image.Image:
    """Modes each encoder takes: JPEG has no alpha; palette and 16-bit images become RGB(A)."""
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    if fmt == "JPEG":
        return img.convert("RGB") if img.mode != "RGB" else img
    if has_alpha:
        return img.convert("RGBA") if img.mode != "RGBA" else img
    return img.convert("RGB") if img.mode != "RGB" else img


def process(data: bytes, *, max_pixels: int, max_side: int, thumbnail_px: int) -> Processed:
    """Validate and re-encode one upload (CPU-bound: call it in a thread).

    The stored image keeps its format family (PNG stays lossless for screenshots of text,
    photos stay JPEG), with the EXIF orientation applied to the pixels and every piece of
    metadata (EXIF, XMP, ICC, text chunks) dropped. The thumbnail is a WebP at most
    `thumbnail_px` on its longer side.
    """
    if not data:
        raise ImageRejected("The file is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data), formats=list(ALLOWED))
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(
            "This file is not a PNG, JPEG or WebP image (the content is checked, not the name)."
        ) from None
    except Exception:  # noqa: BLE001 - any decoder complaint about a header is the file's fault
        raise ImageRejected("This image could not be read; it may be damaged.") from None
    fmt = probe.format or ""
    if fmt not in ALLOWED:
        raise ImageRejected("Only PNG, JPEG and WebP images are accepted.")
    width, height = probe.size
    if width < 1 or height < 1:
        raise ImageRejected("This image has no pixels.")
    if width > max_side or height > max_side:
        raise ImageRejected(
            f"This image is {width}×{height} pixels; each side may be at most {max_side}."
        )
    if width * height > max_pixels:
        raise ImageRejected(
            f"This image has {width * height:,} pixels; at most {max_pixels:,} are accepted."
        )
    if getattr(probe, "n_frames", 1) > 1:
        raise ImageRejected("Animated images are not accepted; upload a single frame.")
    try:
        probe.load()
        upright = ImageOps.exif_transpose(probe) or probe
    except Exception:  # noqa: BLE001
        raise ImageRejected("This image could not be decoded; it may be damaged.") from None
    clean = _normalise_mode(upright, fmt)
    # A fresh image holding only the pixels: nothing of the original's info dict survives.
    pixels = Image.new(clean.mode, clean.size)
    pixels.paste(clean)
    image = Encoded(_encode(pixels, fmt), ALLOWED[fmt], pixels.width, pixels.height)
    thumb = pixels.copy()
    thumb.thumbnail((thumbnail_px, thumbnail_px), Image.Resampling.LANCZOS)
    thumbnail = Encoded(_encode(thumb, "WEBP"), THUMBNAIL_TYPE, thumb.width, thumb.height)
    return Processed(image=image, thumbnail=thumbnail)
