"""Uploaded images for the ``/api/v1/cv`` routes: decoded off the event loop (a 10 MB image
takes tens of ms to decode) and refused with the project's 4xx (413 too large, 415 wrong
type, else 422) naming the field and the reason."""

from __future__ import annotations

import asyncio

from hub.api.errors import image_http_error
from hub.vision.decode import (
    ImageDecodeError,
    b64_payload_bytes,
    decode_image_b64,
    decode_image_bytes,
    sniff_image,
)
from models.faces import Image

_CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png"}


async def decode_upload(text: str, *, max_bytes: int, field: str = "image") -> Image:
    """Base64 JPEG/PNG -> BGR array."""
    try:
        return await asyncio.to_thread(decode_image_b64, text, max_bytes=max_bytes, field=field)
    except ImageDecodeError as err:
        raise image_http_error(err.field, err.code, err.reason) from None


async def decode_upload_keeping_bytes(
    text: str, *, max_bytes: int, field: str = "image"
) -> tuple[Image, bytes, str]:
    """Base64 JPEG/PNG -> (BGR array, the uploaded bytes, their content type), for routes that
    store the original."""

    def decode() -> tuple[Image, bytes, str]:
        raw = b64_payload_bytes(text, field=field, max_bytes=max_bytes)
        image = decode_image_bytes(raw, max_bytes=max_bytes, field=field)
        sniffed = sniff_image(raw)
        kind = sniffed[0] if sniffed else ""
        return image, raw, _CONTENT_TYPES.get(kind, "application/octet-stream")

    try:
        return await asyncio.to_thread(decode)
    except ImageDecodeError as err:
        raise image_http_error(err.field, err.code, err.reason) from None
