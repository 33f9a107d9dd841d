"""Revenue-maximising nightly prices per room type within business rules.

1. Demand model (:class:`DemandModel`): a Poisson regression of the rooms of a type sold on a
   night on the calendar (room type, weekday, week of the year, trend) and the price paid
   relative to the rack rate. Nights sold out (or nearly) are left out, since their demand is
   censored by capacity. Its price coefficient ``theta`` is the semi-elasticity: selling at a
   price ``x`` times the reference multiplies demand by ``exp(theta * ref / rack * (x - 1))``.
2. Level: the occupancy forecast's expected pickup (rooms still to be sold, as the hotel prices
   today) split over room types by their recent share of room nights; its interval gives the
   spread.
3. For each night and room type, every price on a grid inside the rules is scored by its
   expected extra revenue ``price * E[min(rooms left, demand(price))]`` (demand normal around
   its mean), and the best is kept. Rooms already on the books keep their price.

Business rules (:class:`PricingRules`): a floor and a ceiling, and a maximum change against the
price currently published for the same night (the last recommendation, else the reference).
Floor and ceiling win when they conflict with the change limit.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Annotated, Final

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.optimize import minimize
from scipy.special import gammainc, gammaln

from hub.ml.config import PricingConfig
from hub.ml.daily import BookingArrays, on_the_books
from hub.ml.forecasting import Forecast
from hub.ml.history import DAY, History, day_index

logger = logging.getLogger(__name__)

Z80: Final = 1.2815515655446004  # standard normal quantile of 0.9
_erf = np.vectorize(math.erf, otypes=[float])


class PricingRules(BaseModel):
    """Business rules for one room type (hotel currency)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    floor: Annotated[float, Field(gt=0)]
    ceiling: Annotated[float, Field(gt=0)]
    max_daily_change: Annotated[float, Field(gt=0, le=1)] = 0.2

    @model_validator(mode="after")
    def _ordered(self) -> PricingRules:
        if self.floor >= self.ceiling:
            raise ValueError(f"floor ({self.floor}) must be below ceiling ({self.ceiling})")
        return self


def allowed_range(previous: float, rules: PricingRules) -> tuple[float, float, bool]:
    """(lowest, highest, change limit relaxed): the prices the rules allow today for a night
    currently published at ``previous``."""
    lo = max(rules.floor, previous * (1.0 - rules.max_daily_change))
    hi = min(rules.ceiling, previous * (1.0 + rules.max_daily_change))
    if lo <= hi:
        return lo, hi, False
    edge = rules.floor if previous < rules.floor else rules.ceiling
    return edge, edge, True


def apply_rules(price: float, previous: float, rules: PricingRules) -> float:
    lo, hi, _ = allowed_range(previous, rules)
    return float(min(max(price, lo), hi))


# ---------------------------------------------------------------------------------------------
# Demand model
# ---------------------------------------------------------------------------------------------


def segment_factors(history: History) -> dict[str, float]:
    """How much each market segment pays relative to the room type's usual rate (median of
    rate / median rate of the type), from stays at a positive rate."""
    b = history.bookings[history.stayed() & (history.bookings["adr"] > 0)]
    if b.empty:
        return {}
    typical = b.groupby("room_type")["adr"].transform("median")
    ratio = (b["adr"] / typical).groupby(b["market_segment"]).median()
    return {str(k): float(v) for k, v in ratio.items() if v > 0}


def rate_index(history: History, factors: dict[str, float] | None = None) -> pd.Series:
    """Each booking's rate with its segment's discount taken out: an estimate of the public
    rate it was sold from (``NaN`` for free stays). Nightly means of it are the prices the
    demand model sees and the optimiser sets, so a change of segment mix is not mistaken for a
    change of price."""
    factors = segment_factors(history) if factors is None else factors
    b = history.bookings
    factor = b["market_segment"].map(factors).astype(float)
    return (b["adr"] / factor).where((b["adr"] > 0) & (factor > 0))


