"""End-to-end acks (DESIGN §2): the seqs a committed batch applied (duplicates included, so a
redelivered message is released again) or refused (with the reason), per device, published to
the device's ``acks`` topic after the commit, never before."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

import aiomqtt

from contracts.messages import AckMessage, Refusal, seqs_to_ranges
from contracts.topics import Channel, device_topic
from hub.ingest.items import Outcome
from hub.ingest.metrics import IngestMetrics

logger = logging.getLogger(__name__)

# How long an ack may wait for the broker's PUBACK before the connection counts as broken and is
# replaced. aiomqtt does not wake a publish waiting for its PUBACK when the connection drops (the
# wait ran to the client's whole 10 s timeout, the ingest reading and committing nothing
# meanwhile), and a connection made right after a broker crash could come up unable to write (an
# event-loop poll left over from the dead socket, under uvloop: see hub/serve.py); it stayed
# wedged until its keepalive expired. Replacing it is safe: the session is persistent.
ACK_PUBLISH_TIMEOUT_S = 3.0


class PendingAcks:
    """Acks of committed outcomes not yet taken by the broker, per device."""

    def __init__(self, site: str, metrics: IngestMetrics) -> None:
        self._site = site
        self.metrics = metrics
        self._acks: dict[str, dict[int, float]] = {}
        self._refusals: dict[str, dict[int, str]] = {}
        # True once an ack went unconfirmed: the connection is to be replaced
        self.stalled = False

    def add(self, outcome: Outcome) -> None:
        """The acks (and refusals) of a committed outcome."""
        for device_id, seqs in outcome.acks.items():
            pending = self._acks.setdefault(device_id, {})
            refused = outcome.refused.get(device_id, {})
            pending_refused = self._refusals.get(device_id)
            for seq, received in seqs.items():
                pending[seq] = min(pending.get(seq, received), received)
                if seq in refused:
                    self._refusals.setdefault(device_id, {})[seq] = refused[seq]
                elif pending_refused is not None:
                    pending_refused.pop(seq, None)

    async def send(self, client: aiomqtt.Client) -> None:
        """Publish what is pending; sets :attr:`stalled` when the broker does not confirm."""
        for device_id in list(self._acks):
            seqs = self._acks[device_id]
            if not seqs:
                del self._acks[device_id]
                self._refusals.pop(device_id, None)
                continue
            refusals = self._refusals.get(device_id, {})
            topic = device_topic(self._site, device_id, Channel.ACKS)
            for ack in ack_messages(device_id, seqs, refusals):
                try:
                    async with asyncio.timeout(ACK_PUBLISH_TIMEOUT_S):
                        await client.publish(topic, ack.to_json_bytes(), qos=1)
                except TimeoutError:
                    # The connection is dead or cannot write: _consume replaces it.
                    self.stalled = True
                    logger.warning("ack to %s not confirmed by the broker; reconnecting", device_id)
                    return
                except aiomqtt.MqttError as err:
                    logger.warning("ack to %s not sent (%s); it will be re-sent", device_id, err)
                    return
            sent_at = time.monotonic()
            for received in seqs.values():
                self.metrics.ack_latency.observe(max(0.0, sent_at - received))
            del self._acks[device_id]
            self._refusals.pop(device_id, None)


# Ranges per ack message: keeps one ack far below the contract's MAX_ACK_ITEMS.
_ACK_CHUNK = 5_000


def ack_messages(
    device_id: str, seqs: Mapping[int, float], refusals: Mapping[int, str]
) -> list[AckMessage]:
    """The acks for ``seqs`` (refused ones named with their reason), in bounded messages."""
    ranges = seqs_to_ranges(list(seqs))
    messages = []
    for start in range(0, len(ranges), _ACK_CHUNK):
        chunk = ranges[start : start + _ACK_CHUNK]
        refused = [
            Refusal(seq=seq, reason=reason)
            for seq, reason in sorted(refusals.items())
            if chunk[0][0] <= seq <= chunk[-1][1] and seq in seqs
        ]
        messages.append(AckMessage(device_id=device_id, ranges=chunk, refused=refused))
    return messages
