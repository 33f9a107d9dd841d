"""Arguments shared by the ``innsight hub`` commands that open the hub's database offline
(``audit verify``, ``gallery rekey``, ``import``, ``privacy report``). Standard library only."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_data_dir_argument(parser: argparse.ArgumentParser) -> None:
    """``--data-dir``: the hub's data dir; the database comes from the environment."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="the hub's data dir (default: $INNSIGHT_DATA_DIR); the database comes from "
        "INNSIGHT_DATABASE_URL as for `hub serve`",
    )
