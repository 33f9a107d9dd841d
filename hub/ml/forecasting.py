"""Daily forecasts of occupancy, room revenue and housekeeping hours, with 80 % bounds.

One direct multi-horizon model per target: a row is (origin ``o``, horizon ``h``) and predicts
night ``o + h`` from the calendar, the on-the-books position and its pickup over the last week,
last year's actual and pace, and recent actuals (:func:`forecast_rows`). The models learn the
pickup still to come (final figure minus what is on the books at the origin). Three LightGBM
quantile models give the lower, middle and upper quantiles; the bounds are then widened or
narrowed per horizon bucket by conformal calibration (conformalised quantile regression, Romano
et al. 2019, with width-scaled scores) on rolling-origin blocks of the later training window,
each scored by models fitted only on the nights before it. Targets are per available room, so
one model serves any hotel size.

Baselines for the benchmark: seasonal naive (same weekday last year) and additive pickup
(OTB + the mean pickup seen at that horizon and weekday).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Final, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd

from hub.ml.config import ForecastConfig
from hub.ml.daily import (
    LAST_YEAR,
    RECENT_LONG,
    RECENT_SHORT,
    Actuals,
    BookingArrays,
    Otb,
    actuals,
    housekeeping_hours,
    on_the_books,
)
from hub.ml.history import History

logger = logging.getLogger(__name__)

Target = Literal["occupancy", "revenue", "housekeeping_demand"]
TARGETS: Final[tuple[Target, ...]] = ("occupancy", "revenue", "housekeeping_demand")
TARGET_COLUMN: Final[dict[str, str]] = {
    "occupancy": "y_occ",
    "revenue": "y_rev",
    "housekeeping_demand": "y_hk",
}
OTB_COLUMN: Final[dict[str, str]] = {
    "occupancy": "otb_occ",
    "revenue": "otb_rev",
    "housekeeping_demand": "otb_hk",
}
UNITS: Final[dict[str, str]] = {
    "occupancy": "rate",
    "revenue": "currency",
    "housekeeping_demand": "hours",
}
FEATURES: Final[tuple[str, ...]] = (
    "h",
    "dow",
    "month",
    "doy_sin",
    "doy_cos",
    "weekend",
    "otb_occ",
    "otb_rev",
    "otb_adr",
    "otb_arr",
    "otb_dep",
    "otb_hk",
    "pickup7",
    "ly_occ",
    "ly_rev",
    "ly_hk",
    "ly_otb",
    "recent_occ7",
    "recent_occ28",
    "recent_rev28",
    "recent_hk28",
)
HORIZON_BUCKETS: Final[tuple[int, ...]] = (7, 30, 90)  # upper edges; the last bucket is open
PICKUP_LAG: Final = 7
MIN_WIDTH: Final = 1e-3  # per available room: keeps width-scaled conformal scores finite


def training_horizons(max_horizon: int) -> np.ndarray:
    """Every day for a month, then thinner: the model interpolates along ``h``."""
    hs = [*range(1, 31), *range(32, 121, 3), *range(127, max_horizon + 1, 7), max_horizon]
    return np.unique(np.array([h for h in hs if h <= max_horizon], dtype=np.int64))


@dataclass(frozen=True)
class ForecastData:
    """Actuals and OTB positions for every origin of a history (what the rows are cut from)."""

    actuals: Actuals
    otb: Otb

    @property
    def last_origin(self) -> int:
        return self.actuals.last

    @classmethod
    def of(cls, history: History, horizon: int, origins: np.ndarray | None = None) -> ForecastData:
        act = actuals(history)
        if origins is None:
            needed = np.arange(0, act.last + 1)
        else:
            base = np.asarray(origins, dtype=np.int64)
            needed = np.concatenate([base, base - PICKUP_LAG, base - LAST_YEAR])
            needed = needed[(needed >= 0) & (needed <= act.last)]
        arrays = BookingArrays.of(history.bookings, act.start)
        return cls(act, on_the_books(arrays, needed, horizon + PICKUP_LAG))

    def origin_of(self, day: pd.Timestamp) -> int:
        return int((day - self.actuals.start) / pd.Timedelta(days=1))


def _lookup(values: np.ndarray, index: np.ndarray, ok: np.ndarray) -> np.ndarray:
    out = np.full(index.shape, np.nan)
    out[ok] = values[index[ok]]
    return out


def _trailing_mean(values: np.ndarray, origins: np.ndarray, window: int) -> np.ndarray:
    csum = np.concatenate([[0.0], np.cumsum(values)])
    hi = origins + 1
    lo = np.maximum(hi - window, 0)
    count = np.maximum(hi - lo, 1)
    return np.asarray((csum[hi] - csum[lo]) / count)


def forecast_rows(data: ForecastData, origins: np.ndarray, horizons: np.ndarray) -> pd.DataFrame:
    """Feature rows for every (origin, horizon) pair, with targets where the night is realised
    (``NaN`` otherwise). Features use nothing after their origin."""
    act, otb = data.actuals, data.otb
    cap = float(act.capacity)
    o = np.repeat(np.asarray(origins, dtype=np.int64), len(horizons))
    h = np.tile(np.asarray(horizons, dtype=np.int64), len(origins))
    n = o + h
    if not all(otb.has(int(x)) for x in np.unique(o)):
        raise ValueError("OTB positions are missing for some origins")
    if int(h.max(initial=0)) + PICKUP_LAG > otb.horizon:
        raise ValueError("horizon beyond the OTB table")
    r = np.searchsorted(otb.origins, o)
    rooms = otb.rooms[r, h]
    revenue = otb.revenue[r, h]
    arrivals = otb.arrivals[r, h]
    departures = otb.departures[r, h]
    dates = act.start + pd.to_timedelta(n, unit="D")
    doy = dates.day_of_year.to_numpy()
    dow = dates.day_of_week.to_numpy()

    lag_origin = o - PICKUP_LAG
    lag_ok = np.array([otb.has(int(x)) for x in lag_origin]) if len(o) else np.zeros(0, bool)
    lag_rows = np.searchsorted(otb.origins, lag_origin)
    lag_rows = np.clip(lag_rows, 0, len(otb.origins) - 1)
    pickup = np.where(lag_ok, rooms - otb.rooms[lag_rows, h + PICKUP_LAG], np.nan)

    ly_night = n - LAST_YEAR
    ly_ok = (ly_night >= 0) & (ly_night <= o)
    hk = act.housekeeping
    ly_origin = o - LAST_YEAR
    ly_otb_ok = np.array([otb.has(int(x)) for x in ly_origin]) if len(o) else np.zeros(0, bool)
    ly_rows = np.clip(np.searchsorted(otb.origins, ly_origin), 0, len(otb.origins) - 1)
    ly_otb = np.where(ly_otb_ok, otb.rooms[ly_rows, h], np.nan)

    realised = n <= act.last
    idx = np.where(realised, n, 0)
    rows = pd.DataFrame(
        {
            "origin": o,
            "night": n,
            "date": dates,
            "h": h,
            "dow": dow,
            "month": dates.month.to_numpy(),
            "doy_sin": np.sin(2 * np.pi * doy / 365.25),
            "doy_cos": np.cos(2 * np.pi * doy / 365.25),
            "weekend": np.isin(dow, (4, 5)).astype(int),
            "otb_occ": rooms / cap,
            "otb_rev": revenue / cap,
            "otb_adr": np.where(rooms > 0, revenue / np.maximum(rooms, 1), np.nan),
            "otb_arr": arrivals / cap,
            "otb_dep": departures / cap,
            "otb_hk": housekeeping_hours(departures, rooms, arrivals) / cap,
            "pickup7": pickup / cap,
            "ly_occ": _lookup(act.rooms, ly_night, ly_ok) / cap,
            "ly_rev": _lookup(act.revenue, ly_night, ly_ok) / cap,
            "ly_hk": _lookup(hk, ly_night, ly_ok) / cap,
            "ly_otb": ly_otb / cap,
            "recent_occ7": _trailing_mean(act.rooms, o, RECENT_SHORT) / cap,
            "recent_occ28": _trailing_mean(act.rooms, o, RECENT_LONG) / cap,
            "recent_rev28": _trailing_mean(act.revenue, o, RECENT_LONG) / cap,
            "recent_hk28": _trailing_mean(hk, o, RECENT_LONG) / cap,
            "y_occ": np.where(realised, act.rooms[idx] / cap, np.nan),
            "y_rev": np.where(realised, act.revenue[idx] / cap, np.nan),
            "y_hk": np.where(realised, hk[idx] / cap, np.nan),
        }
    )
    return rows


def training_origins(last_origin: int, stride: int, first: int = RECENT_LONG) -> np.ndarray:
    """Origins ``last_origin - 1, -1 - stride, ...`` down to ``first`` (oldest first)."""
    return np.arange(last_origin - 1, first - 1, -stride)[::-1]


def _bucket(h: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.array(HORIZON_BUCKETS), h, side="left")


def _conformal_offsets(
    lower: np.ndarray, upper: np.ndarray, y: np.ndarray, h: np.ndarray, coverage: float
) -> np.ndarray:
    """Per horizon bucket, by how many interval widths to move both bounds out (negative: in)
    so that a fraction ``coverage`` of the calibration rows falls inside (split-conformal CQR,
    with scores scaled by the interval's width so that they carry over between seasons)."""
    width = np.maximum(upper - lower, MIN_WIDTH)
    scores = np.maximum(lower - y, y - upper) / width
    buckets = _bucket(h)
    offsets = np.zeros(len(HORIZON_BUCKETS) + 1)
    overall = float(np.quantile(scores, min(1.0, coverage * (1 + 1 / len(scores)))))
    for b in range(len(offsets)):
        sel = scores[buckets == b]
        if len(sel) >= 50:
            level = min(1.0, coverage * (1 + 1 / len(sel)))
            offsets[b] = float(np.quantile(sel, level))
        else:
            offsets[b] = overall
    return offsets


@dataclass
class QuantileForecaster:
    """Lower / middle / upper LightGBM quantile models for one target, per available room."""

    target: str
    features: tuple[str, ...]
    quantiles: tuple[float, float]
    models: dict[str, lgb.LGBMRegressor]
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(len(HORIZON_BUCKETS) + 1))

    def predict(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lower, point, upper) per available room, ordered and clipped to the possible."""
        x = rows[list(self.features)]
        otb = rows[OTB_COLUMN[self.target]].to_numpy(dtype=float)
        lower = otb + np.asarray(self.models["lower"].predict(x), dtype=float)
        point = otb + np.asarray(self.models["point"].predict(x), dtype=float)
        upper = otb + np.asarray(self.models["upper"].predict(x), dtype=float)
        width = np.maximum(upper - lower, MIN_WIDTH)
        shift = self.offsets[_bucket(rows["h"].to_numpy())] * width
        lower, upper = lower - shift, upper + shift
        stacked = np.sort(np.stack([lower, point, upper]), axis=0)
        lower, point, upper = stacked[0], stacked[1], stacked[2]
        ceiling = 1.0 if self.target == "occupancy" else np.inf
        return (
            np.clip(lower, 0.0, ceiling),
            np.clip(point, 0.0, ceiling),
            np.clip(upper, 0.0, ceiling),
        )


def _fit_quantile(
    x: pd.DataFrame, y: np.ndarray, alpha: float, config: ForecastConfig
) -> lgb.LGBMRegressor:
    model = lgb.LGBMRegressor(objective="quantile", alpha=alpha, **config.lgbm.kwargs())
    model.fit(x, y)
    return model


def _pickup(rows: pd.DataFrame, target: str) -> np.ndarray:
    """What the models learn: the final figure minus what is on the books at the origin
    (pickup net of cancellations), so short horizons start from the known position."""
    return np.asarray(
        rows[TARGET_COLUMN[target]].to_numpy(dtype=float)
        - rows[OTB_COLUMN[target]].to_numpy(dtype=float)
    )


def fit_forecaster(target: str, rows: pd.DataFrame, config: ForecastConfig) -> QuantileForecaster:
    """Fit on realised rows (``origin`` ascending order not required)."""
    column = TARGET_COLUMN[target]
    rows = rows[rows[column].notna()]
    features = FEATURES
    lo_q, hi_q = config.lower_quantile, config.upper_quantile
    offsets = np.zeros(len(HORIZON_BUCKETS) + 1)
    origins = np.sort(rows["origin"].unique())
    n_cal = int(len(origins) * config.calibration_fraction)
    folds = max(1, config.calibration_folds)
    if n_cal >= 5 * folds:
        # rolling origin: each block of the last origins is scored by models that saw only
        # the nights before it, so the scores span several seasons
        blocks = np.array_split(origins[-n_cal:], folds)
        lowers, uppers, ys, hs = [], [], [], []
        for block in blocks:
            start = block[0]
            early = rows[(rows["origin"] < start) & (rows["night"] < start)]
            cal = rows[rows["origin"].isin(block)]
            if len(early) < 200 or len(cal) < 20:
                continue
            x_early = early[list(features)]
            lower = _fit_quantile(x_early, _pickup(early, target), lo_q, config)
            upper = _fit_quantile(x_early, _pickup(early, target), hi_q, config)
            x_cal = cal[list(features)]
            lowers.append(np.asarray(lower.predict(x_cal), dtype=float))
            uppers.append(np.asarray(upper.predict(x_cal), dtype=float))
            ys.append(_pickup(cal, target))
            hs.append(cal["h"].to_numpy())
        if ys and sum(len(y) for y in ys) >= 50:
            offsets = _conformal_offsets(
                np.concatenate(lowers),
                np.concatenate(uppers),
                np.concatenate(ys),
                np.concatenate(hs),
                hi_q - lo_q,
            )
    x = rows[list(features)]
    y = _pickup(rows, target)
    models = {
        "lower": _fit_quantile(x, y, lo_q, config),
        "point": _fit_quantile(x, y, 0.5, config),
        "upper": _fit_quantile(x, y, hi_q, config),
    }
    logger.info("fitted %s forecaster on %d rows (offsets %s)", target, len(rows), offsets.round(4))
    return QuantileForecaster(target, features, (lo_q, hi_q), models, offsets)


# ---------------------------------------------------------------------------------------------
# Baselines and metrics
# ---------------------------------------------------------------------------------------------


def seasonal_naive(rows: pd.DataFrame, target: str) -> np.ndarray:
    """Same weekday last year (per available room)."""
    column = {"occupancy": "ly_occ", "revenue": "ly_rev", "housekeeping_demand": "ly_hk"}[target]
    return np.asarray(rows[column].to_numpy(dtype=float), dtype=float)


@dataclass(frozen=True)
class PickupBaseline:
    """Additive pickup: OTB + mean(final - OTB) by horizon and weekday of the night."""

    target: str
    table: dict[tuple[int, int], float]
    by_horizon: dict[int, float]

    @classmethod
    def fit(cls, rows: pd.DataFrame, target: str) -> PickupBaseline:
        y, otb = TARGET_COLUMN[target], OTB_COLUMN[target]
        rows = rows[rows[y].notna()]
        pick = (rows[y] - rows[otb]).rename("pickup")
        frame = pd.concat([rows[["h", "dow"]], pick], axis=1)
        table = frame.groupby(["h", "dow"])["pickup"].mean()
        by_h = frame.groupby("h")["pickup"].mean()
        return cls(
            target,
            {(int(k[0]), int(k[1])): float(v) for k, v in table.items()},
            {int(k): float(v) for k, v in by_h.items()},
        )

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        otb = rows[OTB_COLUMN[self.target]].to_numpy(dtype=float)
        adds = [
            self.table.get((int(h), int(d)), self.by_horizon.get(int(h), 0.0))
            for h, d in zip(rows["h"], rows["dow"], strict=True)
        ]
        return np.asarray(otb + np.array(adds), dtype=float)


def mape(y: np.ndarray, prediction: np.ndarray) -> float:
    """Mean absolute percentage error over rows with a positive actual and a prediction."""
    ok = (y > 0) & np.isfinite(prediction) & np.isfinite(y)
    if not ok.any():
        return float("nan")
    return float(np.mean(np.abs(y[ok] - prediction[ok]) / y[ok]))


def coverage(y: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    ok = np.isfinite(y)
    return float(np.mean((y[ok] >= lower[ok]) & (y[ok] <= upper[ok])))


def evaluation_origins(data: ForecastData, first_origin: int, horizon: int) -> np.ndarray:
    """Origins from ``first_origin`` whose night at ``horizon`` is realised."""
    return np.arange(first_origin, data.last_origin - horizon + 1)


def evaluate_forecaster(
    model: QuantileForecaster, data: ForecastData, first_origin: int, horizons: tuple[int, ...]
) -> dict[str, float]:
    """MAPE per horizon and overall, and the share of actuals inside the bounds."""
    metrics: dict[str, float] = {}
    errors, ys, los, his = [], [], [], []
    column = TARGET_COLUMN[model.target]
    for h in horizons:
        origins = evaluation_origins(data, first_origin, h)
        if len(origins) == 0:
            continue
        rows = forecast_rows(data, origins, np.array([h]))
        lower, point, upper = model.predict(rows)
        y = rows[column].to_numpy()
        metrics[f"mape_h{h}"] = mape(y, point)
        errors.append(np.abs(y - point) / np.where(y > 0, y, np.nan))
        ys.append(y)
        los.append(lower)
        his.append(upper)
    if not ys:
        return {}
    all_err = np.concatenate(errors)
    metrics["mape"] = float(np.nanmean(all_err))
    metrics["coverage"] = coverage(np.concatenate(ys), np.concatenate(los), np.concatenate(his))
    metrics["rows"] = float(len(all_err))
    return metrics


def train_forecaster(history: History, target: str, config: ForecastConfig) -> QuantileForecaster:
    """Fit ``target``'s forecaster on every realised (origin, horizon) row of ``history``."""
    data = ForecastData.of(history, config.max_horizon_days)
    origins = training_origins(data.last_origin, config.origin_stride_days)
    rows = forecast_rows(data, origins, training_horizons(config.max_horizon_days))
    return fit_forecaster(target, rows, config)