def nightly_room_type_frame(history: History, first: pd.Timestamp | None = None) -> pd.DataFrame:
    """Per realised night and room type: rooms sold, mean rate paid, mean public-rate index
    (:func:`rate_index`), capacity."""
    stayed = history.stayed()
    b = history.bookings[stayed]
    index = rate_index(history)[stayed]
    start = history.first_night if first is None else first
    n = int((history.as_of_ts - start) / DAY)
    capacity = history.capacity()
    frames = []

    def nightly(a: np.ndarray, d: np.ndarray, w: np.ndarray | None) -> np.ndarray:
        return np.cumsum(
            np.bincount(a, weights=w, minlength=n + 1) - np.bincount(d, weights=w, minlength=n + 1)
        )[:n]

    for room_type, cap in capacity.items():
        mask = (b["room_type"] == room_type).to_numpy()
        sel = b[mask]
        a = np.clip(day_index(sel["arrival"], start), 0, n)
        d = np.clip(day_index(sel["departure"], start), 0, n)
        adr = sel["adr"].to_numpy(dtype=float)
        idx = index[mask].to_numpy(dtype=float)
        priced = np.isfinite(idx)
        sold = nightly(a, d, None)
        revenue = nightly(a, d, adr)
        index_sum = nightly(a[priced], d[priced], idx[priced])
        index_count = nightly(a[priced], d[priced], None)
        frames.append(
            pd.DataFrame(
                {
                    "night": pd.date_range(start, periods=n, freq="D"),
                    "room_type": room_type,
                    "sold": sold.astype(float),
                    "adr": np.where(sold > 0, revenue / np.maximum(sold, 1), np.nan),
                    "rate": np.where(
                        index_count > 0, index_sum / np.maximum(index_count, 1), np.nan
                    ),
                    "capacity": float(cap),
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=["night", "room_type", "sold", "adr", "rate", "capacity"])
    return pd.concat(frames, ignore_index=True)


@dataclass
class DemandModel:
    """Censored Poisson regression of rooms sold on calendar and price (see the module doc)."""

    room_types: tuple[str, ...]
    base_rates: dict[str, float]
    origin: pd.Timestamp  # trend's zero
    columns: tuple[str, ...]
    coef: np.ndarray
    intercept: float

    @property
    def theta(self) -> float:
        """d log(demand) / d(price / rack rate)."""
        return float(self.coef[self.columns.index("price_ratio")])

    def design(self, frame: pd.DataFrame, price: np.ndarray | None = None) -> np.ndarray:
        nights = pd.DatetimeIndex(frame["night"])
        base = frame["room_type"].map(self.base_rates).to_numpy(dtype=float)
        paid = frame["rate"].to_numpy(dtype=float) if price is None else np.asarray(price)
        room_types = frame["room_type"].to_numpy()
        dows = nights.day_of_week.to_numpy()
        weeks = nights.isocalendar().week.to_numpy().astype(int)
        parts = [
            (paid / base)[:, None],
            ((nights - self.origin) / pd.Timedelta(days=365.25)).to_numpy()[:, None],
            (room_types[:, None] == np.array(self.room_types, dtype=object)[None, :]),
            (dows[:, None] == np.arange(7)[None, :]),
            (weeks[:, None] == np.arange(1, 54)[None, :]),
        ]
        return np.hstack([np.asarray(p, dtype=float) for p in parts])

    def predict(self, frame: pd.DataFrame, price: np.ndarray | None = None) -> np.ndarray:
        """Expected rooms sold (uncensored demand) on each night at public rate ``price``
        (default: the night's rate index)."""
        return np.asarray(np.exp(self.design(frame, price) @ self.coef + self.intercept))


def _columns(room_types: tuple[str, ...]) -> tuple[str, ...]:
    return (
        "price_ratio",
        "trend",
        *(f"rt_{rt}" for rt in room_types),
        *(f"dow_{d}" for d in range(7)),
        *(f"woy_{w}" for w in range(1, 54)),
    )


def demand_training_frame(history: History, config: PricingConfig) -> pd.DataFrame:
    """Realised nights with a sale, flagged ``censored`` when (nearly) sold out."""
    frame = nightly_room_type_frame(history)
    frame = frame[frame["rate"].notna() & (frame["sold"] > 0)].reset_index(drop=True)
    frame["censored"] = frame["sold"] >= config.censored_occupancy * frame["capacity"]
    return frame


def fit_censored_poisson(
    x: np.ndarray, y: np.ndarray, censored: np.ndarray, alpha: float
) -> tuple[np.ndarray, float]:
    """Maximum likelihood with ``P(Y >= y)`` for censored rows and an L2 penalty ``alpha``
    (per row) on the coefficients. Returns (coefficients, intercept)."""
    n, k = x.shape
    c = y[censored]

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        eta = np.clip(x @ w[:k] + w[k], -30.0, 30.0)
        mu = np.exp(eta)
        grad_eta = mu - y
        nll = mu - y * eta
        if censored.any():
            mu_c = mu[censored]
            q = np.clip(gammainc(c, mu_c), 1e-300, 1.0)  # P(Y >= c) = P(Gamma(c) <= mu)
            log_pmf = (c - 1) * np.log(mu_c) - mu_c - gammaln(c)
            nll[censored] = -np.log(q)
            grad_eta[censored] = -np.exp(log_pmf - np.log(q)) * mu_c
        loss = float(nll.mean() + 0.5 * alpha * (w[:k] @ w[:k]))
        grad = np.append(x.T @ grad_eta / n + alpha * w[:k], grad_eta.mean())
        return loss, grad

    start = np.zeros(k + 1)
    start[k] = float(np.log(max(y.mean(), 1e-3)))
    result = minimize(objective, start, jac=True, method="L-BFGS-B", options={"maxiter": 2000})
    return np.asarray(result.x[:k]), float(result.x[k])


def fit_demand(history: History, config: PricingConfig) -> DemandModel:
    frame = demand_training_frame(history, config)
    if len(frame) < config.min_nights:
        raise ValueError(f"{len(frame)} usable nights; the demand model needs {config.min_nights}")
    room_types = tuple(sorted(history.capacity()))
    model = DemandModel(
        room_types=room_types,
        base_rates=history.base_rates(),
        origin=history.first_night,
        columns=_columns(room_types),
        coef=np.zeros(len(_columns(room_types))),
        intercept=0.0,
    )
    coef, intercept = fit_censored_poisson(
        model.design(frame),
        frame["sold"].to_numpy(dtype=float),
        frame["censored"].to_numpy(dtype=bool),
        config.l2_alpha,
    )
    model.coef, model.intercept = coef, intercept
    logger.info(
        "fitted demand model on %d nights (%d sold out): theta %.3f",
        len(frame),
        int(frame["censored"].sum()),
        model.theta,
    )
    return model


def poisson_deviance(y: np.ndarray, mu: np.ndarray) -> float:
    mu = np.maximum(mu, 1e-9)
    term = np.where(y > 0, y * np.log(np.maximum(y, 1e-9) / mu), 0.0)
    return float(np.mean(2.0 * (term - (y - mu))))


def evaluate_demand(
    model: DemandModel, history: History, first: pd.Timestamp, config: PricingConfig
) -> dict[str, float]:
    """Poisson deviance and MAPE of rooms sold on the uncensored nights from ``first``."""
    frame = demand_training_frame(history, config)
    keep = (frame["night"] >= first) & frame["room_type"].isin(model.room_types)
    frame = frame[keep & ~frame["censored"]]
    if frame.empty:
        return {}
    y = frame["sold"].to_numpy()
    mu = model.predict(frame)
    return {
        "deviance": poisson_deviance(y, mu),
        "mape": float(np.mean(np.abs(y - mu) / y)),
        "theta": model.theta,
        "rows": float(len(frame)),
    }


# ---------------------------------------------------------------------------------------------
# Reference prices and room-type shares
# ---------------------------------------------------------------------------------------------


def reference_prices(
    history: History, room_type: str, nights: pd.DatetimeIndex, days: int
) -> np.ndarray:
    """The public rate the hotel usually sells such a night at: the median nightly rate index
    of ``room_type`` over the last ``days`` days by month and weekend, falling back to weekend
    only, then the rack rate."""
    frame = nightly_room_type_frame(history, history.as_of_ts - pd.Timedelta(days=days))
    frame = frame[(frame["room_type"] == room_type) & frame["rate"].notna()]
    base = history.base_rates().get(room_type, 1.0)
    if frame.empty:
        return np.full(len(nights), base)
    weekend = frame["night"].dt.day_of_week.isin((4, 5))
    by_month = frame.groupby([frame["night"].dt.month, weekend])["rate"].median()
    by_weekend = frame.groupby(weekend)["rate"].median()
    out = []
    for night in nights:
        key = (night.month, night.day_of_week in (4, 5))
        if key in by_month.index:
            out.append(float(by_month[key]))
        elif key[1] in by_weekend.index:
            out.append(float(by_weekend[key[1]]))
        else:
            out.append(base)
    return np.asarray(out)


def room_type_shares(history: History, days: int) -> dict[str, float]:
    """Each room type's share of the room nights sold in the last ``days`` days."""
    frame = nightly_room_type_frame(history, history.as_of_ts - pd.Timedelta(days=days))
    sold = frame.groupby("room_type")["sold"].sum()
    total = float(sold.sum())
    capacity = history.capacity()
    if total <= 0:
        rooms = sum(capacity.values())
        return {rt: c / rooms for rt, c in capacity.items()}
    return {rt: float(sold.get(rt, 0.0)) / total for rt in capacity}


# ---------------------------------------------------------------------------------------------
# Optimisation
# ---------------------------------------------------------------------------------------------


def _norm_cdf(z: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + _erf(z / math.sqrt(2.0))))


def _norm_pdf(z: np.ndarray) -> np.ndarray:
    return np.asarray(np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi))


