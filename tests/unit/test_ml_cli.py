"""``innsight ml`` on a hub database in a temporary folder, and the lazy ML provider."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hub.ml.api import MLProvider, MLUnavailableError
from innsight.cli import build_parser, main


def test_parser_knows_the_ml_commands() -> None:
    args = build_parser().parse_args(["ml", "generate", "--seed", "3", "--days", "90"])
    assert (args.seed, args.days, args.future_days) == (3, 90, 365)
    args = build_parser().parse_args(["ml", "plots", "--out", "/tmp/x"])
    assert args.out == Path("/tmp/x")
    assert build_parser().parse_args(["ml", "train"]).model == "all"


def test_generate_fills_an_empty_database_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INNSIGHT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("INNSIGHT_DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert (
        main(["--log-level", "warning", "ml", "generate", "--days", "60", "--future-days", "0"])
        == 0
    )
    out = capsys.readouterr().out
    assert "bookings" in out
    assert (tmp_path / "hub.db").exists()
    assert main(["--log-level", "warning", "ml", "generate", "--days", "60"]) == 2
    assert "only fills an empty history" in capsys.readouterr().err
    # 60 days are too few for any model: each is skipped with its reason
    assert main(["--log-level", "warning", "ml", "train"]) == 2
    assert "needs" in capsys.readouterr().out


def test_provider_reports_missing_dependencies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hub.ml.service", None)  # import fails like a missing wheel
    provider = MLProvider(None, Path("/nonexistent"))  # type: ignore[arg-type]
    with pytest.raises(MLUnavailableError, match="not installed"):
        provider.get()
