"""Cancellation probability per booking, its risk level, top factors and recommended actions.

LightGBM on the dataset's booking attributes (:mod:`hub.ml.features`, no leakage); the factors
are LightGBM's per-feature contributions to the log-odds (``pred_contrib=True``, TreeSHAP), so
they add up to the prediction. The baseline is a logistic regression on the same inputs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Final, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from hub.ml.config import CancellationConfig
from hub.ml.features import (
    CANCEL_CATEGORICAL,
    CANCEL_FEATURES,
    CANCEL_NUMERIC,
    CategoryEncoder,
    cancellation_features,
    cancellation_labels,
)
from hub.ml.schema import NULL_ID

logger = logging.getLogger(__name__)

RiskLevel = Literal["low", "medium", "high"]

FEATURE_LABELS: Final[dict[str, str]] = {
    "lead_time": "lead time (days)",
    "arrival_date_week_number": "arrival week",
    "arrival_date_day_of_month": "arrival day of month",
    "arrival_dow": "arrival weekday",
    "stays_in_weekend_nights": "weekend nights",
    "stays_in_week_nights": "week nights",
    "total_nights": "length of stay",
    "adults": "adults",
    "children": "children",
    "babies": "babies",
    "is_repeated_guest": "repeat guest",
    "previous_cancellations": "previous cancellations",
    "previous_bookings_not_canceled": "previous stays",
    "days_in_waiting_list": "days on the waiting list",
    "adr": "nightly rate",
    "required_car_parking_spaces": "parking requested",
    "total_of_special_requests": "special requests",
    "has_agent": "booked through an agent",
    "has_company": "company booking",
    "hotel": "hotel",
    "arrival_date_month": "arrival month",
    "meal": "meal plan",
    "country": "country",
    "market_segment": "market segment",
    "distribution_channel": "channel",
    "reserved_room_type": "room type",
    "deposit_type": "deposit",
    "customer_type": "customer type",
    "agent": "agent",
}


@dataclass(frozen=True)
class Factor:
    feature: str
    label: str
    value: str
    contribution: float  # log-odds; > 0 raises the risk

    @property
    def effect(self) -> str:
        return "raises" if self.contribution > 0 else "lowers"


@dataclass(frozen=True)
class CancellationRisk:
    probability: float
    risk_level: RiskLevel
    factors: tuple[Factor, ...]
    actions: tuple[str, ...]


@dataclass
class CancellationModel:
    encoder: CategoryEncoder
    model: lgb.LGBMClassifier
    config: CancellationConfig
    base_rate: float

    def _x(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.encoder.transform(cancellation_features(frame))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        proba = self.model.predict_proba(self._x(frame))
        return np.asarray(proba, dtype=float)[:, 1]

    def risk_level(self, probability: float) -> RiskLevel:
        if probability >= self.config.risk_high:
            return "high"
        if probability >= self.config.risk_medium:
            return "medium"
        return "low"

    def explain(self, frame: pd.DataFrame) -> list[CancellationRisk]:
        """Probability, risk level, the strongest contributions and actions for each row."""
        x = self._x(frame)
        proba = np.asarray(self.model.predict_proba(x), dtype=float)[:, 1]
        contrib = np.asarray(self.model.predict(x, pred_contrib=True), dtype=float)
        raw = cancellation_features(frame)
        out = []
        for i in range(len(frame)):
            row = contrib[i, :-1]
            order = np.argsort(-np.abs(row))[: self.config.top_factors]
            factors = tuple(
                Factor(
                    feature=CANCEL_FEATURES[j],
                    label=FEATURE_LABELS.get(CANCEL_FEATURES[j], CANCEL_FEATURES[j]),
                    value=_show(raw.iloc[i][CANCEL_FEATURES[j]]),
                    contribution=float(row[j]),
                )
                for j in order
            )
            p = float(proba[i])
            level = self.risk_level(p)
            out.append(
                CancellationRisk(
                    p, level, factors, recommended_actions(level, factors, raw.iloc[i])
                )
            )
        return out


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


# a code per action sentence of :func:`recommended_actions` (the seed answers codes)
ACTION_CODES: Final[dict[str, str]] = {
    "No action needed: send the standard confirmation.": "send_confirmation_email",
    "Ask the guest to reconfirm 14 days and again 3 days before arrival.": "request_reconfirmation",
    "Offer a prepaid (non-refundable) rate or take a card guarantee now.": "offer_prepaid_rate",
    "Invite the guest to rebook direct with a perk (breakfast or late check-out).": (
        "offer_direct_rebooking_perk"
    ),
    "The guest cancelled before: require a guarantee for this stay.": "require_guarantee",
    "Engage before arrival: ask for room preferences, offer an airport transfer or a "
    "dinner reservation.": "engage_before_arrival",
    "Confirm the rooming list and the release date with the organiser.": "confirm_rooming_list",
    "Count this room in the overbooking allowance for its dates.": "count_in_overbooking",
}


def action_code(action: str) -> str:
    return ACTION_CODES.get(action, "review_booking")


def recommended_actions(
    level: RiskLevel, factors: tuple[Factor, ...], row: pd.Series
) -> tuple[str, ...]:
    """Front-office actions for a booking's risk, led by what drives it."""
    if level == "low":
        return ("No action needed: send the standard confirmation.",)
    actions: list[str] = []
    raising = {f.feature for f in factors if f.contribution > 0}
    if "lead_time" in raising:
        actions.append("Ask the guest to reconfirm 14 days and again 3 days before arrival.")
    if "deposit_type" in raising or str(row.get("deposit_type")) == "No Deposit":
        actions.append("Offer a prepaid (non-refundable) rate or take a card guarantee now.")
    indirect = str(row.get("distribution_channel")) != "Direct"
    if indirect and raising & {"distribution_channel", "market_segment", "agent", "has_agent"}:
        actions.append(
            "Invite the guest to rebook direct with a perk (breakfast or late check-out)."
        )
    if "previous_cancellations" in raising or float(row.get("previous_cancellations", 0)) > 0:
        actions.append("The guest cancelled before: require a guarantee for this stay.")
    if (
        "total_of_special_requests" in raising
        or float(row.get("total_of_special_requests", 0)) == 0
    ):
        actions.append(
            "Engage before arrival: ask for room preferences, offer an airport transfer or a "
            "dinner reservation."
        )
    if str(row.get("customer_type")) in ("Group", "Transient-Party"):
        actions.append("Confirm the rooming list and the release date with the organiser.")
    if level == "high":
        actions.append("Count this room in the overbooking allowance for its dates.")
    return tuple(dict.fromkeys(actions))[:4]


