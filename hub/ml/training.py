"""Train a model, evaluate it on the latest time window, and decide whether it replaces the
current one (champion / challenger). Pure: the service stores files and records.

Every model is trained on ``history.truncate(eval_start)`` (exactly what the hotel knew the day
the evaluation window opens) and scored on that window with what happened after. The current
(promoted) model is re-scored on the same window when its own training data ended before the
window; otherwise its stored score stands in. A candidate is promoted only when it is strictly
better on the primary metric. The served model is the evaluated one (what was measured is what
runs); the next retrain moves its window forward.

The CLV model needs two full horizons: it is trained on the guests as of ``as_of - 2 horizons``
with the next horizon's spend as target, and evaluated on ``as_of - 1 horizon``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final

import pandas as pd

from hub.ml import cancellation, clv, forecasting, pricing, recommend
from hub.ml.config import MLConfig
from hub.ml.errors import InsufficientHistoryError, NotFoundError
from hub.ml.history import History, to_hotel_bookings
from hub.ml.hotel_bookings import arrival_dates

logger = logging.getLogger(__name__)

MODEL_NAMES: Final[tuple[str, ...]] = (
    "occupancy",
    "revenue",
    "housekeeping_demand",
    "pricing",
    "cancellation",
    "clv",
    "recommender",
)
ALL: Final = "all"


@dataclass(frozen=True)
class DataWindow:
    train_start: date
    train_end: date  # last day of data the model saw
    eval_start: date
    eval_end: date

    def as_dict(self) -> dict[str, str]:
        return {k: v.isoformat() for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Objective:
    metric: str
    higher_is_better: bool

    def better(self, candidate: float, current: float) -> bool:
        return candidate > current if self.higher_is_better else candidate < current


@dataclass(frozen=True)
class Trained:
    name: str
    artefact: Any
    metrics: dict[str, float]
    objective: Objective
    window: DataWindow

    @property
    def score(self) -> float:
        return self.metrics[self.objective.metric]


def objective_of(name: str, config: MLConfig) -> Objective:
    if name in forecasting.TARGETS:
        return Objective("mape", higher_is_better=False)
    return {
        "pricing": Objective("deviance", higher_is_better=False),
        "cancellation": Objective("auc", higher_is_better=True),
        "clv": Objective("mae", higher_is_better=False),
        "recommender": Objective(f"hit_rate_at_{config.recommender.k}", higher_is_better=True),
    }[name]


# The seed's model names (``POST /retrain/pricing_model``, Prefect's ``ml_model_retrain``) and
# the hub models each stands for. Pricing prices from the occupancy forecast, so it retrains both.
SEED_MODEL_NAMES: Final[dict[str, tuple[str, ...]]] = {
    "pricing_model": ("occupancy", "pricing"),
    "forecast_model": ("occupancy", "revenue", "housekeeping_demand"),
    "occupancy_model": ("occupancy",),
    "revenue_model": ("revenue",),
    "housekeeping_model": ("housekeeping_demand",),
    "housekeeping_demand_model": ("housekeeping_demand",),
    "churn_model": ("cancellation",),
    "cancellation_model": ("cancellation",),
    "clv_model": ("clv",),
    "recommendation_model": ("recommender",),
    "recommender_model": ("recommender",),
}


def models_for(name: str) -> tuple[str, ...]:
    """The hub models a retrain request names: ``all``, a seed name or a hub model name."""
    if name == ALL:
        return MODEL_NAMES
    if name in SEED_MODEL_NAMES:
        return SEED_MODEL_NAMES[name]
    if name in MODEL_NAMES:
        return (name,)
    raise NotFoundError(
        f"unknown model {name!r}: one of {', '.join(SEED_MODEL_NAMES)}, "
        f"{', '.join(MODEL_NAMES)} or {ALL!r}",
        field="model_name",
    )


def check_name(name: str) -> str:
    if name not in MODEL_NAMES:
        raise NotFoundError(
            f"unknown model {name!r}: one of {', '.join(MODEL_NAMES)} (or {ALL!r})",
            field="model_name",
        )
    return name


def train_hint(name: str) -> str:
    """What to run when ``name`` lacks history or a trained model (errors and health say it)."""
    return (
        "import the hotel's bookings (`innsight hub import bookings FILE`, "
        "POST /api/v1/hotel/import/bookings or the PMS sync), then run "
        f"`innsight ml train --model {name}` (or POST /api/v1/ml/retrain/{name})"
    )


def _eval_days(name: str, config: MLConfig) -> int:
    if name in forecasting.TARGETS:
        return config.forecast.eval_days
    if name == "clv":
        return config.clv.horizon_days
    return {
        "pricing": config.pricing.eval_days,
        "cancellation": config.cancellation.eval_days,
        "recommender": config.recommender.eval_days,
    }[name]


def days_needed(name: str, config: MLConfig) -> int:
    """Days of bookings up to today that ``name`` needs (training plus evaluation window)."""
    if name in forecasting.TARGETS:
        return config.forecast.min_history_days + config.forecast.eval_days
    if name == "clv":
        return 2 * config.clv.horizon_days + config.clv.min_feature_days
    return 2 * _eval_days(name, config)


def requirement(name: str, config: MLConfig) -> str:
    """How much history ``name`` needs, in words."""
    days = days_needed(name, config)
    eval_days = _eval_days(name, config)
    text = f"{days} days of bookings up to today, with arrivals in the last {eval_days} days"
    if name == "cancellation":
        text += (
            f" and {config.cancellation.min_bookings} resolved (stayed, cancelled or no-show) "
            "bookings before them"
        )
    return text


def _too_little(name: str, config: MLConfig, found: str) -> InsufficientHistoryError:
    return InsufficientHistoryError(
        f"the {name} model needs {requirement(name, config)}; {found}: {train_hint(name)}"
    )


def _days_of_history(name: str, history: History, config: MLConfig) -> int:
    if history.bookings.empty:
        raise _too_little(name, config, "the database has no bookings")
    return int((history.as_of_ts - history.first_night) / pd.Timedelta(days=1))


def eval_start_of(name: str, history: History, config: MLConfig) -> date:
    """The first day of ``name``'s evaluation window; raises when the history is too short."""
    days = _days_of_history(name, history, config)
    if days < days_needed(name, config):
        raise _too_little(name, config, f"the history has {days}")
    return history.as_of - timedelta(days=_eval_days(name, config))