def expected_sales(mean: np.ndarray, sigma: np.ndarray, rooms_left: np.ndarray) -> np.ndarray:
    """E[min(rooms_left, X)] for demand X ~ Normal(mean, sigma): the mean less what overflows
    the rooms left, kept within [0, rooms_left]. (Truncating X at zero instead would inflate
    small means and flatter high prices.)"""
    sigma = np.maximum(sigma, 1e-6)
    z = (mean - rooms_left) / sigma
    overflow = (mean - rooms_left) * _norm_cdf(z) + sigma * _norm_pdf(z)  # E[max(X - R, 0)]
    return np.asarray(np.clip(mean - overflow, 0.0, rooms_left))


@dataclass(frozen=True)
class NightInputs:
    """One room type over consecutive nights (arrays of equal length)."""

    nights: pd.DatetimeIndex
    capacity: int
    on_the_books: np.ndarray  # rooms of this type already sold
    otb_revenue: np.ndarray
    pickup: np.ndarray  # expected extra rooms at the reference price
    pickup_sigma: np.ndarray
    reference: np.ndarray  # reference price per night
    previous: np.ndarray  # price currently published per night
    base_rate: float
    theta: float
    confidence: np.ndarray  # 0..1 from the occupancy forecast's interval


@dataclass(frozen=True)
class PricePlan:
    nights: pd.DatetimeIndex
    price: np.ndarray
    expected_rooms: np.ndarray
    expected_occupancy: np.ndarray
    expected_revenue: np.ndarray  # whole night: OTB revenue + new sales at the price
    reference: np.ndarray
    previous: np.ndarray
    elasticity: np.ndarray  # d log demand / d log price at the chosen price
    confidence: np.ndarray
    relaxed: np.ndarray  # the change limit gave way to the floor / ceiling