def fit_cancellation(frame: pd.DataFrame, config: CancellationConfig) -> CancellationModel:
    """Fit on bookings in the dataset's schema whose outcome is known."""
    x = cancellation_features(frame)
    y = cancellation_labels(frame)
    if len(np.unique(y)) < 2:
        raise ValueError("the training bookings are all cancelled or all stayed")
    encoder = CategoryEncoder.fit(x, CANCEL_CATEGORICAL)
    model = lgb.LGBMClassifier(objective="binary", **config.lgbm.kwargs())
    model.fit(encoder.transform(x), y)
    logger.info(
        "fitted cancellation model on %d bookings (%.1f %% cancelled)", len(y), 100 * y.mean()
    )
    return CancellationModel(encoder, model, config, float(y.mean()))


def fit_logistic_baseline(frame: pd.DataFrame) -> Pipeline:
    """Logistic regression on the same inputs (one-hot categoricals, scaled numerics)."""
    x = cancellation_features(frame)
    prep = ColumnTransformer(
        [
            (
                "num",
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                list(CANCEL_NUMERIC),
            ),
            (
                "cat",
                OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=10),
                list(CANCEL_CATEGORICAL),
            ),
        ]
    )
    pipeline = Pipeline(
        [("prep", prep), ("lr", LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=200))]
    )
    pipeline.fit(x, cancellation_labels(frame))
    return pipeline


def baseline_proba(pipeline: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(pipeline.predict_proba(cancellation_features(frame)), dtype=float)[:, 1]


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    if len(np.unique(y)) < 2:
        return {"rows": float(len(y))}
    return {
        "auc": float(roc_auc_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6))),
        "rows": float(len(y)),
        "positive_rate": float(np.mean(y)),
    }


def evaluate_cancellation(model: CancellationModel, frame: pd.DataFrame) -> dict[str, float]:
    return classification_metrics(cancellation_labels(frame), model.predict_proba(frame))


def booking_frame(values: dict[str, Any]) -> pd.DataFrame:
    """A one-row frame in the dataset's schema from partial values (API input)."""
    defaults: dict[str, Any] = {
        "hotel": "hotel",
        "is_canceled": 0,
        "lead_time": 0,
        "arrival_date_year": 2000,
        "arrival_date_month": "January",
        "arrival_date_week_number": 1,
        "arrival_date_day_of_month": 1,
        "stays_in_weekend_nights": 0,
        "stays_in_week_nights": 1,
        "adults": 2,
        "children": 0.0,
        "babies": 0,
        "meal": "BB",
        "country": "UNK",
        "market_segment": "Online TA",
        "distribution_channel": "TA/TO",
        "is_repeated_guest": 0,
        "previous_cancellations": 0,
        "previous_bookings_not_canceled": 0,
        "reserved_room_type": "double",
        "deposit_type": "No Deposit",
        "agent": NULL_ID,
        "company": NULL_ID,
        "days_in_waiting_list": 0,
        "customer_type": "Transient",
        "adr": 0.0,
        "required_car_parking_spaces": 0,
        "total_of_special_requests": 0,
    }
    return pd.DataFrame([defaults | values])
