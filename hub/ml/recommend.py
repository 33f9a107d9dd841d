"""Service and room recommendations from the stay history and the stay at hand, with reasons.

Services: one logistic regression per service on the stay (segment, room type, party, length,
season, meal plan, international guest) and the guest's own history (stays, and how often they
ordered that service before). Rooms: a multinomial logistic regression of the room type booked
on the same context and the guest's earlier room types; types that are full on the requested
nights or too small for the party are left out. A recommendation's reason is its largest
positive term (coefficient x value), said in words. Baselines: overall popularity.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from hub.ml.catalog import SERVICE_NAMES, SERVICE_PRICES
from hub.ml.config import RecommenderConfig
from hub.ml.history import DAY, History
from hub.ml.schema import MARKET_SEGMENTS

logger = logging.getLogger(__name__)

MEAL_PLANS: Final[tuple[str, ...]] = ("BB", "HB", "FB", "SC")
LOS_BUCKETS: Final[tuple[tuple[str, int, int], ...]] = (
    ("los_1", 1, 1),
    ("los_2_3", 2, 3),
    ("los_4_6", 4, 6),
    ("los_7p", 7, 10_000),
)
HOME_COUNTRIES: Final[frozenset[str]] = frozenset({"VNM", "VN", "UNK"})


def stays_frame(history: History) -> pd.DataFrame:
    """One row per stay (not cancelled, not a no-show), in arrival order, with what the guest
    ordered on it (``ordered_<service>``) and before it (``prior_<service>``, ``prior_stays``,
    ``prior_rt_<room type>``)."""
    b = history.bookings[history.stayed()].sort_values(["arrival", "booking_id"], kind="stable")
    b = b.reset_index(drop=True)
    out = pd.DataFrame(
        {
            "booking_id": b["booking_id"],
            "guest_id": b["guest_id"],
            "arrival": b["arrival"],
            "departure": b["departure"],
            "segment": b["market_segment"],
            "room_type": b["room_type"],
            "adults": b["adults"],
            "children": b["children"] + b["babies"],
            "nights": ((b["departure"] - b["arrival"]) / DAY).astype(int),
            "meal": b["meal"],
            "country": b["country"],
        }
    )
    ordered = history.services.groupby(["booking_id", "service"]).size().unstack(fill_value=0)
    guest = out.groupby("guest_id")
    out["prior_stays"] = guest.cumcount()
    for name in SERVICE_NAMES:
        column = ordered[name] if name in ordered.columns else pd.Series(dtype=float)
        flag = (out["booking_id"].map(column).fillna(0) > 0).astype(int)
        out[f"ordered_{name}"] = flag
        out[f"prior_{name}"] = flag.groupby(out["guest_id"]).cumsum() - flag
    for rt in history.room_types:
        flag = (out["room_type"] == rt).astype(int)
        out[f"prior_rt_{rt}"] = flag.groupby(out["guest_id"]).cumsum() - flag
    return out


def _context_columns(room_types: tuple[str, ...], with_room_type: bool) -> list[str]:
    columns = [f"seg_{s}" for s in MARKET_SEGMENTS]
    if with_room_type:
        columns += [f"rt_{rt}" for rt in room_types]
    columns += ["adults", "children", *(b[0] for b in LOS_BUCKETS)]
    columns += [f"q_{q}" for q in range(1, 5)]
    columns += ["international", *(f"meal_{m}" for m in MEAL_PLANS), "prior_stays"]
    return columns


def context_matrix(
    stays: pd.DataFrame, room_types: tuple[str, ...], with_room_type: bool
) -> pd.DataFrame:
    x = pd.DataFrame(index=stays.index)
    for s in MARKET_SEGMENTS:
        x[f"seg_{s}"] = (stays["segment"] == s).astype(float)
    if with_room_type:
        for rt in room_types:
            x[f"rt_{rt}"] = (stays["room_type"] == rt).astype(float)
    x["adults"] = stays["adults"].astype(float)
    x["children"] = (stays["children"] > 0).astype(float)
    for name, lo, hi in LOS_BUCKETS:
        x[name] = stays["nights"].between(lo, hi).astype(float)
    quarter = pd.DatetimeIndex(stays["arrival"]).quarter
    for q in range(1, 5):
        x[f"q_{q}"] = (quarter == q).astype(float)
    x["international"] = (~stays["country"].isin(HOME_COUNTRIES)).astype(float)
    for m in MEAL_PLANS:
        x[f"meal_{m}"] = (stays["meal"] == m).astype(float)
    x["prior_stays"] = np.log1p(stays["prior_stays"].astype(float))
    return x[_context_columns(room_types, with_room_type)]


@dataclass(frozen=True)
class Suggestion:
    item: str
    score: float
    reason: str


@dataclass
class Recommender:
    room_types: tuple[str, ...]
    service_models: dict[str, LogisticRegression]
    service_rates: dict[str, float]
    room_model: LogisticRegression | None
    room_rates: dict[str, float]

    # -- services ----------------------------------------------------------------------------

    def _service_x(self, stays: pd.DataFrame, name: str) -> tuple[pd.DataFrame, list[str]]:
        x = context_matrix(stays, self.room_types, with_room_type=True)
        x["prior_service"] = np.log1p(stays[f"prior_{name}"].astype(float))
        return x, list(x.columns)

    def service_scores(self, stays: pd.DataFrame) -> pd.DataFrame:
        """P(ordered) per stay (rows) and service (columns)."""
        out = pd.DataFrame(index=stays.index)
        for name in SERVICE_NAMES:
            model = self.service_models.get(name)
            if model is None:
                out[name] = self.service_rates.get(name, 0.0)
                continue
            x, _ = self._service_x(stays, name)
            out[name] = np.asarray(model.predict_proba(x.to_numpy()), dtype=float)[:, 1]
        return out

    def recommend_services(self, stay: pd.DataFrame, k: int, exclude: set[str]) -> list[Suggestion]:
        """Top ``k`` services for one stay (a one-row :func:`stays_frame`-like frame)."""
        scores = self.service_scores(stay).iloc[0]
        ranked = [s for s in scores.sort_values(ascending=False).index if s not in exclude]
        out = []
        for name in ranked[:k]:
            out.append(Suggestion(name, float(scores[name]), self._service_reason(stay, name)))
        return out

    def _service_reason(self, stay: pd.DataFrame, name: str) -> str:
        model = self.service_models.get(name)
        rate = self.service_rates.get(name, 0.0)
        fallback = f"ordered on {rate:.0%} of stays"
        if model is None:
            return fallback
        x, columns = self._service_x(stay, name)
        terms = np.asarray(model.coef_[0]) * x.to_numpy()[0]
        best = int(np.argmax(terms))
        if terms[best] <= 0:
            return fallback
        return _phrase(columns[best], stay.iloc[0], name)

    # -- rooms -------------------------------------------------------------------------------

    def _room_x(self, stays: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
        x = context_matrix(stays, self.room_types, with_room_type=False)
        prior = stays["prior_stays"].astype(float).clip(lower=1.0)
        for rt in self.room_types:
            column = f"prior_rt_{rt}"
            x[column] = stays[column].astype(float) / prior if column in stays else 0.0
        return x, list(x.columns)

    def room_scores(self, stay: pd.DataFrame) -> dict[str, float]:
        if self.room_model is None:
            return dict(self.room_rates)
        x, _ = self._room_x(stay)
        proba = np.asarray(self.room_model.predict_proba(x.to_numpy()), dtype=float)[0]
        scores = dict.fromkeys(self.room_types, 0.0)
        for cls, p in zip(self.room_model.classes_, proba, strict=True):
            scores[str(cls)] = float(p)
        return scores

    def room_reason(self, stay: pd.DataFrame, room_type: str) -> str:
        fallback = f"chosen for {self.room_rates.get(room_type, 0.0):.0%} of stays"
        if self.room_model is None or room_type not in list(self.room_model.classes_):
            return fallback
        x, columns = self._room_x(stay)
        k = list(self.room_model.classes_).index(room_type)
        coef = np.asarray(self.room_model.coef_)
        # multinomial: the class's coefficients relative to the mean over classes
        relative = coef[k] - coef.mean(axis=0)
        terms = relative * x.to_numpy()[0]
        best = int(np.argmax(terms))
        if terms[best] <= 0:
            return fallback
        return _phrase(columns[best], stay.iloc[0], room_type)


def _phrase(column: str, stay: pd.Series, item: str) -> str:
    if column == "prior_service":
        n = int(stay.get(f"prior_{item}", 0))
        return f"you ordered it on {n} earlier stay{'s' if n != 1 else ''}"
    if column.startswith("prior_rt_"):
        rt = column.removeprefix("prior_rt_")
        n, m = int(stay.get(column, 0)), int(stay.get("prior_stays", 0))
        return f"you chose a {rt} room on {n} of your {m} earlier stays"
    if column.startswith("seg_"):
        return f"popular with {column.removeprefix('seg_')} guests"
    if column.startswith("rt_"):
        return f"popular with guests in {column.removeprefix('rt_')} rooms"
    if column == "children":
        return "popular with families travelling with children"
    if column == "adults":
        return f"suits a party of {int(stay.get('adults', 0))} adults"
    if column.startswith("los_"):
        return f"popular for stays of {int(stay.get('nights', 0))} nights"
    if column.startswith("q_"):
        return "popular at this time of year"
    if column == "international":
        return "popular with guests from abroad"
    if column.startswith("meal_"):
        return f"often taken with a {column.removeprefix('meal_')} meal plan"
    if column == "prior_stays":
        return "popular with returning guests"
    return "often chosen in stays like this one"


def fit_recommender(history: History, config: RecommenderConfig) -> Recommender:
    """Fit on the stays that ended before ``history.as_of``."""
    stays = stays_frame(history)
    stays = stays[stays["departure"] <= history.as_of_ts]
    if len(stays) < 50:
        raise ValueError(f"{len(stays)} completed stays; the recommender needs 50")
    room_types = tuple(history.room_types)
    rec = Recommender(room_types, {}, {}, None, {})
    for name in SERVICE_NAMES:
        y = stays[f"ordered_{name}"].to_numpy()
        rec.service_rates[name] = float(y.mean())
        if y.min() == y.max():
            continue
        x, _ = rec._service_x(stays, name)
        model = LogisticRegression(C=config.l2_c, solver="newton-cholesky", max_iter=200)
        model.fit(x.to_numpy(), y)
        rec.service_models[name] = model
    counts = stays["room_type"].value_counts(normalize=True)
    rec.room_rates = {rt: float(counts.get(rt, 0.0)) for rt in room_types}
    if stays["room_type"].nunique() >= 2:
        x, _ = rec._room_x(stays)
        rec.room_model = LogisticRegression(C=config.l2_c, solver="newton-cholesky", max_iter=200)
        rec.room_model.fit(x.to_numpy(), stays["room_type"].to_numpy())
    logger.info("fitted recommender on %d stays", len(stays))
    return rec


def evaluate_recommender(rec: Recommender, stays: pd.DataFrame, k: int) -> dict[str, float]:
    """Hit rate at ``k`` (a recommended service was ordered) on stays with an order, against
    the popularity ranking; room type top-1 accuracy against the most booked type."""
    metrics: dict[str, float] = {}
    ordered = stays[[f"ordered_{s}" for s in SERVICE_NAMES]].to_numpy()
    any_order = ordered.sum(axis=1) > 0
    if any_order.any():
        scores = rec.service_scores(stays[any_order]).to_numpy()
        top = np.argsort(-scores, axis=1)[:, :k]
        hits = np.take_along_axis(ordered[any_order], top, axis=1).sum(axis=1) > 0
        popular = np.argsort([-rec.service_rates[s] for s in SERVICE_NAMES])[:k]
        pop_hits = ordered[any_order][:, popular].sum(axis=1) > 0
        metrics[f"hit_rate_at_{k}"] = float(hits.mean())
        metrics[f"hit_rate_at_{k}_popularity"] = float(pop_hits.mean())
        metrics["stays"] = float(any_order.sum())
    if rec.room_model is not None and len(stays):
        x, _ = rec._room_x(stays)
        predicted = rec.room_model.predict(x.to_numpy())
        metrics["room_accuracy"] = float(np.mean(predicted == stays["room_type"].to_numpy()))
        most = max(rec.room_rates, key=lambda r: rec.room_rates[r])
        metrics["room_accuracy_popularity"] = float(np.mean(stays["room_type"].to_numpy() == most))
    return metrics


def service_price(history: History, name: str) -> float:
    """The median paid per unit, else the list price."""
    s = history.services[history.services["service"] == name]
    if s.empty:
        return SERVICE_PRICES.get(name, 0.0)
    return float((s["amount"] / s["quantity"].clip(lower=1)).median())


def context_stay(
    stays: pd.DataFrame, mine: History, booking_ref: str | None, today: date
) -> tuple[pd.DataFrame, set[str]]:
    """The stay to recommend for: the given booking, else the next upcoming stay, else the
    last one, else a typical first stay. Also what was already ordered on it."""
    if not stays.empty:
        if booking_ref is not None:
            ids = mine.bookings.loc[mine.bookings["booking_ref"] == booking_ref, "booking_id"]
            chosen = stays[stays["booking_id"].isin(ids)]
        else:
            upcoming = stays[stays["departure"] > pd.Timestamp(today)]
            chosen = upcoming.head(1) if not upcoming.empty else stays.tail(1)
        if not chosen.empty:
            row = chosen.head(1)
            done = {s for s in SERVICE_NAMES if int(row[f"ordered_{s}"].iloc[0]) > 0}
            return row.reset_index(drop=True), done
    default = {
        "booking_id": 0,
        "guest_id": 0,
        "arrival": pd.Timestamp(today),
        "departure": pd.Timestamp(today) + pd.Timedelta(days=2),
        "segment": "Direct",
        "room_type": "",
        "adults": 2,
        "children": 0,
        "nights": 2,
        "meal": "BB",
        "country": "UNK",
        "prior_stays": len(stays),
    }
    for s in SERVICE_NAMES:
        default[f"ordered_{s}"] = 0
        default[f"prior_{s}"] = int(stays[f"ordered_{s}"].sum()) if not stays.empty else 0
    return pd.DataFrame([default]), set()


def room_context(
    mine: History,
    room_types: list[str],
    check_in: date,
    check_out: date,
    adults: int,
    children: int,
) -> pd.DataFrame:
    stays = stays_frame(mine) if not mine.bookings.empty else pd.DataFrame()
    past = mine.bookings[mine.stayed()]
    segment = str(past["market_segment"].value_counts().index[0]) if not past.empty else "Direct"
    country = str(past["country"].iloc[-1]) if not past.empty else "UNK"
    row: dict[str, Any] = {
        "arrival": pd.Timestamp(check_in),
        "departure": pd.Timestamp(check_out),
        "segment": segment,
        "room_type": "",
        "adults": adults,
        "children": children,
        "nights": (check_out - check_in).days,
        "meal": "BB",
        "country": country,
        "prior_stays": len(stays),
    }
    for rt in room_types:
        row[f"prior_rt_{rt}"] = int((past["room_type"] == rt).sum()) if not past.empty else 0
    return pd.DataFrame([row])


def availability(history: History, nights: list[date]) -> dict[str, int]:
    """Rooms of each type free on every one of ``nights`` (bookings not cancelled)."""
    b = history.bookings[~history.cancelled() & ~history.bookings["no_show"]]
    first, last = pd.Timestamp(nights[0]), pd.Timestamp(nights[-1])
    overlap = b[(b["arrival"] <= last) & (b["departure"] > first)]
    out = {}
    for rt, cap in history.capacity().items():
        sel = overlap[overlap["room_type"] == rt]
        used = 0
        for night in nights:
            ts = pd.Timestamp(night)
            used = max(used, int(((sel["arrival"] <= ts) & (sel["departure"] > ts)).sum()))
        out[rt] = max(cap - used, 0)
    return out
