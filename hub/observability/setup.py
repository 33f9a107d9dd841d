"""``install_observability``: what ``create_app`` adds for observability, in one call."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from hub.assistant.metrics import LlmMetrics
from hub.ml.metrics import MlMetrics
from hub.observability.db_metrics import DatabaseGauges
from hub.observability.middleware import RequestContextMiddleware
from hub.observability.tracing import tracer_of, tracer_provider_for
from hub.settings import HubSettings


def install_observability(app: FastAPI, settings: HubSettings, registry: CollectorRegistry) -> None:
    """Register every metric family on ``registry`` from the start (the ML and assistant ones
    used to appear only after their first request, so dashboards saw no series), add the
    database gauges, the tracer (``None`` unless ``otel_exporter`` is set) and the request
    middleware. Call it after the other middlewares: the request id must wrap them all."""
    if getattr(app.state, "ml_metrics", None) is None:
        app.state.ml_metrics = MlMetrics(registry)
    if getattr(app.state, "llm_metrics", None) is None:
        app.state.llm_metrics = LlmMetrics(registry)
    gauges = DatabaseGauges()
    registry.register(gauges)
    app.state.db_gauges = gauges
    app.state.tracer = tracer_of(tracer_provider_for(settings))
    app.add_middleware(RequestContextMiddleware)
