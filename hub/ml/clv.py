"""Guest lifetime value over the next 12 months, retention probability and a value segment.

Features per guest at a cutoff (what the hotel knew that day): stays, nights, room and service
spend, recency, tenure, cancellations, rate, party, main segment, country, and the bookings
already made for after the cutoff. Targets: the room and service revenue of stays arriving in
the ``horizon`` days after the cutoff, and whether there was any. LightGBM (Tweedie for the
value, binary for retention). Training cutoffs are chosen so that every target window has fully
happened before the evaluation cutoff (``hub.ml.training``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

import lightgbm as lgb
import numpy as np
import pandas as pd

from hub.ml.cancellation import classification_metrics
from hub.ml.config import ClvConfig
from hub.ml.features import CategoryEncoder
from hub.ml.history import DAY, History

logger = logging.getLogger(__name__)

NUMERIC: Final[tuple[str, ...]] = (
    "bookings",
    "stays",
    "cancellations",
    "nights",
    "room_revenue",
    "service_revenue",
    "recency_days",
    "tenure_days",
    "avg_rate",
    "avg_lead",
    "avg_party",
    "with_children",
    "upcoming_bookings",
    "upcoming_value",
    "services_distinct",
)
CATEGORICAL: Final[tuple[str, ...]] = ("main_segment", "country")
FEATURES: Final[tuple[str, ...]] = NUMERIC + CATEGORICAL


def guest_features(history: History) -> pd.DataFrame:
    """One row per guest with a booking made before ``history.as_of`` (pass a truncated
    history for an earlier cutoff)."""
    b = history.bookings
    cutoff = history.as_of_ts
    b = b[b["created"] < cutoff]
    if b.empty:
        return pd.DataFrame(columns=list(FEATURES))
    stayed = (b["cancel_date"].isna() & ~b["no_show"]).to_numpy()
    nights = ((b["departure"] - b["arrival"]) / DAY).to_numpy()
    past = stayed & (b["arrival"] < cutoff).to_numpy()
    future = stayed & (b["arrival"] >= cutoff).to_numpy()
    value = b["adr"].to_numpy() * nights
    lead = ((b["arrival"] - b["created"]) / DAY).to_numpy()
    frame = pd.DataFrame(
        {
            "guest_id": b["guest_id"].to_numpy(),
            "booking": 1.0,
            "stay": past.astype(float),
            "cancel": b["cancel_date"].notna().to_numpy().astype(float),
            "nights": np.where(past, nights, 0.0),
            "room_revenue": np.where(past, value, 0.0),
            "last_arrival": b["arrival"].where(past),
            "first_created": b["created"],
            "rate": np.where(past, b["adr"].to_numpy(), np.nan),
            "lead": lead,
            "party": (b["adults"] + b["children"]).to_numpy().astype(float),
            "children": (b["children"] > 0).to_numpy().astype(float),
            "upcoming": future.astype(float),
            "upcoming_value": np.where(future, value, 0.0),
            "segment": b["market_segment"].to_numpy(),
            "country": b["country"].to_numpy(),
        }
    )
    g = frame.groupby("guest_id")
    out = pd.DataFrame(
        {
            "bookings": g["booking"].sum(),
            "stays": g["stay"].sum(),
            "cancellations": g["cancel"].sum(),
            "nights": g["nights"].sum(),
            "room_revenue": g["room_revenue"].sum(),
            "recency_days": (cutoff - g["last_arrival"].max()) / DAY,
            "tenure_days": (cutoff - g["first_created"].min()) / DAY,
            "avg_rate": g["rate"].mean(),
            "avg_lead": g["lead"].mean(),
            "avg_party": g["party"].mean(),
            "with_children": g["children"].max(),
            "upcoming_bookings": g["upcoming"].sum(),
            "upcoming_value": g["upcoming_value"].sum(),
            "main_segment": _mode(frame, "segment"),
            "country": g["country"].last(),
        }
    )
    s = history.services[history.services["date"] < cutoff]
    spend = s.groupby("guest_id")["amount"].sum()
    distinct = s.groupby("guest_id")["service"].nunique()
    out["service_revenue"] = out.index.map(spend).fillna(0.0).astype(float)
    out["services_distinct"] = out.index.map(distinct).fillna(0).astype(float)
    out["main_segment"] = out["main_segment"].astype(str)
    out["country"] = out["country"].astype(str)
    return out[list(FEATURES)]


def _mode(frame: pd.DataFrame, column: str) -> pd.Series:
    """The most frequent value of ``column`` per guest (ties: the first in sort order)."""
    counts = frame.groupby(["guest_id", column]).size().rename("n").reset_index()
    counts = counts.sort_values(["guest_id", "n", column], ascending=[True, False, True])
    return counts.drop_duplicates("guest_id").set_index("guest_id")[column]


def guest_targets(history: History, cutoff: pd.Timestamp, horizon_days: int) -> pd.DataFrame:
    """Revenue (rooms + services) of stays arriving in ``[cutoff, cutoff + horizon)``."""
    end = cutoff + pd.Timedelta(days=horizon_days)
    b = history.bookings
    stay = b[history.stayed() & (b["arrival"] >= cutoff) & (b["arrival"] < end)]
    nights = (stay["departure"] - stay["arrival"]) / DAY
    rooms = (stay["adr"] * nights).groupby(stay["guest_id"]).sum()
    s = history.services[history.services["booking_id"].isin(stay["booking_id"])]
    services = s.groupby("guest_id")["amount"].sum()
    value = rooms.add(services, fill_value=0.0)
    return pd.DataFrame({"value": value, "retained": (value > 0).astype(int)})


@dataclass
class ClvModel:
    encoder: CategoryEncoder
    value_model: lgb.LGBMRegressor
    retention_model: lgb.LGBMClassifier
    horizon_days: int
    high_value: float  # 75th percentile of predicted value among guests who stayed

    def predict(self, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(expected value over the horizon, probability of a stay in it)."""
        x = self.encoder.transform(features[list(FEATURES)])
        value = np.clip(np.asarray(self.value_model.predict(x), dtype=float), 0.0, None)
        retention = np.asarray(self.retention_model.predict_proba(x), dtype=float)[:, 1]
        return value, retention

    def segment(self, value: float, retention: float, past_value: float, stays: float) -> str:
        """champion | loyal | at_risk | new | occasional | dormant."""
        if stays == 0:
            return "new"
        if retention >= 0.5 and value >= self.high_value:
            return "champion"
        if retention >= 0.5:
            return "loyal"
        if past_value >= self.high_value and retention < 0.3:
            return "at_risk"
        if retention >= 0.2:
            return "occasional"
        return "dormant"


