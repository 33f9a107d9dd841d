"""One error body for the whole API (DESIGN §8).

Every error answers ``{"detail": "<sentence>", "errors": [{"field": ..., "reason": ...}]}``:
4xx bodies say which field was wrong and why; a 500 says only that it is a bug on our side and
the exception goes to the log, never to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)

_LOCATIONS = {"body", "query", "path", "header", "cookie"}


def _printable(text: str) -> str:
    """``text`` as UTF-8 can carry it: a lone surrogate (from a JSON key or value the client
    sent) would make the response itself fail to encode, so it is written as ``\\udxxx``."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def field_error(field: str, reason: str) -> dict[str, str]:
    """The ``detail`` routes give ``HTTPException`` for a single bad field."""
    return {"field": _printable(field), "reason": _printable(reason)}


# How an unusable upload (hub/vision/decode.py's codes) is answered; anything else is a 422.
IMAGE_ERROR_STATUS = {"too_large": 413, "unsupported_type": 415}


def image_http_error(field: str, code: str, reason: str) -> HTTPException:
    """An undecodable upload as the project's 4xx: 413 too large, 415 wrong type, else 422."""
    return HTTPException(
        status_code=IMAGE_ERROR_STATUS.get(code, 422), detail=field_error(field, reason)
    )


def error_body(detail: str, errors: Sequence[dict[str, str]] = ()) -> dict[str, Any]:
    return {"detail": _printable(detail), "errors": list(errors)}


def _field_name(loc: Sequence[int | str]) -> str:
    parts = list(loc)
    if len(parts) > 1 and parts[0] in _LOCATIONS:
        parts = parts[1:]
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name or "body"


async def _validation_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type
    errors = [
        field_error(_field_name(err.get("loc", ())), str(err.get("msg", "invalid")))
        for err in exc.errors()
    ]
    summary = "; ".join(f"{e['field']}: {e['reason']}" for e in errors[:3])
    return JSONResponse(status_code=422, content=error_body(f"invalid request: {summary}", errors))


async def _http_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for this type
    detail = exc.detail
    if isinstance(detail, dict) and "field" in detail and "reason" in detail:
        errors = [field_error(str(detail["field"]), str(detail["reason"]))]
        body = error_body(f"{detail['field']}: {detail['reason']}", errors)
    elif isinstance(detail, list):
        errors = [field_error(str(d.get("field", "")), str(d.get("reason", ""))) for d in detail]
        body = error_body("; ".join(f"{e['field']}: {e['reason']}" for e in errors), errors)
    else:
        body = error_body(str(detail))
    return JSONResponse(status_code=exc.status_code, content=body, headers=exc.headers)


async def _unexpected_handler(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        status_code=500,
        content=error_body("internal server error: the hub logged the details"),
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(Exception, _unexpected_handler)
