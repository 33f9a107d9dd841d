"""Logging for the ``innsight`` command: the classic text lines, or one JSON object per line
(``--log-format json`` / ``INNSIGHT_LOG_FORMAT=json``) with the request id and, when a span is
recording, the trace and span ids."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final, Literal

from hub.observability.context import current_request_id

LogFormat = Literal["text", "json"]
LOG_FORMATS: Final = ("text", "json")
TEXT_FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# LogRecord attributes that are not a caller's ``extra`` (color_message: uvicorn's ANSI copy)
_STANDARD: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "request_id", "taskName", "color_message"}
)

_state: dict[str, str] = {"format": "text", "level": "INFO"}


class RequestIdFilter(logging.Filter):
    """Stamps ``record.request_id`` (``None`` outside a request) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
    ``request_id``, ``trace_id``/``span_id`` inside a recording span, ``exc_info`` as text, and
    the caller's ``extra`` fields (values that are not JSON are written as their ``str``)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        entry.update(_span_ids())
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def _span_ids() -> dict[str, str]:
    """The current span's trace and span ids (none outside a recording span, or on an edge
    without OpenTelemetry: the edge's install has no opentelemetry-api)."""
    try:
        from opentelemetry import trace
    except ImportError:
        return {}
    span = trace.get_current_span().get_span_context()
    if not span.is_valid:
        return {}
    return {"trace_id": format(span.trace_id, "032x"), "span_id": format(span.span_id, "016x")}


def log_format_of(value: str) -> LogFormat:
    """``text`` or ``json`` (case-insensitive); raises ``ValueError`` naming the choices."""
    lowered = value.strip().lower()
    if lowered == "json":
        return "json"
    if lowered == "text":
        return "text"
    raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {value!r}")


def make_handler(log_format: LogFormat) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    return handler


def configure_logging(level: str, log_format: LogFormat = "text") -> None:
    """The root logger at ``level`` writing ``log_format`` lines to stderr (as
    :func:`logging.basicConfig`: nothing changes when the root already has a handler)."""
    _state["format"] = log_format
    _state["level"] = level.upper() if level.upper() in logging.getLevelNamesMapping() else "INFO"
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO), handlers=[make_handler(log_format)]
    )


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's ``log_config``: its own text config, or (JSON logs) a config that sends its
    loggers to one JSON handler on the root: in this process and in each ``--workers`` child,
    which configures logging from it anew."""
    from uvicorn.config import LOGGING_CONFIG

    if _state["format"] != "json":
        config: dict[str, Any] = LOGGING_CONFIG
        return config
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "json",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["json"], "level": _state["level"]},
        "loggers": {
            name: {"handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
