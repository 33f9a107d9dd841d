"""``innsight hub import KIND FILE``: a CSV of bookings, rooms, employees or shifts into the
hub's database (hub/hotel/importer.py; the same import as ``POST /api/v1/hotel/import/KIND``).

Exit codes: 0 imported; 1 bad rows and nothing imported (each named by line and reason); 2 bad
settings, an unreadable file or an ambiguous date format. The parser is standard library only;
the handler imports the hub's database code when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from innsight.hub_cli_args import add_data_dir_argument

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
KINDS = ("bookings", "rooms", "employees", "shifts")


def add_import_parser(hub: Any) -> None:
    """Add ``import`` to the ``innsight hub`` subparsers."""
    command = hub.add_parser(
        "import",
        help="import a CSV of bookings, rooms, employees or shifts (all rows or none)",
        description="Columns per kind and the Hotel booking demand schema: docs/hotel.md.",
    )
    command.add_argument("kind", choices=KINDS)
    command.add_argument("file", type=Path)
    command.add_argument(
        "--date-format",
        choices=("iso", "mdy", "dmy"),
        default=None,
        help="the dates' format when the file cannot tell M/D/YYYY from D/M/YYYY",
    )
    command.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="import the good rows and write the rejected ones to --rejected-out",
    )
    command.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="OURS=THEIRS",
        help="read our column OURS from the file's column THEIRS (repeatable)",
    )
    command.add_argument(
        "--rejected-out",
        type=Path,
        default=None,
        help="where the rejected rows go (default: FILE.rejected.csv)",
    )
    add_data_dir_argument(command)
    command.add_argument("--no-progress", action="store_true", help="no progress bar")
    command.set_defaults(func=_cmd_import)


def _mapping(pairs: list[str]) -> dict[str, str] | None:
    mapping: dict[str, str] = {}
    for pair in pairs:
        ours, sep, theirs = pair.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise ValueError(f"--map {pair!r}: write OURS=THEIRS")
        mapping[ours.strip()] = theirs.strip()
    return mapping or None


def _cmd_import(args: argparse.Namespace) -> int:
    import asyncio

    from hub.hotel.csv_format import CsvFormatError
    from hub.hotel.importer import ImportRefused
    from hub.settings import HubSettings, HubSettingsError

    env = dict(os.environ)
    if args.data_dir is not None:
        env["INNSIGHT_DATA_DIR"] = str(args.data_dir)
    try:
        mapping = _mapping(args.map)
        settings = HubSettings.from_env(env)
        data = args.file.read_bytes()
    except (ValueError, HubSettingsError, OSError) as err:
        sys.stderr.write(f"error: {err}\n")
        return EXIT_USAGE
    try:
        result = asyncio.run(_run(settings, args, data, mapping))
    except CsvFormatError as err:
        sys.stderr.write(f"error: {args.file}: {err}\n")
        return EXIT_USAGE
    except ImportRefused as err:
        for line, reason in err.result.rejected:
            sys.stderr.write(f"{args.file}:{line}: {reason}\n")
        sys.stderr.write(f"error: {err}\n")
        return EXIT_REFUSED
    out = sys.stdout
    out.write(
        f"{result.kind}: {result.rows} rows ({result.schema} schema, delimiter "
        f"{result.delimiter!r}, dates {result.date_format or 'none'}): {result.created} created, "
        f"{result.updated} updated, {result.unchanged} unchanged, "
        f"{len(result.rejected)} rejected\n"
    )
    if result.rejected_csv is not None:
        target = args.rejected_out or args.file.with_name(args.file.name + ".rejected.csv")
        target.write_text(result.rejected_csv, encoding="utf-8")
        out.write(f"rejected rows written to {target}\n")
    return EXIT_OK


async def _run(settings: Any, args: argparse.Namespace, data: bytes, mapping: Any) -> Any:
    import importlib

    from hub.auth.keys import with_secrets
    from hub.crypto import PiiCipher, bind_pii_cipher
    from hub.db import create_engine, create_session_factory, init_db
    from hub.hotel.importer import import_csv

    settings = with_secrets(settings)
    cipher = PiiCipher.from_secret(settings.pii_key)
    engine = create_engine(settings.database_url.get_secret_value())
    bind_pii_cipher(engine, cipher)
    tqdm: Any = importlib.import_module("tqdm").tqdm  # no type stubs
    bar = tqdm(total=0, unit="row", disable=args.no_progress, file=sys.stderr)

    def progress(stage: str, done: int, total: int) -> None:
        bar.set_description(stage)
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        await init_db(engine)
        return await import_csv(
            create_session_factory(engine),
            args.kind,
            data,
            actor=f"cli:{os.environ.get('USER', 'unknown')}"[:128],
            cipher=cipher,
            date_format=args.date_format,
            mapping=mapping,
            skip_bad_rows=args.skip_bad_rows,
            progress=progress,
        )
    finally:
        bar.close()
        await engine.dispose()
