"""``innsight hub ingest``: one MQTT ingest worker, no API (hub/ingest/worker.py).

Run several (``--worker 1``, ``--worker 2``, ...) against one broker and one PostgreSQL: they
share the site's subscription (MQTT 5 ``$share/{group}/...``, Mosquitto >= 2.0). Settings come
from the environment (``INNSIGHT_*``), as for ``innsight hub serve``.
"""

from __future__ import annotations

import argparse
import os
from typing import Any


def add_ingest_parser(hub: Any) -> None:
    ingest = hub.add_parser(
        "ingest",
        help="run one MQTT ingest worker (no API); several share the subscription",
    )
    ingest.add_argument(
        "--worker",
        default="1",
        help="this worker's name, unique in the group (its MQTT client id ends with it)",
    )
    ingest.add_argument(
        "--group", default="innsight-ingest", help="MQTT 5 shared subscription group"
    )
    ingest.set_defaults(func=_cmd_hub_ingest)


def _cmd_hub_ingest(args: argparse.Namespace) -> int:
    from hub.ingest.worker import run_worker
    from hub.settings import HubSettings
    from innsight.hub_data_cli import refuse_newer_database

    settings = HubSettings.from_env(os.environ)
    refused = refuse_newer_database(settings)
    if refused is not None:
        return refused
    import asyncio  # not at import: every `innsight` command builds this parser

    asyncio.run(run_worker(settings, str(args.worker), group=str(args.group)))
    return 0
