"""``GET /metrics`` (Prometheus text) and the middleware counting HTTP requests.

Open to loopback callers by default (Prometheus scrapes without credentials on the hub host);
from anywhere else it needs ``metrics:read`` (see :func:`hub.api.auth.metrics_access`).
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.api.auth import metrics_access

router = APIRouter(tags=["metrics"])


class HttpMetrics:
    """Request count and latency by method, route template and status."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "innsight_http_requests",
            "HTTP requests answered by the hub API.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "innsight_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        )


class PrometheusMiddleware:
    """Pure ASGI middleware; labels use the route template (``/api/v1/events/{event_id}``),
    never the raw path, so ids do not explode the label space."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = str(getattr(route, "path", "")) or "unmatched"
            method = str(scope.get("method", ""))
            self._metrics.requests.labels(method, template, str(status)).inc()
            self._metrics.latency.labels(method, template).observe(time.perf_counter() - started)


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(metrics_access)])
async def metrics(request: Request) -> Response:
    registries: list[CollectorRegistry] = [request.app.state.http_registry]
    runtime = getattr(request.app.state, "hub", None)
    if runtime is not None:
        registries.extend(runtime.registries)
    body = b"".join(generate_latest(registry) for registry in registries)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
