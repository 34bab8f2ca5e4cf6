"""Metadata removal before encryption: images re-encoded from pixels, PDF properties dropped.

Runs in memory on one file at a time. Memory bound: the file itself (at most
`portal_max_file_bytes`) plus, for images, two copies of the decoded pixels (at most
`portal_max_image_pixels` × 4 bytes each: 25 MP → about 200 MB worst case for RGBA) and the
re-encoded output. Larger JPEGs are decoded at a reduced scale (DCT draft) to stay inside the
pixel limit; other oversized images are refused.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.JpegImagePlugin import JpegImageFile

from . import filetypes
from .filetypes import FileType

log = logging.getLogger(__name__)

try:  # HEIC/HEIF decoding (iPhone photos); without it HEIC is kept unscrubbed, with a warning
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF_SUPPORT = True
except ImportError:  # pragma: no cover - depends on the installation
    HEIF_SUPPORT = False


class RefusedFile(Exception):
    """The file cannot be accepted; the message says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "too_many_pixels" | "damaged_image"


@dataclass(frozen=True)
class Scrubbed:
    """The cleaned bytes and what they are."""

    data: bytes
    ftype: FileType
    scrubbed: bool


_SAVE: dict[str, tuple[str, FileType, dict[str, Any]]] = {
    "image/jpeg": ("JPEG", filetypes.JPEG, {"quality": 90, "optimize": True}),
    "image/png": ("PNG", filetypes.PNG, {"optimize": False}),
    "image/webp": ("WEBP", filetypes.WEBP, {"quality": 90}),
    "image/heic": ("JPEG", filetypes.JPEG, {"quality": 90}),  # staff browsers cannot show HEIC
}


def scrub_image(data: bytes, ftype: FileType, max_pixels: int) -> Scrubbed:
    """Re-encode an image from its pixels only: no EXIF, GPS, XMP, ICC profile or comments."""
    if ftype == filetypes.HEIC and not HEIF_SUPPORT:
        return Scrubbed(data, ftype, False)
    fmt, out_type, options = _SAVE[ftype.mime]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > max_pixels:
                if not isinstance(img, JpegImageFile):
                    raise RefusedFile("too_many_pixels")
                scale = (width * height / max_pixels) ** 0.5
                img.draft("RGB", (int(width / scale) + 1, int(height / scale) + 1))
                if img.size[0] * img.size[1] > max_pixels:
                    raise RefusedFile("too_many_pixels")
            img = ImageOps.exif_transpose(img) or img  # keep the picture upright
            clean = _pixels_only(img, fmt)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
            Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        log.info("image could not be decoded: %s", type(exc).__name__)
        raise RefusedFile("damaged_image") from exc
    out = io.BytesIO()
    clean.save(out, fmt, **options)
    return Scrubbed(out.getvalue(), out_type, True)


def _pixels_only(img: Image.Image, fmt: str) -> Image.Image:
    """A new image holding only the pixels (a fresh `Image` carries no `info`)."""
    mode = img.mode
    if fmt == "JPEG" and mode not in ("L", "RGB", "CMYK"):
        img, mode = img.convert("RGB"), "RGB"
    elif fmt == "WEBP" and mode not in ("RGB", "RGBA"):
        mode = "RGBA" if "A" in mode or "transparency" in img.info else "RGB"
        img = img.convert(mode)
    elif fmt == "PNG" and mode == "P":
        img, mode = img.convert("RGBA"), "RGBA"
    clean = Image.new(mode, img.size)
    clean.paste(img)
    img.close()
    return clean


def scrub_pdf(data: bytes) -> Scrubbed:
    """Copy the pages into a new document without document info or XMP metadata."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.errors import PyPdfError
    from pypdf.generic import NameObject

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            return Scrubbed(data, filetypes.PDF, False)
        writer = PdfWriter()
        for page in reader.pages:
            added = writer.add_page(page)
            for key in ("/Metadata", "/PieceInfo"):
                if NameObject(key) in added:
                    del added[NameObject(key)]
        writer._info = None  # no /Info dictionary at all
        out = io.BytesIO()
        writer.write(out)
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        log.info("pdf could not be rewritten: %s", type(exc).__name__)
        return Scrubbed(data, filetypes.PDF, False)
    return Scrubbed(out.getvalue(), filetypes.PDF, True)


def scrub(data: bytes, ftype: FileType, max_pixels: int) -> Scrubbed:
    """Remove metadata where we know how; other types come back unchanged, not scrubbed."""
    if ftype.family == "image":
        return scrub_image(data, ftype, max_pixels)
    if ftype.family == "pdf":
        return scrub_pdf(data)
    return Scrubbed(data, ftype, False)


def needs_memory(ftype: FileType) -> bool:
    """True when scrubbing this type reads the whole file into memory."""
    return ftype.family in ("image", "pdf")
