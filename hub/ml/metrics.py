"""The ML service's Prometheus metrics (``innsight_ml_*``), served at
``GET /api/v1/ml/metrics`` and, with every other family of the hub's registry, at
``GET /metrics``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from hub.ml.results import ModelStatus

# the hub model that answers each ML endpoint (the label ``model`` of the prediction metrics)
MODEL_OF_ENDPOINT: Final[dict[str, str]] = {
    "recommend/services": "recommender",
    "recommend/rooms": "recommender",
    "pricing/optimize": "pricing",
    "pricing/current": "pricing",
    "churn/predict": "cancellation",
    "forecast/occupancy": "occupancy",
    "forecast/revenue": "revenue",
    "forecast/housekeeping_demand": "housekeeping_demand",
    "clv/predict": "clv",
}


class MlMetrics:
    """Prediction latency and counts by model, training runs, and the promoted models."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.prediction_duration = Histogram(
            "innsight_ml_prediction_duration_seconds",
            "Time to answer one ML prediction request, by model and endpoint.",
            ["model", "endpoint"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        )
        self.predictions = Counter(
            "innsight_ml_predictions",
            "ML prediction requests by model, endpoint and status (success | error).",
            ["model", "endpoint", "status"],
            registry=registry,
        )
        self.training_runs = Counter(
            "innsight_ml_training_runs",
            "Model trainings by model and outcome (promoted | kept_current | skipped | error).",
            ["model_name", "status"],
            registry=registry,
        )
        self.model_trained = Gauge(
            "innsight_ml_model_trained",
            "1 when a promoted version of the model exists, else 0.",
            ["model_name"],
            registry=registry,
        )
        self.model_score = Gauge(
            "innsight_ml_model_score",
            "The promoted version's primary evaluation metric on its held-out window.",
            ["model_name", "metric"],
            registry=registry,
        )
        self.predictions_logged = Gauge(
            "innsight_ml_predictions_logged",
            "Rows in the ml_predictions table.",
            registry=registry,
        )

    def observe(self, endpoint: str, ok: bool, seconds: float) -> None:
        model = MODEL_OF_ENDPOINT.get(endpoint, "none")
        status = "success" if ok else "error"
        self.predictions.labels(model, endpoint, status).inc()
        if ok:
            self.prediction_duration.labels(model, endpoint).observe(seconds)

    def record_models(self, statuses: Iterable[ModelStatus], logged: int) -> None:
        for status in statuses:
            self.model_trained.labels(status.name).set(1 if status.trained else 0)
            if status.score is not None and status.metric is not None:
                self.model_score.labels(status.name, status.metric).set(status.score)
        self.predictions_logged.set(logged)
