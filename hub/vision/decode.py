"""Uploaded images -> BGR arrays, with a precise reason for every refusal.

Every ``/api/v1/cv`` endpoint that takes an image goes through :func:`decode_image_b64` (JSON
bodies) or :func:`decode_image_bytes` (multipart uploads), so "not base64", "a PDF", "40 MB" or
"1x1 px" get the same 4xx wording everywhere. Pure apart from OpenCV's decoder.

Large JPEGs are decoded at a reduced size where that loses nothing the routes use: libjpeg scales
by 1/2, 1/4 or 1/8 inside the inverse DCT (``cv2.IMREAD_REDUCED_COLOR_*``, what PIL's draft mode
does), several times faster than decoding every pixel and then resizing. The largest factor is
taken that keeps the longer side at :data:`DECODE_MIN_LONG_SIDE` or more (and the shorter at
``min_side``): a 12-megapixel phone photo (4000 x 3000) arrives as 2000 x 1500, enough for face
crops (dlib's chip is 150 px), OCR and room analysis. ``reduce=False`` decodes in full. PNG has no
such mode and is always decoded in full.
"""

from __future__ import annotations

import base64
import binascii
import re

import cv2
import numpy as np

from models.faces import Image

MIN_IMAGE_SIDE = 64
MAX_IMAGE_PIXELS = 40_000_000
DECODE_MIN_LONG_SIDE = 1600
"""Reduced JPEG decoding keeps at least this many pixels on the longer side."""
_REDUCED = {
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}

_DATA_URL = re.compile(r"^data:[\w.+/-]+;base64,", re.IGNORECASE)
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class ImageDecodeError(ValueError):
    """An uploaded image is unusable. ``code``: not_base64 | too_large | unsupported_type |
    undecodable | too_small; ``field`` names the request field (``image``, ``images[2]``)."""

    def __init__(self, field: str, code: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.code = code
        self.reason = reason


def sniff_image(data: bytes) -> tuple[str, int, int] | None:
    """``(format, width, height)`` read from a PNG or JPEG header, without decoding pixels."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        if len(data) >= 24 and data[12:16] == b"IHDR":
            return "png", int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        return "png", 0, 0
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 4 <= len(data):
            if data[i] != 0xFF:
                return "jpeg", 0, 0
            marker = data[i + 1]
            if marker == 0xFF:  # fill byte
                i += 1
                continue
            if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            length = int.from_bytes(data[i + 2 : i + 4], "big")
            if marker in _JPEG_SOF and i + 9 <= len(data):
                height = int.from_bytes(data[i + 5 : i + 7], "big")
                width = int.from_bytes(data[i + 7 : i + 9], "big")
                return "jpeg", width, height
            if marker == 0xDA or length < 2:  # scan data before any frame header
                return "jpeg", 0, 0
            i += 2 + length
        return "jpeg", 0, 0
    return None


def describe_bytes(data: bytes) -> str:
    """A short guess at what non-image bytes are, for error messages."""
    signatures = [
        (b"%PDF", "a PDF document"),
        (b"GIF8", "a GIF image"),
        (b"BM", "a BMP image"),
        (b"II*\x00", "a TIFF image"),
        (b"MM\x00*", "a TIFF image"),
        (b"PK\x03\x04", "a ZIP archive"),
        (b"<", "text/markup"),
        (b"{", "JSON/text"),
    ]
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "a WebP image"
    if data[4:8] == b"ftyp":
        return "an HEIC/MP4 container"
    for prefix, name in signatures:
        if data.startswith(prefix):
            return name
    return "unknown bytes"


def b64_payload_bytes(data_b64: str, *, field: str, max_bytes: int) -> bytes:
    """Base64 (optionally a ``data:`` URL) -> bytes, refusing oversize input before decoding."""
    text = _DATA_URL.sub("", data_b64.strip(), count=1)
    text = "".join(text.split())
    if len(text) * 3 // 4 > max_bytes + 2:
        raise ImageDecodeError(field, "too_large", f"image is larger than {max_bytes} bytes")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ImageDecodeError(field, "not_base64", "not valid base64") from None


def reduction_factor(
    width: int,
    height: int,
    min_long_side: int = DECODE_MIN_LONG_SIDE,
    min_side: int = MIN_IMAGE_SIDE,
) -> int:
    """The largest of 1, 2, 4, 8 that leaves the longer side >= ``min_long_side`` and the shorter
    >= ``min_side`` (a JPEG's reduced decoding; 1 = decode in full)."""
    longer, shorter = max(width, height), min(width, height)
    for factor in (8, 4, 2):
        if longer // factor >= min_long_side and shorter // factor >= min_side:
            return factor
    return 1


def decode_image_b64(
    data_b64: str,
    *,
    max_bytes: int,
    field: str = "image",
    min_side: int = MIN_IMAGE_SIDE,
    reduce: bool = True,
) -> Image:
    """Base64 (optionally a ``data:`` URL) of a JPEG or PNG -> BGR image."""
    raw = b64_payload_bytes(data_b64, field=field, max_bytes=max_bytes)
    return decode_image_bytes(
        raw, max_bytes=max_bytes, field=field, min_side=min_side, reduce=reduce
    )


def decode_image_bytes(
    raw: bytes,
    *,
    max_bytes: int,
    field: str = "image",
    min_side: int = MIN_IMAGE_SIDE,
    reduce: bool = True,
) -> Image:
    """JPEG or PNG bytes -> BGR image; checks the header's size before decoding any pixel. A
    large JPEG comes back reduced (see the module docstring) unless ``reduce`` is False."""
    if not raw:
        raise ImageDecodeError(field, "undecodable", "the image is empty")
    if len(raw) > max_bytes:
        raise ImageDecodeError(field, "too_large", f"image is larger than {max_bytes} bytes")
    sniffed = sniff_image(raw)
    if sniffed is None:
        raise ImageDecodeError(
            field, "unsupported_type", f"not a JPEG or PNG image (looks like {describe_bytes(raw)})"
        )
    kind, width, height = sniffed
    flags = cv2.IMREAD_COLOR
    if width and height:
        _check_dimensions(field, width, height, min_side)
        factor = reduction_factor(width, height, min_side=min_side) if kind == "jpeg" else 1
        if reduce and factor > 1:
            flags = _REDUCED[factor]
    image = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), flags)
    if image is None or image.ndim != 3 or image.size == 0:
        raise ImageDecodeError(field, "undecodable", f"could not decode the {kind.upper()} data")
    height, width = image.shape[:2]
    _check_dimensions(field, width, height, min_side)
    decoded: Image = np.ascontiguousarray(image, dtype=np.uint8)
    return decoded


def _check_dimensions(field: str, width: int, height: int, min_side: int) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageDecodeError(
            field, "too_large", f"{width}x{height} px is over the {MAX_IMAGE_PIXELS} pixel limit"
        )
    if min(width, height) < min_side:
        raise ImageDecodeError(
            field, "too_small", f"{width}x{height} px is too small: at least {min_side} px per side"
        )