def data_used(history: History, window: DataWindow) -> dict[str, Any]:
    """The bookings a model was trained on (arrivals up to the window's training end) and
    evaluated on: first and last arrival, rows (pure)."""
    arrival = history.bookings["arrival"]
    seen = arrival[arrival <= pd.Timestamp(window.train_end)]
    evaluated = (arrival >= pd.Timestamp(window.eval_start)) & (
        arrival <= pd.Timestamp(window.eval_end)
    )
    return {
        "first_booking": None if seen.empty else seen.min().date().isoformat(),
        "last_booking": None if seen.empty else seen.max().date().isoformat(),
        "rows": len(seen),
        "eval_rows": int(evaluated.sum()),
    }


def window_of(name: str, history: History, config: MLConfig) -> DataWindow:
    start = eval_start_of(name, history, config)
    first = history.first_night.date()
    return DataWindow(first, start - timedelta(days=1), start, history.as_of - timedelta(days=1))


# ---------------------------------------------------------------------------------------------
# Per model: fit on the truncated history, score on the window
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One model to fit or score: its name, the whole history, the config, and the first day
    of its evaluation window."""

    name: str
    history: History
    config: MLConfig
    start: date


def _fit_forecast(job: Job) -> Any:
    return forecasting.train_forecaster(
        job.history.truncate(job.start), job.name, job.config.forecast
    )


def _score_forecast(job: Job, model: Any) -> dict[str, float]:
    horizons = job.config.forecast.eval_horizons
    data = forecasting.ForecastData.of(job.history, max(horizons))
    first_origin = data.origin_of(pd.Timestamp(job.start)) - 1
    return forecasting.evaluate_forecaster(model, data, first_origin, horizons)


def _cancellation_frames(job: Job) -> tuple[pd.DataFrame, pd.DataFrame]:
    train = to_hotel_bookings(job.history.truncate(job.start))
    everything = to_hotel_bookings(job.history)
    test = everything[arrival_dates(everything) >= pd.Timestamp(job.start)]
    return train, test


def _fit_cancellation(job: Job) -> Any:
    train, _ = _cancellation_frames(job)
    need = job.config.cancellation.min_bookings
    if len(train) < need:
        raise _too_little(
            "cancellation", job.config, f"{len(train)} resolved bookings before {job.start}"
        )
    try:
        return cancellation.fit_cancellation(train, job.config.cancellation)
    except ValueError as err:
        raise InsufficientHistoryError(str(err)) from err


def _score_cancellation(job: Job, model: Any) -> dict[str, float]:
    _, test = _cancellation_frames(job)
    return cancellation.evaluate_cancellation(model, test)


def _fit_pricing(job: Job) -> Any:
    try:
        return pricing.fit_demand(job.history.truncate(job.start), job.config.pricing)
    except ValueError as err:
        raise InsufficientHistoryError(str(err)) from err


def _score_pricing(job: Job, model: Any) -> dict[str, float]:
    return pricing.evaluate_demand(model, job.history, pd.Timestamp(job.start), job.config.pricing)


def _clv_cutoffs(history: History, config: MLConfig) -> tuple[pd.Timestamp, pd.Timestamp]:
    horizon = pd.Timedelta(days=config.clv.horizon_days)
    t_eval = history.as_of_ts - horizon
    return t_eval - horizon, t_eval


def _fit_clv(job: Job) -> Any:
    t_train, _ = _clv_cutoffs(job.history, job.config)
    frame = clv.training_frame(job.history, t_train, job.config.clv.horizon_days)
    try:
        return clv.fit_clv(frame, job.config.clv)
    except ValueError as err:
        raise InsufficientHistoryError(str(err)) from err


def _score_clv(job: Job, model: Any) -> dict[str, float]:
    _, t_eval = _clv_cutoffs(job.history, job.config)
    frame = clv.training_frame(job.history, t_eval, job.config.clv.horizon_days)
    return clv.evaluate_clv(model, frame)


def _fit_recommender(job: Job) -> Any:
    try:
        return recommend.fit_recommender(job.history.truncate(job.start), job.config.recommender)
    except ValueError as err:
        raise InsufficientHistoryError(str(err)) from err


def _score_recommender(job: Job, model: Any) -> dict[str, float]:
    stays = recommend.stays_frame(job.history)
    window = (stays["arrival"] >= pd.Timestamp(job.start)) & (
        stays["departure"] <= job.history.as_of_ts
    )
    return recommend.evaluate_recommender(model, stays[window], job.config.recommender.k)


Fit = Callable[[Job], Any]
Score = Callable[[Job, Any], dict[str, float]]

_SPECS: Final[dict[str, tuple[Fit, Score]]] = {
    **dict.fromkeys(forecasting.TARGETS, (_fit_forecast, _score_forecast)),
    "pricing": (_fit_pricing, _score_pricing),
    "cancellation": (_fit_cancellation, _score_cancellation),
    "clv": (_fit_clv, _score_clv),
    "recommender": (_fit_recommender, _score_recommender),
}


def train_candidate(name: str, history: History, config: MLConfig) -> Trained:
    """Fit ``name`` on the history before its evaluation window and score it on the window."""
    check_name(name)
    window = window_of(name, history, config)
    fit, score = _SPECS[name]
    job = Job(name, history, config, window.eval_start)
    artefact = fit(job)
    try:
        metrics = score(job, artefact)
    except ValueError:  # nothing to score in the window (no arrivals there): too little history
        metrics = {}
    objective = objective_of(name, config)
    if objective.metric not in metrics:
        last = history.bookings["arrival"].max().date()
        raise _too_little(
            name,
            config,
            f"too few outcomes to score it on {window.eval_start}..{window.eval_end} "
            f"(the last arrival is {last})",
        )
    if name == "clv":
        _, t_eval = _clv_cutoffs(history, config)
        window = DataWindow(
            window.train_start,
            (t_eval - pd.Timedelta(days=1)).date(),
            t_eval.date(),
            window.eval_end,
        )
    logger.info("trained %s: %s %.4f", name, objective.metric, metrics[objective.metric])
    return Trained(name, artefact, metrics, objective, window)


def rescore(name: str, artefact: Any, history: History, config: MLConfig) -> dict[str, float]:
    """Score an existing model on today's evaluation window of ``name``."""
    window = window_of(name, history, config)
    _, score = _SPECS[name]
    return score(Job(name, history, config, window.eval_start), artefact)


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    champion_score: float | None


def decide(
    candidate: Trained,
    champion_score: float | None,
    champion_rescored: bool,
) -> Decision:
    """Promote when there is no champion, or the candidate is strictly better."""
    metric = candidate.objective.metric
    if champion_score is None:
        return Decision(True, "no current model", None)
    how = "on the same window" if champion_rescored else "(its own evaluation)"
    if candidate.objective.better(candidate.score, champion_score):
        return Decision(
            True,
            f"{metric} {candidate.score:.4f} beats the current {champion_score:.4f} {how}",
            champion_score,
        )
    return Decision(
        False,
        f"{metric} {candidate.score:.4f} does not beat the current {champion_score:.4f} {how}",
        champion_score,
    )
