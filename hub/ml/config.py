"""Frozen configuration of the ML layer: training sizes, evaluation windows, business rules.

Defaults suit a hotel of 20-300 rooms with 1-3 years of bookings on a small CPU; tests and the
benchmark build smaller or larger variants with ``model_copy(update=...)``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

_FROZEN = ConfigDict(frozen=True, extra="forbid")

Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]


class LgbmParams(BaseModel):
    """LightGBM settings shared by the gradient-boosted models."""

    model_config = _FROZEN

    n_estimators: Annotated[int, Field(ge=10, le=5000)] = 300
    learning_rate: Annotated[float, Field(gt=0.0, le=1.0)] = 0.05
    num_leaves: Annotated[int, Field(ge=4, le=1024)] = 31
    min_child_samples: Annotated[int, Field(ge=1)] = 30
    subsample: Annotated[float, Field(gt=0.0, le=1.0)] = 0.8
    colsample_bytree: Annotated[float, Field(gt=0.0, le=1.0)] = 0.9
    reg_lambda: Annotated[float, Field(ge=0.0)] = 1.0
    # One thread: on a shared CPU, OpenMP threads spin against other processes and a 2-thread
    # fit was measured 5-15x slower than a 1-thread one under load.
    n_jobs: Annotated[int, Field(ge=1, le=64)] = 1
    seed: int = 0

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``lightgbm.LGBMRegressor``/``LGBMClassifier``."""
        return {
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "subsample": self.subsample,
            "subsample_freq": 1,
            "colsample_bytree": self.colsample_bytree,
            "reg_lambda": self.reg_lambda,
            "n_jobs": self.n_jobs,
            "random_state": self.seed,
            "verbose": -1,
        }


class ForecastConfig(BaseModel):
    """Daily occupancy / revenue / housekeeping forecasts (direct multi-horizon models)."""

    model_config = _FROZEN

    origin_stride_days: Annotated[int, Field(ge=1, le=30)] = 2
    max_horizon_days: Annotated[int, Field(ge=30, le=400)] = 366
    lower_quantile: Fraction = 0.1
    upper_quantile: Fraction = 0.9
    # conformal calibration of the bounds: the last ``calibration_fraction`` of the training
    # origins, in ``calibration_folds`` rolling-origin blocks (0 disables it)
    calibration_fraction: Annotated[float, Field(ge=0.0, le=0.8)] = 0.7
    calibration_folds: Annotated[int, Field(ge=1, le=10)] = 3
    eval_days: Annotated[int, Field(ge=14, le=365)] = 120
    eval_horizons: tuple[int, ...] = (7, 30)
    min_history_days: Annotated[int, Field(ge=30)] = 120
    lgbm: LgbmParams = LgbmParams()

    @model_validator(mode="after")
    def _ordered(self) -> ForecastConfig:
        if not self.lower_quantile < 0.5 < self.upper_quantile:
            raise ValueError("lower_quantile < 0.5 < upper_quantile is required")
        return self


class CancellationConfig(BaseModel):
    model_config = _FROZEN

    eval_days: Annotated[int, Field(ge=14, le=365)] = 90
    min_bookings: Annotated[int, Field(ge=20)] = 200
    risk_medium: Fraction = 0.3
    risk_high: Fraction = 0.6
    top_factors: Annotated[int, Field(ge=1, le=10)] = 3
    lgbm: LgbmParams = LgbmParams(n_estimators=400, num_leaves=31, min_child_samples=20)

    @model_validator(mode="after")
    def _ordered(self) -> CancellationConfig:
        if not self.risk_medium < self.risk_high:
            raise ValueError("risk_medium must be below risk_high")
        return self


class PricingConfig(BaseModel):
    """The price-response (demand) model and the defaults of the business rules."""

    model_config = _FROZEN

    eval_days: Annotated[int, Field(ge=14, le=365)] = 90
    min_nights: Annotated[int, Field(ge=14)] = 60
    # Nights at or above this occupancy of their room type count as censored ("demand >= sold",
    # always true, so a low threshold costs efficiency, never bias): a multi-night request is
    # refused when any of its nights is full, which depresses sales on nights around the full
    # ones too. 0.8 recovered the simulator's price response best (see benchmarks/ml_eval.py).
    censored_occupancy: Annotated[float, Field(gt=0.3, le=1.0)] = 0.8
    l2_alpha: Annotated[float, Field(ge=0.0)] = 1e-3
    floor_ratio: Annotated[float, Field(gt=0.0)] = 0.6
    ceiling_ratio: Annotated[float, Field(gt=0.0)] = 2.5
    max_daily_change: Annotated[float, Field(gt=0.0, le=1.0)] = 0.2
    grid_points: Annotated[int, Field(ge=5, le=1001)] = 81
    share_days: Annotated[int, Field(ge=28)] = 365


class ClvConfig(BaseModel):
    model_config = _FROZEN

    horizon_days: Annotated[int, Field(ge=30, le=730)] = 365
    min_feature_days: Annotated[int, Field(ge=30)] = 180
    lgbm: LgbmParams = LgbmParams(n_estimators=200, num_leaves=15, min_child_samples=20)


class RecommenderConfig(BaseModel):
    model_config = _FROZEN

    eval_days: Annotated[int, Field(ge=14, le=365)] = 120
    k: Annotated[int, Field(ge=1, le=10)] = 3
    l2_c: Annotated[float, Field(gt=0.0)] = 1.0


class MLConfig(BaseModel):
    """Everything the ML service needs besides its database and model folder."""

    model_config = _FROZEN

    forecast: ForecastConfig = ForecastConfig()
    cancellation: CancellationConfig = CancellationConfig()
    pricing: PricingConfig = PricingConfig()
    clv: ClvConfig = ClvConfig()
    recommender: RecommenderConfig = RecommenderConfig()
    max_range_days: Annotated[int, Field(ge=1, le=730)] = 365
