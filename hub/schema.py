"""The hub's schema under Alembic (hub/migrations): inspect, upgrade, downgrade, check, generate.

Every function that touches a database takes a *sync* :class:`~sqlalchemy.Connection` (an async
caller hands it over with ``await conn.run_sync(...)``, see :func:`hub.db.init_db`), so the same
code serves the hub's start, the ``innsight hub migrate`` command and the tests.

States a database can be in (:func:`inspect_schema`):

- *empty*: no hub table at all: every revision is pending;
- *legacy*: hub tables but no ``alembic_version`` table: made by ``create_all`` before
  migrations existed (the schema of :data:`BASELINE_REVISION`), stamped with it, then upgraded;
- *known*: at a revision of this release's migrations (head, or older: upgrades pending);
- *newer*: at a revision this release does not know: written by a newer innsight. Refused.

Custom column types render in generated migrations as the SQL type they store
(:func:`render_item`): ``UTCDateTime`` as ``sa.DateTime(timezone=True)``, ``EncryptedString`` as
``sa.Text()``, SQLModel's ``AutoString`` as ``sa.String(length=N)``, so a migration never
imports the application's modules and stays valid when they change.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import Connection, DefaultClause, MetaData, create_engine, inspect, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.schema import ScalarElementColumnDefault
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

logger = logging.getLogger(__name__)
# Alembic logs every plugin it sets up at INFO on each run; hub.db says what was migrated.
if logging.getLogger("alembic").level == logging.NOTSET:
    logging.getLogger("alembic").setLevel(logging.WARNING)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BASELINE_REVISION = "0001_baseline"
VERSION_TABLE = "alembic_version"


class SchemaError(RuntimeError):
    """The database's schema cannot be brought to this release's (message says why)."""


class DatabaseNewerError(SchemaError):
    """The database is at a revision this release does not know (a newer release wrote it)."""


class UnknownRevisionError(SchemaError, ValueError):
    """A revision given on the command line is not one of this release's migrations."""


def innsight_version() -> str:
    try:
        return package_version("innsight")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def hub_metadata() -> MetaData:
    """SQLModel's metadata with every hub table registered."""
    import hub.tables  # noqa: F401 - registers the tables on SQLModel.metadata

    return SQLModel.metadata


# ---------------------------------------------------------------------------------------------
# Alembic configuration
# ---------------------------------------------------------------------------------------------


