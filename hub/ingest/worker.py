"""``innsight hub ingest``: the ingest alone (no API), one of N workers of a deployment.

Workers share the site's subscription through an MQTT 5 shared subscription
(``$share/{group}/...``): the broker hands each message to one of them. Exactly-once storage
does not depend on which worker gets what: acks go out only after the commit, writes are
idempotent on ``(device_id, seq)`` and ``event_id`` (one advisory lock per event on PostgreSQL
serialises the merge of an event's row), and a worker that dies mid-batch leaves its messages
unacked, so the edge re-sends them and another worker (or the restarted one) stores them once.
Per-camera order is the order of ``seq`` (``events.seq``), whatever the order of commits.

Flow work (attendance, hazard alerts) is written to ``event_flow_work`` with the events and
done by the API process (:mod:`hub.flows.event_work`), which polls that table.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from hub.auth.keys import with_secrets
from hub.crypto import PiiCipher, bind_pii_cipher
from hub.db import create_engine, create_session_factory, init_db
from hub.ingest.service import MqttIngest
from hub.settings import HubSettings
from hub.storage import object_store_for

logger = logging.getLogger(__name__)

DEFAULT_GROUP = "innsight-ingest"
CONNECT_TIMEOUT_S = 30.0


def worker_client_id(settings: HubSettings, worker: str) -> str:
    """A stable client id per worker (its persistent session at the broker)."""
    return f"{settings.mqtt_client_id}-ingest-{worker}"


async def run_worker(
    settings: HubSettings,
    worker: str,
    *,
    group: str = DEFAULT_GROUP,
    stop: asyncio.Event | None = None,
) -> None:
    """Run one ingest worker until ``stop`` is set (or SIGTERM/SIGINT when not given)."""
    settings = with_secrets(settings)
    engine = create_engine(settings.database_url.get_secret_value())
    bind_pii_cipher(engine, PiiCipher.from_secret(settings.pii_key))
    stop = stop or _stop_on_signals()
    try:
        await init_db(engine)
        ingest = MqttIngest(
            settings,
            create_session_factory(engine),
            object_store_for(settings),
            shared_group=group,
            client_id=worker_client_id(settings, worker),
        )
        await ingest.start()
        if not await ingest.wait_connected(CONNECT_TIMEOUT_S):
            logger.warning("ingest worker %s: no broker yet; it keeps trying", worker)
        logger.info("ingest worker %s running (group %s, site %s)", worker, group, settings.site)
        await stop.wait()
        await ingest.stop()
    finally:
        await engine.dispose()


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
