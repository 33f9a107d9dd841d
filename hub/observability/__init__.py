"""Observability that plugs in: request ids and JSON logs (:mod:`.logs`, :mod:`.context`),
the request middleware (:mod:`.middleware`), optional OpenTelemetry traces (:mod:`.tracing`) and
the gauges read from the database at scrape time (:mod:`.db_metrics`). docs/observability.md."""
