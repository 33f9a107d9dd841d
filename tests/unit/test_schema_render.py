"""Migrations written by autogenerate need no hand edits: the hub's column types render as the
SQL types they store (no import of hub code or sqlmodel in a revision), a NOT NULL column added
to an existing table gets its model's default for the rows already there, and a model column
that no migration creates is reported (what ``innsight hub migrate --check`` fails CI on)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import render_python_code
from alembic.operations import ops
from sqlalchemy import text
from sqlmodel.sql.sqltypes import AutoString

from hub.crypto import EncryptedString
from hub.schema import (
    MIGRATIONS_DIR,
    SchemaError,
    hub_metadata,
    model_differences,
    process_revision_directives,
    render_item,
    render_type,
    scratch_sqlite,
    upgrade,
)
from hub.tables import JSONType, UTCDateTime


@pytest.mark.parametrize(
    ("type_", "rendered"),
    [
        (UTCDateTime(), "sa.DateTime(timezone=True)"),
        (EncryptedString(), "sa.Text()"),
        (AutoString(length=64), "sa.String(length=64)"),
        (AutoString(), "sa.String()"),
        (JSONType, "sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')"),
    ],
)
def test_the_hubs_types_render_as_their_sql_types(type_: Any, rendered: str) -> None:
    assert render_type(type_) == rendered


def test_core_types_are_left_to_alembic() -> None:
    assert render_type(sa.Integer()) is None
    assert render_type(sa.LargeBinary()) is None


def _rendered_table(table: sa.Table) -> str:
    return render_python_code(
        ops.UpgradeOps(ops=[ops.CreateTableOp.from_table(table)]),
        render_item=render_item,
        render_as_batch=True,
    )


def test_a_table_with_every_custom_type_renders_to_plain_sqlalchemy() -> None:
    metadata = hub_metadata()
    for name in ("guests", "ml_models", "events", "devices"):
        code = _rendered_table(metadata.tables[name])
        assert "hub." not in code
        assert "sqlmodel" not in code
        assert "astext_type" not in code  # alembic's own JSONB rendering lacks the prefix
        compile("def upgrade():\n    " + code.lstrip(), "<revision>", "exec")


def test_the_committed_revisions_import_no_application_code() -> None:
    revisions = sorted((MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))
    assert revisions, "no revision"
    for path in revisions:
        source = path.read_text(encoding="utf-8")
        assert "import hub" not in source
        assert "from hub" not in source
        assert "sqlmodel" not in source, path.name


def _added(column: sa.Column[Any]) -> ops.AddColumnOp:
    script = ops.MigrationScript(
        rev_id="x",
        upgrade_ops=ops.UpgradeOps(
            ops=[ops.ModifyTableOps("guests", [ops.AddColumnOp("guests", column)])]
        ),
        downgrade_ops=ops.DowngradeOps(ops=[]),
    )
    process_revision_directives(None, None, [script])  # type: ignore[arg-type]
    assert script.upgrade_ops is not None
    (table_ops,) = script.upgrade_ops.ops
    assert isinstance(table_ops, ops.ModifyTableOps)
    (added,) = table_ops.ops
    assert isinstance(added, ops.AddColumnOp)
    return added


@pytest.mark.parametrize(
    ("default", "sql"), [(1, "1"), (False, "false"), (True, "true"), ("BB", "'BB'"), (0.5, "0.5")]
)
def test_a_not_null_column_added_to_a_table_gets_its_default_for_existing_rows(
    default: Any, sql: str
) -> None:
    added = _added(sa.Column("new_col", sa.Integer(), nullable=False, default=default))
    server_default = added.column.server_default
    assert isinstance(server_default, sa.DefaultClause)
    assert str(server_default.arg) == sql


def test_a_nullable_column_is_left_alone() -> None:
    added = _added(sa.Column("new_col", sa.Integer(), nullable=True, default=3))
    assert added.column.server_default is None


def test_a_not_null_column_without_a_default_stops_autogenerate() -> None:
    with pytest.raises(SchemaError, match=r"guests\.new_col is added NOT NULL"):
        _added(sa.Column("new_col", sa.Integer(), nullable=False))


def test_a_model_column_no_migration_creates_is_reported() -> None:
    with scratch_sqlite() as conn:
        upgrade(conn)
        conn.execute(text("ALTER TABLE guests DROP COLUMN nationality"))
        conn.execute(text("DROP TABLE lost_items"))
        differences = model_differences(conn)
    flat = [d for diff in differences for d in (diff if isinstance(diff, list) else [diff])]
    assert any(
        d[0] == "add_column" and d[2] == "guests" and d[3].name == "nationality" for d in flat
    )
    assert any(d[0] == "add_table" and d[1].name == "lost_items" for d in flat)
