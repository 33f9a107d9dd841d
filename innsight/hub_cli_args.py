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


ROLE_SITE = "site"
ROLE_CHAIN = "chain"


def add_role_argument(parser: argparse.ArgumentParser) -> None:
    """``--role site|chain`` of ``hub serve``: a hotel's hub, or the chain hub (docs/chain.md)."""
    parser.add_argument(
        "--role",
        choices=(ROLE_SITE, ROLE_CHAIN),
        default=ROLE_SITE,
        help="site: a hotel's hub (default); chain: the read-only cross-site hub that ingests "
        "every hotel's bridged topics from the chain broker",
    )
