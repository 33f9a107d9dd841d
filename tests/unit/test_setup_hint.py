"""The first-start hint (hub/auth/bootstrap.py) names the exact command for this hub."""

from __future__ import annotations

from pathlib import Path

from hub.auth.bootstrap import init_command, setup_hint
from hub.settings import HubSettings


def test_the_hint_names_init_with_this_hubs_data_dir(tmp_path: Path) -> None:
    settings = HubSettings(data_dir=tmp_path / "hub")
    assert init_command(settings) == f"innsight hub init --data-dir {(tmp_path / 'hub').resolve()}"
    assert setup_hint(settings) == (
        "no administrator exists yet: on the hub machine run "
        f"`innsight hub init --data-dir {(tmp_path / 'hub').resolve()}` to create one, then sign in"
    )


def test_a_separate_database_is_named_without_its_password(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://innsight:s3cret-pw@db:5432/innsight"
    settings = HubSettings.model_validate({"data_dir": tmp_path, "database_url": url})
    command = init_command(settings)
    assert command.startswith("INNSIGHT_DATABASE_URL=<this hub's database URL> innsight hub init")
    assert "s3cret-pw" not in setup_hint(settings)
