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
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.api.auth import metrics_access
from hub.observability.db_metrics import DatabaseGauges

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


class CvMetrics:
    """The CV service's counters and histograms (what the seed asks for: recognition latency,
    faces recognised/unknown, liveness failures, OCR and image-search counts), ``innsight_cv_*``.

    Requests per endpoint are :class:`HttpMetrics`' ``innsight_http_requests`` (label ``route``);
    these add what the HTTP layer cannot see: recognition outcomes and latency, liveness
    failures, OCR and image-search work, room inspections and hazard detections.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.recognition_latency = Histogram(
            "innsight_cv_face_recognition_seconds",
            "Time to recognise one face (decode excluded): detect, quality, embed, match.",
            buckets=(0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0),
            registry=registry,
        )
        self.recognitions = Counter(
            "innsight_cv_face_recognitions",
            "Face recognition requests by outcome "
            "(success | face_not_found | no_face_detected | liveness_check_failed | ...).",
            ["status"],
            registry=registry,
        )
        self.faces_recognized = Counter(
            "innsight_cv_faces_recognized", "Faces matched to an employee.", registry=registry
        )
        self.faces_unknown = Counter(
            "innsight_cv_faces_unknown", "Faces that matched nobody.", registry=registry
        )
        self.liveness_failures = Counter(
            "innsight_cv_liveness_failures",
            "Faces that failed the liveness check.",
            registry=registry,
        )
        self.enrolments = Counter(
            "innsight_cv_face_enrolments", "Face templates enrolled.", registry=registry
        )
        self.ocr_requests = Counter(
            "innsight_cv_ocr_requests",
            "OCR requests by document type and outcome.",
            ["document_type", "outcome"],
            registry=registry,
        )
        self.image_search_requests = Counter(
            "innsight_cv_image_search_requests",
            "Image index/search requests by operation and outcome.",
            ["operation", "outcome"],
            registry=registry,
        )
        self.room_analyses = Counter(
            "innsight_cv_room_analyses",
            "Room inspections by verdict (ready | not_ready).",
            ["verdict"],
            registry=registry,
        )
        self.room_analysis_latency = Histogram(
            "innsight_cv_room_analysis_seconds",
            "Time to align and compare one inspection photo.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0),
            registry=registry,
        )
        self.hazard_detections = Counter(
            "innsight_cv_hazard_detections",
            "Hazards found by /anomaly/detect, by kind and severity.",
            ["kind", "severity"],
            registry=registry,
        )
        self.hazard_latency = Histogram(
            "innsight_cv_anomaly_detect_seconds",
            "Time to run the hazard detectors on one image.",
            buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0),
            registry=registry,
        )
        # The seed's own metric names and labels (004 "Prometheus Metrics" and the example
        # exposition of GET /api/v1/cv/metrics), served at /api/v1/cv/metrics and /metrics.
        self.recognition_total = Counter(
            "cv_face_recognition",
            "Total face recognition requests (status: success | failure | no_face | "
            "liveness_failed).",
            ["status"],
            registry=registry,
        )
        self.recognition_duration = Histogram(
            "cv_face_recognition_duration_seconds",
            "Face recognition duration (decode excluded).",
            buckets=(0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
            registry=registry,
        )
        self.recognition_confidence = Histogram(
            "cv_face_recognition_confidence",
            "Face recognition confidence score of matches.",
            buckets=(0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0),
            registry=registry,
        )
        self.image_search_total = Counter(
            "cv_image_search",
            "Total image search requests.",
            ["category"],
            registry=registry,
        )
        self.image_search_duration = Histogram(
            "cv_image_search_duration_seconds",
            "Image search duration.",
            registry=registry,
        )
        self.ocr_total = Counter(
            "cv_ocr", "Total OCR requests (type: invoice | id).", ["type"], registry=registry
        )
        self.ocr_requests_total = Counter(
            "cv_ocr_requests",
            "Total OCR requests by document type.",
            ["document_type"],
            registry=registry,
        )
        self.gpu_memory_usage = Gauge(
            "cv_gpu_memory_usage_bytes", "GPU memory usage in bytes.", registry=registry
        )
        self.model_loaded = Gauge(
            "cv_model_loaded",
            "Model loaded status (1=loaded, 0=not loaded).",
            ["model_name"],
            registry=registry,
        )
        # The seed's label values are exposed from the start (at 0), so a scrape shows the
        # series the seed names before the first request of each kind.
        for status in ("success", "failure", "no_face", "liveness_failed"):
            self.recognition_total.labels(status)
        for kind in ("invoice", "id"):
            self.ocr_total.labels(kind)
        for category in ("room", "lost_found", "amenity"):
            self.image_search_total.labels(category)


def cv_metrics_of(request: Request) -> CvMetrics:
    """The app's :class:`CvMetrics` (created by ``create_app``)."""
    found: CvMetrics = request.app.state.cv_metrics
    return found


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


def prometheus_response(*registries: CollectorRegistry, prefixes: tuple[str, ...] = ()) -> Response:
    """Prometheus text of the given registries; with ``prefixes``, only the metric families
    whose name starts with one of them (a surface's own ``/api/v1/<surface>/metrics``)."""
    chunks: list[bytes] = []
    for registry in registries:
        if not prefixes:
            chunks.append(generate_latest(registry))
            continue
        names = {family.name for family in registry.collect() if family.name.startswith(prefixes)}
        if names:
            chunks.append(
                generate_latest(registry.restricted_registry(_sample_names(registry, names)))
            )
    return Response(content=b"".join(chunks), media_type=CONTENT_TYPE_LATEST)


def _sample_names(registry: CollectorRegistry, families: set[str]) -> list[str]:
    return [
        sample.name
        for family in registry.collect()
        if family.name in families
        for sample in family.samples
    ]


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(metrics_access)])
async def metrics(request: Request) -> Response:
    registries: list[CollectorRegistry] = [request.app.state.http_registry]
    runtime = getattr(request.app.state, "hub", None)
    if runtime is not None:
        registries.extend(runtime.registries)
        gauges: DatabaseGauges | None = getattr(request.app.state, "db_gauges", None)
        if gauges is not None:  # the edge fleet and the flows, read from the database now
            await gauges.refresh(runtime.session_factory)
    return prometheus_response(*registries)