def alembic_config(*, url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic :class:`Config` for hub/migrations, without an ini file.

    ``connection`` (preferred) makes env.py run on it; else ``url`` (sync or async driver);
    else env.py reads the hub's settings from the environment (``INNSIGHT_DATABASE_URL``...).
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    _add_ruff_hooks(config)
    return config


def _add_ruff_hooks(config: Config) -> None:
    """Generated revisions pass ``ruff check --fix`` and ``ruff format`` (the project's rules)
    when ruff is installed next to this Python."""
    ruff = Path(sys.executable).with_name("ruff")
    executable = str(ruff) if ruff.is_file() else shutil.which("ruff")
    if executable is None:
        return
    config.set_section_option("post_write_hooks", "hooks", "ruff_fix,ruff_format")
    for name, options in (
        ("ruff_fix", "check --fix --quiet REVISION_SCRIPT_FILENAME"),
        ("ruff_format", "format --quiet REVISION_SCRIPT_FILENAME"),
    ):
        config.set_section_option("post_write_hooks", f"{name}.type", "exec")
        config.set_section_option("post_write_hooks", f"{name}.executable", executable)
        config.set_section_option("post_write_hooks", f"{name}.options", options)


@functools.cache
def script_directory() -> ScriptDirectory:
    """This release's revisions (read once per process: they do not change while it runs)."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = script_directory().get_current_head()
    if head is None:
        raise SchemaError("hub/migrations has no revision")
    return head


@functools.cache
def _known_revisions() -> tuple[str, ...]:
    return tuple(script.revision for script in reversed(list(script_directory().walk_revisions())))


def known_revisions() -> list[str]:
    """This release's revisions, oldest first."""
    return list(_known_revisions())


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Alembic's ``render_item`` hook: the hub's custom types as the SQL types they store."""
    if type_ != "type" or not isinstance(obj, TypeEngine):
        return False
    rendered = render_type(obj)
    if rendered is None:
        return False
    if "postgresql." in rendered:
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
    return rendered


def render_type(type_: TypeEngine[Any]) -> str | None:
    """``sa.X(...)`` for an :class:`AutoString`, a :class:`TypeDecorator` (its ``impl``) or a
    type with dialect variants (``JSON`` / ``JSONB``: Alembic's own rendering of JSONB's
    ``astext_type`` lacks its prefix); ``None`` for types Alembic renders itself."""
    variants: dict[str, TypeEngine[Any]] = dict(getattr(type_, "_variant_mapping", {}))
    if variants:
        base = type_.copy()
        base._variant_mapping = base._variant_mapping.__class__()
        rendered = render_type(base) or f"sa.{base!r}"
        for dialect, variant in sorted(variants.items()):
            rendered += f".with_variant({_render_dialect_type(variant)}, {dialect!r})"
        return rendered
    if isinstance(type_, AutoString):
        return f"sa.String(length={type_.length})" if type_.length else "sa.String()"
    if isinstance(type_, TypeDecorator):
        impl = type_.impl_instance
        if isinstance(impl, AutoString | TypeDecorator):
            return render_type(impl)
        if type(impl).__module__.startswith("sqlalchemy.sql"):
            return f"sa.{impl!r}"
        raise SchemaError(f"cannot render {type(type_).__name__}: its impl is not a core type")
    return None


def _render_dialect_type(type_: TypeEngine[Any]) -> str:
    if isinstance(type_, postgresql.JSONB):
        return "postgresql.JSONB()"
    module = type(type_).__module__
    if module.startswith("sqlalchemy.dialects.postgresql"):
        return f"postgresql.{type_!r}"
    return render_type(type_) or f"sa.{type_!r}"


def include_object(
    obj: Any,  # noqa: ARG001 - Alembic's signature
    name: str | None,  # noqa: ARG001
    type_: str,
    reflected: bool,
    compare_to: Any,
) -> bool:
    """Tables in the database but not in the models (the assistant's LangGraph checkpoints on
    PostgreSQL, an operator's own) are none of the migrations' business: never dropped."""
    return not (type_ == "table" and reflected and compare_to is None)


def process_revision_directives(
    context: MigrationContext,  # noqa: ARG001 - Alembic's signature
    revision: Any,  # noqa: ARG001
    directives: list[Any],
) -> None:
    """Autogenerate's hook: a NOT NULL column added to an existing table gets its model's
    scalar default as ``server_default`` (the table's rows need a value: without one the
    migration fails on any database that has rows). Without a scalar default it stops."""
    for directive in directives:
        upgrade_ops = getattr(directive, "upgrade_ops", None)
        if upgrade_ops is not None:
            _defaults_for_existing_rows(upgrade_ops.ops)


def _defaults_for_existing_rows(changes: list[Any]) -> None:
    for change in changes:
        if isinstance(change, ops.ModifyTableOps):
            _defaults_for_existing_rows(change.ops)
        elif isinstance(change, ops.AddColumnOp):
            column = change.column
            if column.nullable or column.server_default is not None:
                continue
            default = column.default
            if not isinstance(default, ScalarElementColumnDefault):
                raise SchemaError(
                    f"{change.table_name}.{column.name} is added NOT NULL without a scalar "
                    "default, so existing rows get no value: give the model field a default, "
                    "a sa_column_kwargs={'server_default': ...}, or make it nullable"
                )
            column.server_default = DefaultClause(text(_sql_literal(default.arg)))


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise SchemaError(f"no SQL literal for a default of type {type(value).__name__}")


def context_options(dialect_name: str) -> dict[str, Any]:
    """The options env.py and :func:`model_differences` configure Alembic with."""
    return {
        "target_metadata": hub_metadata(),
        "render_as_batch": dialect_name == "sqlite",
        "render_item": render_item,
        "include_object": include_object,
        "compare_type": True,
        "compare_server_default": False,
        "process_revision_directives": process_revision_directives,
    }


# ---------------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SchemaState:
    current: str | None  # the alembic_version row (None: empty or legacy)
    head: str
    legacy: bool  # hub tables without a revision (made by create_all before migrations)
    empty: bool  # no revision and no hub table

    @property
    def newer(self) -> bool:
        return self.current is not None and self.current not in known_revisions()

    @property
    def pending(self) -> list[str]:
        """Revisions an upgrade to head would apply, oldest first."""
        revisions = known_revisions()
        if self.empty:
            return revisions
        start = BASELINE_REVISION if self.legacy else self.current
        if start is None or start not in revisions:
            return []
        return revisions[revisions.index(start) + 1 :]

    def pending_to(self, target: str) -> list[str]:
        """Revisions an upgrade to ``target`` (a revision id or ``head``) would apply."""
        pending = self.pending
        if target == "head" or target not in pending:
            return pending if target == "head" else []
        return pending[: pending.index(target) + 1]

    def is_after(self, target: str) -> bool:
        """Whether the database is past ``target`` (reaching it is a downgrade)."""
        revisions = known_revisions()
        if target not in revisions or self.current not in revisions:
            return False
        return revisions.index(self.current) > revisions.index(target)

    def describe(self) -> str:
        if self.empty:
            return f"empty database (head is {self.head})"
        if self.legacy:
            return f"created before migrations (= {BASELINE_REVISION}; head is {self.head})"
        if self.newer:
            return f"at {self.current}, unknown to this release (head is {self.head})"
        return f"at {self.current} (head is {self.head})"


def inspect_schema(conn: Connection) -> SchemaState:
    names = set(inspect(conn).get_table_names())
    model_tables = set(hub_metadata().tables)
    current = MigrationContext.configure(conn).get_current_revision()
    hub_tables = bool(names & model_tables)
    return SchemaState(
        current=current,
        head=head_revision(),
        legacy=current is None and hub_tables,
        empty=current is None and not hub_tables,
    )


def newer_message(state: SchemaState, where: str = "the database") -> str:
    return (
        f"{where} is at schema revision {state.current!r}, which innsight {innsight_version()} "
        f"does not know (its newest is {state.head!r}): a newer innsight release wrote it. "
        "Run that release (or newer), or restore a backup taken before the upgrade"
    )


# ---------------------------------------------------------------------------------------------
# Upgrade, downgrade, stamp
# ---------------------------------------------------------------------------------------------


def upgrade(conn: Connection, target: str = "head") -> SchemaState:
    """Bring the database on ``conn`` to ``target`` (a legacy database is stamped with the
    baseline first). Raises :class:`DatabaseNewerError` for a database of a newer release."""
    state = inspect_schema(conn)
    if state.newer:
        raise DatabaseNewerError(newer_message(state))
    target_rev = resolve_revision(target)
    if state.legacy:
        logger.info("database made before migrations: stamping it %s", BASELINE_REVISION)
        command.stamp(alembic_config(connection=conn), BASELINE_REVISION)
    command.upgrade(alembic_config(connection=conn), target_rev)
    return inspect_schema(conn)


def downgrade(conn: Connection, target: str) -> SchemaState:
    """Step the database on ``conn`` back to ``target`` (a revision, ``-1``, or ``base``)."""
    state = inspect_schema(conn)
    if state.newer:
        raise DatabaseNewerError(newer_message(state))
    if state.legacy:
        command.stamp(alembic_config(connection=conn), BASELINE_REVISION)
    command.downgrade(alembic_config(connection=conn), target)
    return inspect_schema(conn)


def resolve_revision(target: str) -> str:
    """``head`` or the full id of one of this release's revisions (else UnknownRevisionError)."""
    if target in ("head", "heads"):
        return "head"
    try:
        found = script_directory().get_revision(target)
    except (CommandError, RevisionError) as err:
        raise UnknownRevisionError(
            f"unknown revision {target!r}: this release has {', '.join(known_revisions())}"
        ) from err
    if found is None:
        raise UnknownRevisionError(f"unknown revision {target!r}")
    return found.revision


# ---------------------------------------------------------------------------------------------
# Models against migrations
# ---------------------------------------------------------------------------------------------


def model_differences(conn: Connection) -> list[Any]:
    """Alembic's diff between the database on ``conn`` and the hub's models (empty: equal)."""
    context = MigrationContext.configure(conn, opts=context_options(conn.dialect.name))
    diffs: list[Any] = compare_metadata(context, hub_metadata())
    return diffs


@contextmanager
def scratch_sqlite() -> Iterator[Connection]:
    """A connection to a throwaway in-memory SQLite database."""
    engine = create_engine("sqlite://", poolclass=StaticPool)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def check_models(url: str | None = None) -> list[Any]:
    """The differences between the hub's models and a database migrated to head: a scratch
    SQLite database by default, or the (empty) database at the sync ``url``."""
    if url is None:
        with scratch_sqlite() as conn:
            upgrade(conn)
            return model_differences(conn)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            upgrade(conn)
            return model_differences(conn)
    finally:
        engine.dispose()


def autogenerate(message: str, *, rev_id: str | None = None) -> Path | None:
    """Write a new revision with the model changes no migration covers yet (compared against a
    scratch SQLite database at head). Returns its file, or ``None`` when there is no change."""
    with scratch_sqlite() as conn:
        upgrade(conn)
        if not model_differences(conn):
            return None
        rev = rev_id or f"{len(known_revisions()) + 1:04d}"
        script = command.revision(
            alembic_config(connection=conn), message=message, autogenerate=True, rev_id=rev
        )
    if script is None or isinstance(script, list):
        raise SchemaError("alembic wrote no single revision")
    return Path(script.path)


def format_differences(diffs: list[Any]) -> list[str]:
    """One readable line per difference."""
    lines: list[str] = []
    for diff in diffs:
        items = diff if isinstance(diff, list) else [diff]
        for item in items:
            lines.append(_describe_diff(item))
    return lines


def _describe_diff(item: Any) -> str:
    kind = item[0] if isinstance(item, tuple) and item else "?"
    if kind in ("add_table", "remove_table"):
        return f"{kind}: {item[1].name}"
    if kind in ("add_column", "remove_column"):
        return f"{kind}: {item[2]}.{item[3].name} ({item[3].type})"
    if kind in ("add_index", "remove_index"):
        index = item[1]
        return f"{kind}: {index.name} on {index.table.name}"
    if kind.startswith("modify_"):
        return f"{kind}: {item[2]}.{item[3]}: {item[-2]!r} -> {item[-1]!r}"
    return repr(item)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (sync or aiosqlite); None for other databases or memory."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(os.path.expanduser(database))


def sync_url(url: str) -> str:
    """The hub's async URL with the matching sync driver (for Alembic's CLI paths)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise SchemaError(f"unsupported database backend {backend!r}")
