"""``innsight ml generate | train | plots`` (the hub's database from the ``INNSIGHT_*``
environment, like ``innsight hub serve``).

This module only builds the parser; each handler imports the ML stack when it runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.db import SessionFactory
    from hub.settings import HubSettings

logger = logging.getLogger(__name__)

EXIT_FAILED = 2


def _say(text: str, *, error: bool = False) -> None:
    """A line for the operator (this is a command's output, not logging)."""
    (sys.stderr if error else sys.stdout).write(text + "\n")


def add_ml_parser(sub: Any) -> None:
    """Add ``ml`` and its subcommands to the ``innsight`` parser's subparsers."""
    ml = sub.add_parser("ml", help="revenue management models (env: INNSIGHT_*)")
    commands = ml.add_subparsers(dest="ml_command", required=True)
    generate = commands.add_parser(
        "generate", help="write a generated booking history into an empty hub database"
    )
    generate.add_argument("--seed", type=int, default=7)
    generate.add_argument("--days", type=int, default=730, help="days of history up to today")
    generate.add_argument(
        "--future-days", type=int, default=365, help="bookings already made for these days"
    )
    generate.set_defaults(func=cmd_generate)
    train = commands.add_parser(
        "train", help="train, evaluate on the latest window, promote what beats the current"
    )
    train.add_argument(
        "--model",
        default="all",
        help="a model name (occupancy, ..., or the seed's pricing_model, churn_model, ...), "
        "or all (default)",
    )
    train.set_defaults(func=cmd_train)
    plots = commands.add_parser("plots", help="forecast and price-revenue PNGs")
    plots.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    plots.add_argument("--days", type=int, default=90, help="forecast length")
    plots.set_defaults(func=cmd_plots)


def _settings() -> HubSettings:
    from hub.settings import HubSettings

    return HubSettings.from_env(os.environ)


@asynccontextmanager
async def _database(settings: HubSettings) -> AsyncIterator[SessionFactory]:
    from hub.auth.keys import with_secrets
    from hub.crypto import PiiCipher, bind_pii_cipher
    from hub.db import create_engine, create_session_factory, init_db

    settings = with_secrets(settings)  # the hub's own PII key: guests may be encrypted
    engine = create_engine(settings.database_url.get_secret_value())
    bind_pii_cipher(engine, PiiCipher.from_secret(settings.pii_key))
    try:
        await init_db(engine)
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


def cmd_generate(args: argparse.Namespace) -> int:
    from hub.ml.repository import DatabaseNotEmptyError, write_synthetic
    from hub.ml.service import utc_today
    from hub.ml.synthetic import GeneratorConfig, generate

    config = GeneratorConfig(
        as_of=utc_today(), seed=args.seed, days=args.days, future_days=args.future_days
    )
    synthetic = generate(config)

    async def run() -> dict[str, int]:
        async with _database(_settings()) as sessions, sessions() as session:
            return await write_synthetic(session, synthetic)

    import asyncio  # not at import: every `innsight` command builds this parser

    try:
        counts = asyncio.run(run())
    except DatabaseNotEmptyError as err:
        _say(f"ml generate: {err}", error=True)
        return EXIT_FAILED
    history = synthetic.history
    _say(
        f"wrote {counts['bookings']} bookings, {counts['guests']} guests, {counts['rooms']} rooms "
        f"and {counts['service_orders']} service orders ({history.first_night.date()} to "
        f"{history.bookings['departure'].max().date()}, seed {args.seed})"
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from hub.ml.errors import MLError
    from hub.ml.service import MLService

    settings = _settings()

    async def run() -> list[Any]:
        async with _database(settings) as sessions:
            service = MLService(sessions, settings.data_dir / "ml")
            return (await service.retrain(args.model)).outcomes

    import asyncio  # not at import: every `innsight` command builds this parser

    try:
        outcomes = asyncio.run(run())
    except MLError as err:
        _say(f"ml train: {err.reason}", error=True)
        return EXIT_FAILED
    for o in outcomes:
        metric = next(iter(o.metrics), "")
        shown = ", ".join(f"{k} {v:.4g}" for k, v in o.metrics.items() if k != "rows")
        _say(f"{o.name:20s} {o.status:13s} {o.version or '-':32s} {o.reason}")
        if metric:
            _say(f"{'':20s} {shown}")
    # a model skipped for lack of history is reported above; fail only when nothing trained
    # (for one requested model: when it was skipped), so `generate && train && plots` works
    return 0 if any(o.status != "skipped" for o in outcomes) else EXIT_FAILED


def cmd_plots(args: argparse.Namespace) -> int:
    from hub.ml.errors import MLError
    from hub.ml.forecasting import TARGETS
    from hub.ml.plots import plot_forecast, plot_price_curve
    from hub.ml.service import MLService

    settings = _settings()
    out: Path = args.out

    async def run() -> list[Path]:
        async with _database(settings) as sessions:
            service = MLService(sessions, settings.data_dir / "ml")
            history = await service.history()
            today = service.today()
            end = today + timedelta(days=args.days - 1)
            paths = []
            from hub.ml.daily import actuals

            recent = actuals(history).frame().tail(60)
            for target in TARGETS:
                forecast, version = await service.forecast_series(target, today, end)
                column = {"occupancy": "occupancy", "revenue": "revenue"}.get(
                    target, "housekeeping_hours"
                )
                unit = history.currency if target == "revenue" else ""
                paths.append(
                    plot_forecast(
                        forecast,
                        out / f"forecast_{target}.png",
                        actuals=recent[column],
                        unit=unit,
                        version=version,
                    )
                )
            room_type = str(history.bookings["room_type"].value_counts().index[0])
            saturday = today + timedelta(days=(5 - today.weekday()) % 7 or 7)
            curve = await service.price_curve(room_type, saturday)
            paths.append(plot_price_curve(curve, out / f"price_revenue_{room_type}.png"))
            return paths

    import asyncio  # not at import: every `innsight` command builds this parser

    try:
        paths = asyncio.run(run())
    except MLError as err:
        _say(f"ml plots: {err.reason}", error=True)
        return EXIT_FAILED
    for path in paths:
        _say(str(path))
    return 0
