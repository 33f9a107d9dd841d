"""The outermost middleware of the hub API: gives each HTTP request its id (the caller's
``X-Request-ID`` when acceptable, else a new one), echoes it in the response, binds it for the
logs, and, when tracing is on (``app.state.tracer``), wraps the request in a server span."""

from __future__ import annotations

import logging
import time
from typing import Any

from opentelemetry.propagate import extract
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.observability.context import REQUEST_ID_HEADER, request_id_from, request_id_var

# one DEBUG line per request (uvicorn's access log is off): method, route template, status, time
access_logger = logging.getLogger("hub.access")


class RequestContextMiddleware:
    """Pure ASGI. The span is named ``METHOD /route/{template}`` once routing has matched (the
    raw path would put ids into span names); attributes follow OpenTelemetry's HTTP conventions."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = request_id_from(headers.get(REQUEST_ID_HEADER))
        token = request_id_var.set(request_id)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        tracer = _tracer_of(scope)
        started = time.perf_counter()
        try:
            if tracer is None:
                await self._app(scope, receive, send_with_id)
                return
            method = str(scope.get("method", ""))
            with tracer.start_as_current_span(
                method,
                context=extract(dict(headers.items())),
                kind=SpanKind.SERVER,
                record_exception=True,
            ) as span:
                span.set_attribute("http.request.method", method)
                span.set_attribute("url.path", str(scope.get("path", "")))
                span.set_attribute("innsight.request_id", request_id)
                try:
                    await self._app(scope, receive, send_with_id)
                finally:
                    route = getattr(scope.get("route"), "path", None)
                    if route:
                        span.set_attribute("http.route", str(route))
                        span.update_name(f"{method} {route}")
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
        finally:
            if access_logger.isEnabledFor(logging.DEBUG):
                _log_access(scope, status, time.perf_counter() - started)
            request_id_var.reset(token)


def _log_access(scope: Scope, status: int, seconds: float) -> None:
    method = str(scope.get("method", ""))
    route = str(getattr(scope.get("route"), "path", "") or "unmatched")
    access_logger.debug(
        "%s %s -> %d in %.1f ms",
        method,
        route,
        status,
        seconds * 1000,
        extra={"http_method": method, "http_route": route, "http_status": status},
    )


def _tracer_of(scope: Scope) -> Tracer | None:
    app: Any = scope.get("app")
    state = getattr(app, "state", None)
    tracer: Tracer | None = getattr(state, "tracer", None)
    return tracer
