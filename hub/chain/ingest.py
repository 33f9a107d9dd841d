"""The chain hub's ingest: the hub's own (:mod:`hub.ingest`) over every site, read-only.

Differences from a hotel hub's ingest, and only these:

- it subscribes to every site's events, status and heartbeats (``innsight/+/+/...``) at QoS 1
  with a persistent session at the chain broker;
- a device is stored as ``{site}/{device}`` (:mod:`hub.chain.keys`), so the apply-once key
  ``(device_id, seq)`` and the event row per ``event_id`` hold across hotels: a message the
  bridge re-delivers after a cut is stored once;
- it never acks (the hotel's hub acks its edges; an ack from here would release an edge's outbox
  row before the hotel had stored it), never publishes, and writes no flow work (no attendance
  or hazard alerts run here: the hotel's hub runs them).
"""

from __future__ import annotations

import aiomqtt
from prometheus_client import CollectorRegistry

from contracts.topics import BRIDGED_CHANNELS, all_sites_subscription
from hub.chain.keys import device_key, site_of
from hub.db import SessionFactory
from hub.ingest.acks import PendingAcks
from hub.ingest.applier import BatchApplier
from hub.ingest.classify import Classifier
from hub.ingest.errors import PublishError
from hub.ingest.items import Outcome
from hub.ingest.service import MqttIngest
from hub.ingest.writer import BatchWriter
from hub.settings import HubSettings
from hub.storage import ObjectStore


class ChainClassifier(Classifier):
    """Accepts every site; names devices ``{site}/{device}``."""

    def device_key(self, site: str, device: str) -> str | None:
        return device_key(site, device)


class NoAcks(PendingAcks):
    """The chain hub acknowledges nothing: the hotel's hub does."""

    def add(self, outcome: Outcome) -> None:  # noqa: ARG002 - nothing to remember
        return None

    async def send(self, client: aiomqtt.Client) -> None:  # noqa: ARG002 - nothing to send
        return None


class ChainIngest(MqttIngest):
    """See the module docstring."""

    def __init__(
        self,
        settings: HubSettings,
        session_factory: SessionFactory,
        store: ObjectStore,
        *,
        registry: CollectorRegistry | None = None,
    ) -> None:
        super().__init__(settings, session_factory, store, registry=registry)
        self._classifier = ChainClassifier(settings.site, self.metrics, self.contracts)
        writer = BatchWriter(
            session_factory, store, settings.site, site_of=site_of, flow_work=False
        )
        self._applier = BatchApplier(writer, session_factory, self.metrics)
        self._acks = NoAcks(settings.site, self.metrics)

    def _subscriptions(self) -> list[str]:
        return [all_sites_subscription(channel) for channel in BRIDGED_CHANNELS]

    async def publish(
        self,
        topic: str,
        payload: bytes,  # noqa: ARG002 - refused whatever it is
        qos: int = 1,  # noqa: ARG002
        retain: bool = False,  # noqa: ARG002
    ) -> None:
        raise PublishError(f"the chain hub is read-only: it does not publish to {topic}")