@dataclass(frozen=True)
class Forecast:
    """A forecast for consecutive nights, in the target's units (rooms are also given)."""

    target: str
    dates: pd.DatetimeIndex
    lower: np.ndarray
    point: np.ndarray
    upper: np.ndarray
    on_the_books: np.ndarray
    capacity: int


def predict_forecast(
    model: QuantileForecaster,
    history: History,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> Forecast:
    """Forecast nights ``start .. end`` from the end of the day before ``history.as_of``."""
    act_start = history.first_night
    origin = int((history.as_of_ts - act_start) / pd.Timedelta(days=1)) - 1
    first_h = int((start - act_start) / pd.Timedelta(days=1)) - origin
    last_h = int((end - act_start) / pd.Timedelta(days=1)) - origin
    if first_h < 1:
        raise ValueError("forecasts start the day after the origin")
    data = ForecastData.of(history, max(last_h, 1), origins=np.array([origin]))
    rows = forecast_rows(data, np.array([origin]), np.arange(first_h, last_h + 1))
    lower, point, upper = model.predict(rows)
    cap = float(data.actuals.capacity)
    otb = rows[OTB_COLUMN[model.target]].to_numpy()
    scale = 1.0 if model.target == "occupancy" else cap
    return Forecast(
        target=model.target,
        dates=pd.DatetimeIndex(rows["date"]),
        lower=lower * scale,
        point=point * scale,
        upper=upper * scale,
        on_the_books=otb * scale,
        capacity=int(cap),
    )
