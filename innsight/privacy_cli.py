"""``innsight hub privacy report``: the record of processing for a DPIA (issue 17 item 7), from
the live configuration (``INNSIGHT_*`` as for ``hub serve``) and database, as Markdown or JSON.

Exit codes: 0 written; 2 bad settings, or the database or the model manifest cannot be read.
The parser is standard library only; the handler imports the hub when it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from innsight.hub_cli_args import add_data_dir_argument

EXIT_OK = 0
EXIT_USAGE = 2


def add_privacy_parser(hub: Any) -> None:
    """Add ``privacy report`` to the ``innsight hub`` subparsers."""
    privacy = hub.add_parser("privacy", help="data protection").add_subparsers(
        dest="privacy_command", required=True
    )
    report = privacy.add_parser(
        "report",
        help="write the record of processing (cameras, retention, models and licences, "
        "scopes, storage) for a data-protection impact assessment",
    )
    report.add_argument("--json", action="store_true", help="JSON instead of Markdown")
    report.add_argument("--out", type=Path, default=None, help="write here (default: stdout)")
    add_data_dir_argument(report)
    report.set_defaults(func=_cmd_privacy_report)


async def _record(settings: Any) -> dict[str, Any]:
    from hub.db import create_engine, create_session_factory
    from hub.privacy.report import collect
    from hub.tables import utcnow
    from models.registry import load_manifest

    engine = create_engine(settings.database_url.get_secret_value())
    try:
        async with create_session_factory(engine)() as session:
            return await collect(session, settings, load_manifest(), utcnow())
    finally:
        await engine.dispose()


def _cmd_privacy_report(args: argparse.Namespace) -> int:
    import asyncio

    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    from hub.privacy.report import to_markdown
    from hub.settings import HubSettings, HubSettingsError

    env = dict(os.environ)
    if args.data_dir is not None:
        env["INNSIGHT_DATA_DIR"] = str(args.data_dir)
    try:
        settings = HubSettings.from_env(env)
        record = asyncio.run(_record(settings))
    except HubSettingsError as err:
        sys.stderr.write(f"error: {err}\n")
        return EXIT_USAGE
    except SQLAlchemyError as err:
        sys.stderr.write(f"error: cannot read the hub database: {type(err).__name__}: {err}\n")
        return EXIT_USAGE
    except (OSError, ValidationError) as err:
        sys.stderr.write(f"error: cannot read the model manifest: {err}\n")
        return EXIT_USAGE
    text = json.dumps(record, indent=2, sort_keys=True) if args.json else to_markdown(record)
    if args.out is None:
        sys.stdout.write(text + "\n")
    else:
        args.out.write_text(text + "\n", encoding="utf-8")
    return EXIT_OK
