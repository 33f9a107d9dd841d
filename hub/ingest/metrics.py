"""The ingest's Prometheus metrics (``innsight_ingest_*``)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass(frozen=True, slots=True)
class IngestMetrics:
    received: Counter
    stored: Counter
    duplicates: Counter
    dead_letters: Counter
    batch_failures: Counter
    transient_failures: Counter
    internal_errors: Counter
    dead_letter_alerts: Counter
    noisy_devices: Gauge
    held_messages: Gauge
    ack_latency: Histogram
    connected: Gauge

    @classmethod
    def register(cls, registry: CollectorRegistry) -> IngestMetrics:
        return cls(
            received=Counter(
                "innsight_ingest_messages_received",
                "MQTT messages received by the hub ingest, by channel.",
                ["channel"],
                registry=registry,
            ),
            stored=Counter(
                "innsight_ingest_messages_stored",
                "Event messages applied to the database (first delivery).",
                registry=registry,
            ),
            duplicates=Counter(
                "innsight_ingest_duplicates",
                "Event messages already applied before (redeliveries), acked again.",
                registry=registry,
            ),
            dead_letters=Counter(
                "innsight_ingest_dead_letters",
                "Messages refused into the dead-letter table, by reason (repeats included).",
                ["reason"],
                registry=registry,
            ),
            batch_failures=Counter(
                "innsight_ingest_batch_failures",
                "Transactions that failed (the batch was then split, or kept for a retry).",
                registry=registry,
            ),
            transient_failures=Counter(
                "innsight_ingest_transient_failures",
                "Batches kept for a retry because the database was unavailable.",
                registry=registry,
            ),
            internal_errors=Counter(
                "innsight_ingest_internal_errors",
                "Unexpected errors of the ingest caught by its last-resort handler.",
                registry=registry,
            ),
            dead_letter_alerts=Counter(
                "innsight_ingest_dead_letter_alerts",
                "Times a device went over the dead-letter alert threshold within the window.",
                registry=registry,
            ),
            noisy_devices=Gauge(
                "innsight_ingest_noisy_devices",
                "Devices over the dead-letter alert threshold in the current window.",
                registry=registry,
            ),
            held_messages=Gauge(
                "innsight_ingest_held_messages",
                "Messages kept in memory for a retry while the database is unavailable.",
                registry=registry,
            ),
            ack_latency=Histogram(
                "innsight_ingest_ack_latency_seconds",
                "From receipt of an event message to its ack being taken by the broker.",
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
                registry=registry,
            ),
            connected=Gauge(
                "innsight_ingest_connected",
                "1 while the ingest holds a broker connection.",
                registry=registry,
            ),
        )
