"""``innsight hub migrate | backup | restore``: the hub's schema and its data, for the hotel's IT.

The parsers are standard library only; the handlers import Alembic, the database drivers and
hub/backup.py when they run.

``hub migrate``            upgrade the configured database to this release's newest schema
``hub migrate --to REV``   upgrade or downgrade to one revision (SQLite: a copy is kept first)
``hub migrate --status``   say where the database stands; change nothing
``hub migrate --check``    compare hub/tables.py with the migrations (exit 1 and the differences
                           when a model changed without a migration: CI runs this)
``hub migrate --autogenerate -m MSG``  write the revision that covers the model changes
``hub backup --out FILE``  database, object store, secrets, data dir and manifest in one file
``hub restore FILE``       into an empty data dir / database / store, then migrate

Exit codes: 0 done; 1 failed (``--check``: models and migrations differ); 2 bad arguments or
settings; 3 corrupt archive; 4 not an innsight backup; 5 sha256 mismatch; 6 newer than this
release (a backup or database of a newer schema revision); 7 the restore target is not empty;
8 pg_dump / pg_restore missing or failing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NEWER = 6


def add_hub_data_parsers(hub: Any) -> None:
    """Add ``migrate``, ``backup`` and ``restore`` to the ``innsight hub`` subparsers."""
    migrate = hub.add_parser(
        "migrate",
        help="bring the database to this release's schema (Alembic); --check for CI",
        description="Upgrade (or with --to, up- or downgrade) the hub's database.",
    )
    mode = migrate.add_mutually_exclusive_group()
    mode.add_argument("--to", default="head", metavar="REV", help="target revision (head)")
    mode.add_argument(
        "--check",
        action="store_true",
        help="exit 1 listing the differences when hub/tables.py and the migrations differ",
    )
    mode.add_argument("--status", action="store_true", help="show the database's revision")
    mode.add_argument(
        "--autogenerate",
        action="store_true",
        help="write a new revision for the model changes no migration covers (needs -m)",
    )
    migrate.add_argument("-m", "--message", default=None, help="the new revision's title")
    _add_data_dir(migrate)
    migrate.set_defaults(func=_cmd_migrate)

    backup = hub.add_parser(
        "backup", help="write database, object store, secrets and data dir to one archive"
    )
    backup.add_argument("--out", type=Path, required=True, help="the archive to write (.tar.gz)")
    _add_data_dir(backup)
    backup.set_defaults(func=_cmd_backup)

    restore = hub.add_parser(
        "restore", help="restore an archive into an empty data dir, then migrate it"
    )
    restore.add_argument("file", type=Path, help="an archive made by `innsight hub backup`")
    _add_data_dir(restore)
    restore.set_defaults(func=_cmd_restore)


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="the hub's data dir (default: $INNSIGHT_DATA_DIR, else ./var/hub); the other "
        "settings come from INNSIGHT_* as for `hub serve`",
    )


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def _fail(code: int, text: str) -> int:
    sys.stderr.write(f"error: {text}\n")
    return code


def _settings(data_dir: Path | None) -> Any:
    from hub.settings import HubSettings

    env = dict(os.environ)
    if data_dir is not None:
        env["INNSIGHT_DATA_DIR"] = str(data_dir)
    return HubSettings.from_env(env)


def refuse_newer_database(settings: Any) -> int | None:
    """``EXIT_NEWER`` (after saying why) when the configured database was written by a newer
    release; ``None`` otherwise (also when it cannot be reached: the hub's start reports that)."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError

    from hub.schema import inspect_schema, newer_message, sqlite_file, sync_url

    url = settings.database_url.get_secret_value()
    db_file = sqlite_file(url)
    if db_file is not None and not db_file.exists():
        return None
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            state = inspect_schema(conn)
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()
    if not state.newer:
        return None
    return _fail(EXIT_NEWER, f"{newer_message(state)}. The hub was not started")


def _cmd_migrate(args: argparse.Namespace) -> int:
    from hub import schema
    from hub.settings import HubSettingsError

    if args.check:
        diffs = schema.check_models()
        if not diffs:
            _say(f"models and migrations agree (head {schema.head_revision()})")
            return EXIT_OK
        _say(f"hub/tables.py differs from the migrations (head {schema.head_revision()}):")
        for line in schema.format_differences(diffs):
            _say(f"  {line}")
        _say("generate the revision: innsight hub migrate --autogenerate -m 'what changed'")
        return EXIT_FAILED
    if args.autogenerate:
        if not args.message:
            return _fail(EXIT_USAGE, "--autogenerate needs -m/--message")
        path = schema.autogenerate(args.message)
        if path is None:
            _say("no model changes: no revision written")
        else:
            _say(f"wrote {path}")
        return EXIT_OK
    try:
        settings = _settings(args.data_dir)
    except HubSettingsError as err:
        return _fail(EXIT_USAGE, str(err))
    import asyncio

    from hub.db import SchemaMismatchError, apply_migrations, create_engine

    async def run() -> int:
        engine = create_engine(settings.database_url.get_secret_value())
        try:
            if args.status:
                async with engine.connect() as conn:
                    state = await conn.run_sync(schema.inspect_schema)
                _say(f"database {state.describe()}; pending: {', '.join(state.pending) or '-'}")
                return EXIT_NEWER if state.newer else EXIT_OK
            before, after = await apply_migrations(engine, target=args.to)
        finally:
            await engine.dispose()
        if before == after:
            _say(f"database already {after.describe()}")
        else:
            _say(f"database was {before.describe()}; now {after.describe()}")
        return EXIT_OK

    try:
        return asyncio.run(run())
    except schema.DatabaseNewerError as err:
        return _fail(EXIT_NEWER, str(err))
    except schema.UnknownRevisionError as err:
        return _fail(EXIT_USAGE, str(err))
    except (SchemaMismatchError, schema.SchemaError) as err:
        return _fail(EXIT_FAILED, str(err))


def _cmd_backup(args: argparse.Namespace) -> int:
    from hub.backup import BackupError, backup
    from hub.settings import HubSettingsError

    try:
        settings = _settings(args.data_dir)
    except HubSettingsError as err:
        return _fail(EXIT_USAGE, str(err))
    try:
        summary = backup(settings, args.out)
    except BackupError as err:
        return _fail(err.exit_code, str(err))
    _say(f"backup written: {summary.describe()}")
    return EXIT_OK


def _cmd_restore(args: argparse.Namespace) -> int:
    from hub.backup import BackupError, restore
    from hub.schema import DatabaseNewerError, SchemaError
    from hub.settings import HubSettingsError

    try:
        settings = _settings(args.data_dir)
    except HubSettingsError as err:
        return _fail(EXIT_USAGE, str(err))
    try:
        manifest = restore(args.file, settings)
    except BackupError as err:
        return _fail(err.exit_code, str(err))
    except DatabaseNewerError as err:
        return _fail(EXIT_NEWER, str(err))
    except SchemaError as err:
        return _fail(EXIT_FAILED, f"restored, but the migration failed: {err}")
    _say(
        f"restored {args.file} (innsight {manifest.innsight_version}, schema "
        f"{manifest.schema_revision}) into {settings.data_dir}; database migrated to head"
    )
    return EXIT_OK