def demand_at(inputs: NightInputs, prices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread of the extra rooms sold at ``prices`` (shape nights x k)."""
    scale = np.exp(inputs.theta * (prices - inputs.reference[:, None]) / inputs.base_rate)
    mean = inputs.pickup[:, None] * scale
    # the forecast's own uncertainty (scaled with demand) plus Poisson noise around the mean
    sigma = np.sqrt((inputs.pickup_sigma[:, None] * scale) ** 2 + np.maximum(mean, 0.0))
    return mean, sigma


def revenue_curve(inputs: NightInputs, prices: np.ndarray) -> np.ndarray:
    """Expected extra revenue for each night (rows) at each of ``prices`` (columns)."""
    grid = np.broadcast_to(prices, (len(inputs.nights), len(prices)))
    mean, sigma = demand_at(inputs, grid)
    left = np.maximum(inputs.capacity - inputs.on_the_books, 0.0)[:, None]
    sold = expected_sales(mean, sigma, np.broadcast_to(left, grid.shape))
    return np.asarray(grid * sold)


def optimise(inputs: NightInputs, rules: PricingRules, grid_points: int) -> PricePlan:
    """The best price per night on a grid inside the rules."""
    n = len(inputs.nights)
    price = np.zeros(n)
    rooms = np.zeros(n)
    relaxed = np.zeros(n, dtype=bool)
    left = np.maximum(inputs.capacity - inputs.on_the_books, 0.0)
    for i in range(n):
        lo, hi, relax = allowed_range(float(inputs.previous[i]), rules)
        relaxed[i] = relax
        grid = np.unique(
            np.round(
                np.append(np.linspace(lo, hi, grid_points), np.clip(inputs.previous[i], lo, hi)), 2
            )
        )
        grid = grid[(grid >= lo - 1e-9) & (grid <= hi + 1e-9)]
        mean, sigma = demand_at(_row(inputs, i), grid[None, :])
        sold = expected_sales(mean[0], sigma[0], np.full(len(grid), left[i]))
        revenue = grid * sold
        # differences under half a cent are ties: keep the price closest to the published one
        best = np.flatnonzero(revenue >= revenue.max() - 0.005)
        choice = best[np.argmin(np.abs(grid[best] - inputs.previous[i]))]
        price[i] = grid[choice]
        rooms[i] = sold[choice]
    occupancy = (inputs.on_the_books + rooms) / max(inputs.capacity, 1)
    elasticity = inputs.theta * price / inputs.base_rate
    return PricePlan(
        nights=inputs.nights,
        price=price,
        expected_rooms=inputs.on_the_books + rooms,
        expected_occupancy=np.clip(occupancy, 0.0, 1.0),
        expected_revenue=inputs.otb_revenue + price * rooms,
        reference=inputs.reference,
        previous=inputs.previous,
        elasticity=elasticity,
        confidence=inputs.confidence,
        relaxed=relaxed,
    )


def _row(inputs: NightInputs, i: int) -> NightInputs:
    s = slice(i, i + 1)
    return NightInputs(
        nights=inputs.nights[s],
        capacity=inputs.capacity,
        on_the_books=inputs.on_the_books[s],
        otb_revenue=inputs.otb_revenue[s],
        pickup=inputs.pickup[s],
        pickup_sigma=inputs.pickup_sigma[s],
        reference=inputs.reference[s],
        previous=inputs.previous[s],
        base_rate=inputs.base_rate,
        theta=inputs.theta,
        confidence=inputs.confidence[s],
    )


def confidence_of(lower_occ: np.ndarray, upper_occ: np.ndarray) -> np.ndarray:
    """1 - width of the 80 % occupancy interval (both as rates), in [0, 1]."""
    return np.asarray(np.clip(1.0 - (upper_occ - lower_occ), 0.0, 1.0))


def confidence_label(value: float) -> str:
    return "high" if value >= 0.8 else "medium" if value >= 0.6 else "low"


def default_rules(base_rate: float, config: PricingConfig) -> PricingRules:
    return PricingRules(
        floor=round(base_rate * config.floor_ratio, 2),
        ceiling=round(base_rate * config.ceiling_ratio, 2),
        max_daily_change=config.max_daily_change,
    )


def sigma_from_interval(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    return np.asarray(np.maximum(upper - lower, 0.0) / (2.0 * Z80))


def room_type_otb(
    history: History, room_type: str, origin: pd.Timestamp, nights: pd.DatetimeIndex
) -> tuple[np.ndarray, np.ndarray]:
    """Rooms and revenue of ``room_type`` on the books at the end of ``origin`` for ``nights``."""
    b = history.bookings[history.bookings["room_type"] == room_type]
    arrays = BookingArrays.of(b, origin)
    horizon = int((nights[-1] - origin) / DAY)
    otb = on_the_books(arrays, np.array([0]), max(horizon, 1))
    h = ((nights - origin) / DAY).to_numpy().astype(int)
    return otb.rooms[0, h], otb.revenue[0, h]


def price_inputs(
    history: History,
    room_type: str,
    occupancy: Forecast,
    demand: DemandModel,
    config: PricingConfig,
    previous: np.ndarray | None = None,
) -> NightInputs:
    """Everything :func:`optimise` needs for ``room_type`` on the forecast's nights."""
    nights = occupancy.dates
    capacity = history.capacity()[room_type]
    origin = history.as_of_ts - DAY
    otb_rooms, otb_revenue = room_type_otb(history, room_type, origin, nights)
    total = float(occupancy.capacity)
    share = room_type_shares(history, config.share_days).get(room_type, 0.0)
    pickup = np.maximum(occupancy.point - occupancy.on_the_books, 0.0) * total * share
    sigma = sigma_from_interval(occupancy.lower, occupancy.upper) * total * share
    reference = reference_prices(history, room_type, nights, config.share_days)
    base = history.base_rates()[room_type]
    return NightInputs(
        nights=nights,
        capacity=capacity,
        on_the_books=otb_rooms,
        otb_revenue=otb_revenue,
        pickup=pickup,
        pickup_sigma=sigma,
        reference=reference,
        previous=reference if previous is None else previous,
        base_rate=base,
        theta=demand.theta,
        confidence=confidence_of(occupancy.lower, occupancy.upper),
    )


@dataclass(frozen=True)
class PriceCurve:
    room_type: str
    night: pd.Timestamp
    prices: np.ndarray
    revenue: np.ndarray  # expected extra revenue at each price
    rooms: np.ndarray  # expected extra rooms sold at each price
    chosen: float
    reference: float
    floor: float
    ceiling: float
    allowed: tuple[float, float]
    currency: str
