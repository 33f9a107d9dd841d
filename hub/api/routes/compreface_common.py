"""What the CompreFace-compatible routes share: CompreFace-shaped errors, the ``x-api-key``
check (a key of that one service, docs/compreface.md), the uploaded image (multipart or base64
JSON) and the services (hub/compat/compreface) over the hub's own."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.datastructures import UploadFile

from hub.api.auth import RECOGNIZE_LIMIT, get_auth
from hub.api.deps import HubRuntime
from hub.auth.api_keys import KeyService, looks_like_api_key
from hub.auth.principal import Principal
from hub.auth.scopes import grants
from hub.auth.store import find_api_key
from hub.compat.compreface import errors
from hub.compat.compreface.collection import CompreFaceCollection
from hub.compat.compreface.errors import CompreFaceError
from hub.compat.compreface.inference import CompreFaceInference
from hub.vision.decode import ImageDecodeError, b64_payload_bytes, decode_image_bytes
from hub.vision.services import CvServices
from models.faces import FaceAnalyzer, Image, ModelUnavailableError

API_KEY_HEADER = "x-api-key"


class CompreFaceRoute(APIRoute):
    """Answers :class:`CompreFaceError` and request validation errors in CompreFace's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except CompreFaceError as err:
                return JSONResponse(err.body(), status_code=err.status)
            except RequestValidationError as err:
                first = err.errors()[0] if err.errors() else {}
                where = ".".join(str(p) for p in first.get("loc", ()))
                message = f"{where}: {first.get('msg', 'invalid')}"
                return JSONResponse(errors.invalid(message).body(), status_code=400)

        return route


async def authorize(
    request: Request, runtime: HubRuntime, service: KeyService, scope: str
) -> Principal:
    """The caller of ``service``: a live key of that service holding ``scope``."""
    key = request.headers.get(API_KEY_HEADER)
    if not key:
        raise errors.missing_header(API_KEY_HEADER)
    if not looks_like_api_key(key):
        raise errors.bad_key_format()
    async with runtime.session_factory() as session:
        row = await find_api_key(session, key)
    if row is None or row.revoked_at is not None or row.service != service.value:
        raise errors.service_not_found(service.value, key)
    if not grants(row.scopes, scope):
        raise errors.scope_missing(scope)
    return Principal("api_key", row.prefix, frozenset(row.scopes))


def rate_limit(request: Request, principal: Principal) -> None:
    """The hub's face-recognition rate limit, per key."""
    wait_s = get_auth(request).limiter(RECOGNIZE_LIMIT).hit(principal.actor)
    if wait_s > 0:
        raise errors.too_many_requests(wait_s)


async def analyzer_of(runtime: HubRuntime) -> FaceAnalyzer:
    try:
        return await runtime.faces.get()
    except ModelUnavailableError as err:
        raise errors.unavailable(f"face model unavailable: {err}") from err


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise errors.invalid("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise errors.invalid("the JSON body must be an object")
    return body


async def upload_bytes(request: Request, fields: tuple[str, ...], max_bytes: int) -> list[bytes]:
    """The raw bytes of each image field: a multipart part, or base64 in a JSON body."""
    content_type = request.headers.get("content-type", "")
    found: list[bytes] = []
    if content_type.startswith("application/json"):
        body = await _json_body(request)
        for name in fields:
            value = body.get(name)
            if not isinstance(value, str) or not value:
                raise errors.missing_part(name)
            try:
                found.append(b64_payload_bytes(value, field=name, max_bytes=max_bytes))
            except ImageDecodeError as err:
                raise errors.invalid(f"{name}: {err.reason}") from None
        return found
    if not content_type.startswith("multipart/form-data"):
        raise errors.invalid(
            "Content-Type must be multipart/form-data (a 'file' part) or application/json (base64)"
        )
    async with request.form(max_files=len(fields), max_fields=len(fields) + 8) as form:
        for name in fields:
            part = form.get(name)
            if not isinstance(part, UploadFile):
                raise errors.missing_part(name)
            data = await part.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise errors.invalid(f"{name}: image is larger than {max_bytes} bytes")
            found.append(data)
    return found


async def decode(data: bytes, field: str, max_bytes: int) -> Image:
    """JPEG or PNG bytes -> BGR image at full resolution (boxes in the sender's pixels)."""
    try:
        return await asyncio.to_thread(
            decode_image_bytes, data, max_bytes=max_bytes, field=field, reduce=False
        )
    except ImageDecodeError as err:
        raise errors.invalid(f"{field}: {err.reason}") from None


async def upload_images(
    request: Request, runtime: HubRuntime, fields: tuple[str, ...]
) -> list[Image]:
    limit = runtime.settings.max_upload_bytes
    raw = await upload_bytes(request, fields, limit)
    return [await decode(data, name, limit) for data, name in zip(raw, fields, strict=True)]


def collection(runtime: HubRuntime) -> CompreFaceCollection:
    return CompreFaceCollection(runtime.session_factory, runtime.gallery, runtime.store)


def inference(runtime: HubRuntime, cv: CvServices) -> CompreFaceInference:
    return CompreFaceInference(cv.faces, runtime.gallery.templates)


def query_of(request: Request) -> dict[str, str]:
    return dict(request.query_params)
