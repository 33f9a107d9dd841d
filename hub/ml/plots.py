"""PNG figures of the forecasts and the price-revenue curve (matplotlib's object API on the Agg
canvas: no pyplot state, no display needed)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hub.ml.forecasting import Forecast
from hub.ml.pricing import PriceCurve

logger = logging.getLogger(__name__)

_TITLES = {
    "occupancy": ("Occupancy forecast", "occupancy (share of rooms)"),
    "revenue": ("Room revenue forecast", "room revenue"),
    "housekeeping_demand": ("Housekeeping demand forecast", "housekeeping hours"),
}


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110)
    logger.info("wrote %s", path)
    return path


def plot_forecast(
    forecast: Forecast,
    path: Path,
    *,
    actuals: pd.Series | None = None,
    unit: str = "",
    version: str = "",
) -> Path:
    """The median forecast with its 80 % band and what is already on the books, after the
    recent actuals."""
    title, ylabel = _TITLES.get(forecast.target, (forecast.target, forecast.target))
    fig = Figure(figsize=(10, 4.8), layout="constrained")
    ax = fig.add_subplot()
    dates = forecast.dates
    if actuals is not None and not actuals.empty:
        ax.plot(actuals.index, actuals.to_numpy(), color="0.35", lw=1.2, label="actual")
    ax.fill_between(
        dates, forecast.lower, forecast.upper, color="tab:blue", alpha=0.2, label="80 % interval"
    )
    ax.plot(dates, forecast.point, color="tab:blue", lw=1.8, label="forecast (median)")
    ax.plot(
        dates,
        forecast.on_the_books,
        color="tab:orange",
        lw=1.0,
        ls="--",
        label="on the books today",
    )
    if forecast.target == "occupancy":
        ax.set_ylim(0, 1.05)
    ax.set_title(f"{title}{f' ({version})' if version else ''}")
    ax.set_ylabel(f"{ylabel}{f' [{unit}]' if unit and unit != 'rate' else ''}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", ncols=4, fontsize="small")
    fig.autofmt_xdate()
    return _save(fig, path)


def plot_price_curve(curve: PriceCurve, path: Path) -> Path:
    """Expected revenue (and rooms) against price for one night, with the rules marked."""
    fig = Figure(figsize=(9, 4.8), layout="constrained")
    ax = fig.add_subplot()
    ax.axvspan(*curve.allowed, color="tab:green", alpha=0.08, label="allowed today")
    ax.plot(curve.prices, curve.revenue, color="tab:blue", lw=2, label="expected extra revenue")
    best = int(np.argmin(np.abs(curve.prices - curve.chosen)))
    ax.scatter(
        [curve.chosen],
        [curve.revenue[best]],
        color="tab:red",
        zorder=3,
        label=f"recommended {curve.chosen:.2f}",
    )
    ax.axvline(curve.reference, color="0.4", ls=":", label=f"usual rate {curve.reference:.2f}")
    ax.axvline(curve.floor, color="tab:green", ls="--", lw=1, label="floor / ceiling")
    ax.axvline(curve.ceiling, color="tab:green", ls="--", lw=1)
    ax.set_xlabel(f"nightly rate [{curve.currency}]")
    ax.set_ylabel(f"expected extra revenue [{curve.currency}]")
    ax.grid(alpha=0.3)
    twin = ax.twinx()
    twin.plot(curve.prices, curve.rooms, color="tab:orange", lw=1, ls="--")
    twin.set_ylabel("expected extra rooms sold", color="tab:orange")
    ax.set_title(f"Price-revenue curve: {curve.room_type}, night of {curve.night.date()}")
    ax.legend(loc="upper right", fontsize="small")
    return _save(fig, path)
