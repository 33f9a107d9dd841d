"""OpenTelemetry traces of the hub's HTTP requests, off unless ``otel_exporter`` says where to
send them. The SDK (the ``otel`` extra) is imported only when tracing is on."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, cast

from opentelemetry.trace import Tracer

from hub.settings import HubSettings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

TRACER_NAME = "innsight.hub"
# an optional package (reads OTEL_EXPORTER_OTLP_ENDPOINT and friends itself)
OTLP_MODULE = "opentelemetry.exporter.otlp.proto.http.trace_exporter"


class TracingUnavailableError(RuntimeError):
    """Tracing is asked for but its packages are not installed."""


def tracer_provider_for(settings: HubSettings) -> TracerProvider | None:
    """A tracer provider exporting to ``settings.otel_exporter`` (``None`` when ``none``)."""
    if settings.otel_exporter == "none":
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SpanExporter,
        )
    except ImportError as err:
        raise TracingUnavailableError(
            "otel_exporter is set but opentelemetry-sdk is not installed "
            "(pip install 'innsight[otel]')"
        ) from err
    exporter: SpanExporter
    if settings.otel_exporter == "console":
        exporter = ConsoleSpanExporter()
    else:
        try:
            otlp = importlib.import_module(OTLP_MODULE)
        except ImportError as err:
            raise TracingUnavailableError(
                "otel_exporter=otlp needs opentelemetry-exporter-otlp-proto-http installed"
            ) from err
        exporter = cast("SpanExporter", otlp.OTLPSpanExporter())
    resource = Resource.create({"service.name": settings.otel_service_name})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def tracer_of(provider: TracerProvider | None) -> Tracer | None:
    return None if provider is None else provider.get_tracer(TRACER_NAME)
