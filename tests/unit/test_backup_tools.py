"""The PostgreSQL client tools a backup uses must be at least as new as the server (an older
pg_dump refuses a newer server): the oldest fitting one is picked, and a missing one is named
with the package that provides it."""

from __future__ import annotations

import pytest

from hub.backup import EXIT_TOOL, DatabaseToolError, _safe_member, pg_tool
from testkit.postgres import postgres_bin_dir


def test_no_pg_dump_new_enough_names_the_package() -> None:
    with pytest.raises(DatabaseToolError) as caught:
        pg_tool("pg_dump", 99)
    assert "postgresql-client-99" in str(caught.value)
    assert caught.value.exit_code == EXIT_TOOL


def test_an_installed_pg_dump_fits_its_own_server_version() -> None:
    if postgres_bin_dir() is None:
        pytest.skip("PostgreSQL client tools are not installed")
    tool = pg_tool("pg_dump", 9)
    assert tool.major >= 9
    assert tool.path.is_file()


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("database/hub.sqlite", True),
        ("objects/galleries/1.json", True),
        ("data/ml/occupancy/v3/model.txt", True),
        ("secrets/pii.key", True),
        ("../etc/passwd", False),
        ("/etc/passwd", False),
        ("data/../../escape", False),
        ("other/file", False),
    ],
)
def test_archive_member_names_cannot_escape(name: str, safe: bool) -> None:
    assert _safe_member(name) is safe
