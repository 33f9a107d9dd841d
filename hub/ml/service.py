"""The ML service the API routes and the CLI call: loads the history from the hub database
(cached until it changes), serves predictions from the promoted models (logging each to
``ml_predictions``), and retrains. CPU-bound work runs in a worker thread.

One class put together from one module per job: service_core.py (history cache, models,
prediction log, request checks), service_forecast.py, service_pricing.py, service_guests.py
(cancellation, lifetime value), service_recommend.py and service_training.py (retrain, status,
health).
"""

from __future__ import annotations

from hub.ml.service_core import ALL_ROOM_TYPES, TRAIN_HINT, utc_today
from hub.ml.service_forecast import ForecastOps
from hub.ml.service_guests import GuestOps
from hub.ml.service_pricing import PricingOps
from hub.ml.service_recommend import RecommendOps, budget_fit, price_tiers
from hub.ml.service_training import TrainingOps

__all__ = ["ALL_ROOM_TYPES", "TRAIN_HINT", "MLService", "budget_fit", "price_tiers", "utc_today"]


class MLService(ForecastOps, PricingOps, GuestOps, RecommendOps, TrainingOps):
    """Every ML operation behind ``/api/v1/ml`` and ``innsight ml``."""
