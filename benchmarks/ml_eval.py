"""Revenue-management models against their baselines, on a time split of a generated history.

    .venv/bin/python -m benchmarks.ml_eval [--seed 7] [--days 1096] [--test-days 270]
        [--stride 1] [--trees 300] [--csv hotel_bookings.csv [--csv-only]]

The history is the simulator's (``hub.ml.synthetic``: 100 rooms, 3 years to 2017-09-01 by
default). Everything is trained on ``history.truncate(cutoff)`` (what the hotel knew on the
cutoff) and scored on what happened after it:

- cancellation: LightGBM vs logistic regression on bookings arriving after the cutoff (AUC,
  Brier, log loss); with ``--csv``, the same on the public dataset, for each of its hotels
  (City Hotel and Resort Hotel), split by arrival date (``--csv-only``: just that);
- occupancy / revenue / housekeeping: MAPE at 7, 30 and 90 days ahead for every origin in the
  test window, against seasonal naive (same weekday last year) and additive pickup, and the
  share of actuals inside the 80 % bounds;
- pricing: the nightly rates recommended at the cutoff for the next 90 nights, replayed through
  the simulator's own demand (the same booking requests, answering to the new prices), against
  the hotel's current prices and a fixed price (the rack rate); in two seasons;
- CLV (12 months) against the guest's past yearly spend; recommendations against popularity.
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import date, timedelta
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from hub.ml import cancellation, clv, forecasting, pricing, recommend
from hub.ml.config import (
    CancellationConfig,
    ClvConfig,
    ForecastConfig,
    LgbmParams,
    PricingConfig,
    RecommenderConfig,
)
from hub.ml.features import split_by_arrival
from hub.ml.history import History, to_hotel_bookings
from hub.ml.hotel_bookings import arrival_dates, read_hotel_bookings
from hub.ml.synthetic import GeneratorConfig, SyntheticWorld, generate, realize, room_revenue
from testkit.machine import describe_machine

AS_OF = date(2017, 9, 1)
HORIZONS = (7, 30, 90)


def _versions() -> str:
    names = ("lightgbm", "scikit-learn", "pandas", "numpy", "scipy")
    return ", ".join(f"{n} {metadata.version(n)}" for n in names)


def _row(name: str, values: list[str], width: int = 22) -> str:
    return f"  {name:{width}s}" + "".join(f"{v:>13s}" for v in values)


def bench_cancellation(full: History, cutoff: date, trees: int) -> None:
    config = CancellationConfig(lgbm=LgbmParams(n_estimators=trees, min_child_samples=20))
    train = to_hotel_bookings(full.truncate(cutoff))
    everything = to_hotel_bookings(full)
    test = everything[arrival_dates(everything) >= pd.Timestamp(cutoff)]
    _cancellation_table(train, test, config, "generated history")


def _cancellation_table(
    train: pd.DataFrame, test: pd.DataFrame, config: CancellationConfig, what: str
) -> None:
    started = time.perf_counter()
    model = cancellation.fit_cancellation(train, config)
    lr = cancellation.fit_logistic_baseline(train)
    y = test["is_canceled"].to_numpy()
    rows = {
        "LightGBM": cancellation.classification_metrics(y, model.predict_proba(test)),
        "logistic regression": cancellation.classification_metrics(
            y, cancellation.baseline_proba(lr, test)
        ),
    }
    print(
        f"\ncancellation ({what}): train {len(train)} bookings, test {len(test)} "
        f"({100 * y.mean():.1f} % cancelled), {time.perf_counter() - started:.1f} s"
    )
    print(_row("", ["AUC", "Brier", "log loss"]))
    for name, m in rows.items():
        print(_row(name, [f"{m['auc']:.4f}", f"{m['brier']:.4f}", f"{m['log_loss']:.4f}"]))


def bench_forecasts(full: History, cutoff: date, config: ForecastConfig) -> None:
    train = full.truncate(cutoff)
    data_full = forecasting.ForecastData.of(full, max(HORIZONS))
    first_origin = data_full.origin_of(pd.Timestamp(cutoff)) - 1
    data_train = forecasting.ForecastData.of(train, config.max_horizon_days)
    origins = forecasting.training_origins(data_train.last_origin, config.origin_stride_days)
    rows = forecasting.forecast_rows(
        data_train, origins, forecasting.training_horizons(config.max_horizon_days)
    )
    n_origins = len(forecasting.evaluation_origins(data_full, first_origin, max(HORIZONS)))
    print(
        f"\ndaily forecasts: {len(rows)} training rows (origins every "
        f"{config.origin_stride_days} d), test origins {cutoff} + up to "
        f"{len(forecasting.evaluation_origins(data_full, first_origin, 1))} days "
        f"({n_origins} reach h=90); MAPE (lower is better)"
    )
    for target in forecasting.TARGETS:
        started = time.perf_counter()
        model = forecasting.fit_forecaster(target, rows, config)
        pickup = forecasting.PickupBaseline.fit(rows, target)
        fit_s = time.perf_counter() - started
        table: dict[str, list[str]] = {"LightGBM (median)": [], "seasonal naive": [], "pickup": []}
        inside: list[str] = []
        ys, los, his = [], [], []
        for h in HORIZONS:
            test = forecasting.forecast_rows(
                data_full,
                forecasting.evaluation_origins(data_full, first_origin, h),
                np.array([h]),
            )
            y = test[forecasting.TARGET_COLUMN[target]].to_numpy()
            lower, point, upper = model.predict(test)
            table["LightGBM (median)"].append(f"{forecasting.mape(y, point):.4f}")
            table["seasonal naive"].append(
                f"{forecasting.mape(y, forecasting.seasonal_naive(test, target)):.4f}"
            )
            table["pickup"].append(f"{forecasting.mape(y, pickup.predict(test)):.4f}")
            inside.append(f"{forecasting.coverage(y, lower, upper):.3f}")
            ys.append(y)
            los.append(lower)
            his.append(upper)
        overall = forecasting.coverage(np.concatenate(ys), np.concatenate(los), np.concatenate(his))
        print(f"  {target} (fit {fit_s:.1f} s)")
        print(_row("", [f"h={h}" for h in HORIZONS], 24))
        for name, values in table.items():
            print(_row(name, values, 24))
        print(_row("80 % interval coverage", inside, 24) + f"   all {overall:.3f}")


def _optimised_bar(
    world: SyntheticWorld,
    train: History,
    start: date,
    nights: int,
    config: ForecastConfig,
    pricing_config: PricingConfig,
    rules_change: float,
) -> tuple[np.ndarray, float]:
    occupancy = forecasting.train_forecaster(train, "occupancy", config)
    demand = pricing.fit_demand(train, pricing_config)
    first = pd.Timestamp(start)
    forecast = forecasting.predict_forecast(
        occupancy, train, first, first + pd.Timedelta(days=nights - 1)
    )
    bar = world.bar.copy()
    day = world.day_of(start)
    for k, room_type in enumerate(world.room_type_names):
        inputs = pricing.price_inputs(train, room_type, forecast, demand, pricing_config)
        rules = pricing.default_rules(train.base_rates()[room_type], pricing_config)
        rules = rules.model_copy(update={"max_daily_change": rules_change})
        plan = pricing.optimise(inputs, rules, pricing_config.grid_points)
        # the recommendation is a public rate relative to the usual one: apply it as a factor
        # on the rates the hotel publishes (its own promotions included)
        factor = plan.price / plan.reference
        bar[k, day : day + nights] = world.bar[k, day : day + nights] * factor
    return bar, demand.theta


def bench_pricing(
    world: SyntheticWorld, full: History, starts: list[date], config: ForecastConfig
) -> None:
    pricing_config = PricingConfig()
    nights = 90
    print(
        "\npricing: room revenue of the 90 nights after the origin, simulated with the "
        "simulator's demand (same requests; bookings made before the origin keep their rates)"
    )
    print(
        _row(
            "origin",
            ["current", "fixed", "optimised", "vs current", "no limit", "vs current"],
            12,
        )
    )
    for start in starts:
        train = full.truncate(start)
        day = world.day_of(start)
        last = day + nights - 1
        current = room_revenue(world, realize(world), day, last)
        fixed_bar = world.bar.copy()
        fixed_bar[:, day : last + 1] = world.base_rates[:, None]
        fixed = room_revenue(world, realize(world, fixed_bar, from_day=day), day, last)
        results = []
        theta = 0.0
        for change in (pricing_config.max_daily_change, 1.0):
            bar, theta = _optimised_bar(world, train, start, nights, config, pricing_config, change)
            results.append(room_revenue(world, realize(world, bar, from_day=day), day, last))
        print(
            _row(
                str(start),
                [
                    f"{current:,.0f}",
                    f"{fixed:,.0f}",
                    f"{results[0]:,.0f}",
                    f"{100 * (results[0] / current - 1):+.2f} %",
                    f"{results[1]:,.0f}",
                    f"{100 * (results[1] / current - 1):+.2f} %",
                ],
                12,
            )
            + f"   theta {theta:.2f}"
        )
    print(
        f"  rules: floor {pricing_config.floor_ratio} x rack, ceiling "
        f"{pricing_config.ceiling_ratio} x rack, max change {pricing_config.max_daily_change:.0%}"
        " against the published rate (no-limit: floor and ceiling only); fixed = rack rate"
    )


def bench_clv(full: History, trees: int) -> None:
    horizon = 365
    t_eval = full.as_of_ts - pd.Timedelta(days=horizon)
    t_train = t_eval - pd.Timedelta(days=horizon)
    config = ClvConfig(lgbm=LgbmParams(n_estimators=trees // 2, num_leaves=15))
    train = clv.training_frame(full, t_train, horizon)
    test = clv.training_frame(full, t_eval, horizon)
    model = clv.fit_clv(train, config)
    m = clv.evaluate_clv(model, test)
    print(
        f"\nCLV (12 months): trained on guests at {t_train.date()}, tested at {t_eval.date()} "
        f"({int(m['guests'])} guests, {100 * m['retention_positive_rate']:.1f} % came back)"
    )
    print(_row("", ["MAE", "total error"]))
    print(_row("LightGBM (Tweedie)", [f"{m['mae']:.2f}", f"{100 * m['total_error']:.1f} %"]))
    print(_row("past yearly spend", [f"{m['mae_naive']:.2f}", ""]))
    print(
        f"  retention: AUC {m['retention_auc']:.4f}, Brier {m['retention_brier']:.4f} "
        f"(base rate {m['retention_positive_rate']:.3f})"
    )


def bench_recommender(full: History, cutoff: date) -> None:
    rec = recommend.fit_recommender(full.truncate(cutoff), RecommenderConfig())
    stays = recommend.stays_frame(full)
    window = (stays["arrival"] >= pd.Timestamp(cutoff)) & (stays["departure"] <= full.as_of_ts)
    m = recommend.evaluate_recommender(rec, stays[window], 3)
    print(f"\nrecommendations: stays arriving from {cutoff} ({int(m['stays'])} with an order)")
    print(_row("", ["model", "popularity"]))
    print(
        _row(
            "services hit rate @3",
            [f"{m['hit_rate_at_3']:.4f}", f"{m['hit_rate_at_3_popularity']:.4f}"],
        )
    )
    print(
        _row(
            "room type accuracy",
            [f"{m['room_accuracy']:.4f}", f"{m['room_accuracy_popularity']:.4f}"],
        )
    )


MIN_CSV_ROWS = 200  # per hotel and side of the split: fewer cannot give a meaningful AUC


def bench_csv(path: Path, trees: int) -> None:
    """Each hotel of the file (the public dataset has City Hotel and Resort Hotel), split by
    arrival date 180 days before its last arrival."""
    everything = read_hotel_bookings(path)
    config = CancellationConfig(lgbm=LgbmParams(n_estimators=trees, min_child_samples=20))
    hotels = everything["hotel"].value_counts()
    print(f"\n{path.name}: {len(everything)} bookings, hotels: {', '.join(hotels.index)}")
    for hotel in hotels.index:
        frame = everything[everything["hotel"] == hotel]
        arrival = arrival_dates(frame)
        cutoff = (arrival.max() - pd.Timedelta(days=180)).date()
        train, test = split_by_arrival(frame, cutoff)
        labels = test["is_canceled"].nunique() if len(test) else 0
        if min(len(train), len(test)) < MIN_CSV_ROWS or labels < 2:
            print(
                f"\ncancellation ({hotel}): skipped: {len(train)} bookings before {cutoff}, "
                f"{len(test)} after; each side needs {MIN_CSV_ROWS} and both outcomes"
            )
            continue
        what = f"{path.name}, {hotel}, arrivals from {cutoff}"
        _cancellation_table(train, test, config, what)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=1096)
    parser.add_argument("--test-days", type=int, default=270)
    parser.add_argument("--stride", type=int, default=1, help="forecast training origin stride")
    parser.add_argument("--trees", type=int, default=300)
    parser.add_argument("--csv", type=Path, default=None, help="the public hotel_bookings.csv")
    parser.add_argument(
        "--csv-only", action="store_true", help="only the --csv file's hotels (no generated run)"
    )
    args = parser.parse_args()
    if args.csv_only:
        if args.csv is None:
            parser.error("--csv-only needs --csv FILE")
        print(f"machine : {describe_machine()}")
        print(f"python  : {platform.python_version()}, {_versions()}")
        bench_csv(args.csv, args.trees)
        return

    started = time.perf_counter()
    synthetic = generate(GeneratorConfig(as_of=AS_OF, seed=args.seed, days=args.days))
    full, world = synthetic.history, synthetic.world
    cutoff = AS_OF - timedelta(days=args.test_days)
    print(f"machine : {describe_machine()}")
    print(f"python  : {platform.python_version()}, {_versions()}")
    print(
        f"history : seed {args.seed}, {full.total_rooms} rooms, {len(full.bookings)} bookings, "
        f"{full.first_night.date()} to {AS_OF - timedelta(days=1)} "
        f"({time.perf_counter() - started:.1f} s to generate); time split at {cutoff}"
    )
    lgbm = LgbmParams(n_estimators=args.trees)
    forecast_config = ForecastConfig(origin_stride_days=args.stride, lgbm=lgbm)
    bench_cancellation(full, cutoff, args.trees)
    if args.csv is not None:
        bench_csv(args.csv, args.trees)
    bench_forecasts(full, cutoff, forecast_config)
    bench_pricing(
        world,
        full,
        [cutoff, cutoff + timedelta(days=150)],
        forecast_config.model_copy(update={"origin_stride_days": max(args.stride, 2)}),
    )
    bench_clv(full, args.trees)
    bench_recommender(full, AS_OF - timedelta(days=120))
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