def training_frame(history: History, cutoff: pd.Timestamp, horizon_days: int) -> pd.DataFrame:
    """Features at ``cutoff`` joined with the targets of the following horizon."""
    features = guest_features(history.truncate(cutoff.date()))
    targets = guest_targets(history, cutoff, horizon_days)
    frame = features.join(targets, how="left")
    frame["value"] = frame["value"].fillna(0.0)
    frame["retained"] = frame["retained"].fillna(0).astype(int)
    return frame


def fit_clv(frame: pd.DataFrame, config: ClvConfig) -> ClvModel:
    if frame["retained"].nunique() < 2:
        raise ValueError("no guest came back (or every guest did) in the training window")
    encoder = CategoryEncoder.fit(frame, CATEGORICAL)
    x = encoder.transform(frame[list(FEATURES)])
    value_model = lgb.LGBMRegressor(
        objective="tweedie", tweedie_variance_power=1.5, **config.lgbm.kwargs()
    )
    value_model.fit(x, frame["value"].to_numpy())
    retention_model = lgb.LGBMClassifier(objective="binary", **config.lgbm.kwargs())
    retention_model.fit(x, frame["retained"].to_numpy())
    model = ClvModel(encoder, value_model, retention_model, config.horizon_days, 0.0)
    value, _ = model.predict(frame)
    stayed = frame["stays"].to_numpy() > 0
    model.high_value = float(np.quantile(value[stayed], 0.75)) if stayed.any() else 0.0
    logger.info(
        "fitted CLV model on %d guests (%.1f %% came back)",
        len(frame),
        100 * frame["retained"].mean(),
    )
    return model


def naive_value(frame: pd.DataFrame, horizon_days: int) -> np.ndarray:
    """Baseline: the guest's past yearly spend, carried forward over the horizon."""
    years = np.maximum(frame["tenure_days"].to_numpy(), 365.0) / 365.0
    spend = frame["room_revenue"].to_numpy() + frame["service_revenue"].to_numpy()
    return np.asarray(spend / years * horizon_days / 365.0 + frame["upcoming_value"].to_numpy())


def evaluate_clv(model: ClvModel, frame: pd.DataFrame) -> dict[str, float]:
    value, retention = model.predict(frame)
    y = frame["value"].to_numpy()
    baseline = naive_value(frame, model.horizon_days)
    metrics = {
        "mae": float(np.mean(np.abs(y - value))),
        "mae_naive": float(np.mean(np.abs(y - baseline))),
        "total_error": float(abs(value.sum() - y.sum()) / max(y.sum(), 1e-9)),
        "guests": float(len(frame)),
    }
    retained = classification_metrics(frame["retained"].to_numpy(), retention)
    metrics.update({f"retention_{k}": v for k, v in retained.items() if k != "rows"})
    return metrics
