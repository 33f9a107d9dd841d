"""MQTT -> contracts -> database, once (DESIGN §2, §5, §8).

One job per module: :mod:`~hub.ingest.mqtt` (connection, subscriptions), :mod:`~hub.ingest.classify`
(message -> event/status/heartbeat or dead letter), :mod:`~hub.ingest.items` (batches and
outcomes), :mod:`~hub.ingest.writer` (one transaction of multi-row statements),
:mod:`~hub.ingest.applier` (bisection, dead-lettering, database-down), :mod:`~hub.ingest.merge`
(the pure event merge), :mod:`~hub.ingest.acks`, :mod:`~hub.ingest.alarm`,
:mod:`~hub.ingest.metrics`, :mod:`~hub.ingest.gaps` (gap report), :mod:`~hub.ingest.service`
(the loop) and :mod:`~hub.ingest.worker` (``innsight hub ingest``: workers sharing the
subscription).

One aiomqtt client with a persistent session (``clean_session=False``, stable client id)
subscribes at QoS 1 to the site's events, status and heartbeat topics. Messages are validated
with :mod:`contracts`; whatever is malformed becomes a ``dead_letters`` row and the ingest
carries on. Valid messages are applied in batches, one transaction per batch:

- ``received_messages`` gets ``(device_id, seq)``; a message already there is a duplicate and is
  not applied again (exactly-once in the database);
- ``events`` keeps one row per ``event_id``: best score with its payload and snapshot, latest
  phase, end time, person once known;
- ``devices`` gets ``last_seq``/``last_seen``/status/heartbeat;
- ``event_flow_work`` gets the events the flows must see (attendance, hazard alerts), so that
  work is never lost and never waited for (:mod:`hub.flows.event_work`).

After the commit, an :class:`~contracts.messages.AckMessage` with every committed seq of the
batch (duplicates included, so a redelivered message is released again) goes to the device's
``acks`` topic; the flows are only woken. Several ingest workers (``innsight hub ingest``)
share the subscription (MQTT 5 ``$share``) with the same exactly-once storage
(:mod:`hub.ingest.worker`).

One bad message never costs another (issue 14):

- A message the contract refuses (every :class:`~contracts.errors.ContractErrorCode`) becomes a
  dead letter; once that is committed it is acked with its seq in the ack's ``refused`` list
  (with the reason), so the edge drops it instead of re-sending it forever.
- A batch whose transaction fails is split in halves (bisection) until the message that fails
  is alone; the others are committed. A lone message that fails for a permanent reason is
  dead-lettered as ``apply_failed`` with the database's reason, and acked as refused.
- A failure of the database itself (after any failed transaction a ``SELECT 1`` on a fresh
  connection tells) is transient: nothing is acked or dead-lettered, the batch is kept in memory
  and retried with backoff (the edge re-sends it anyway after its timeout). A lone message that
  fails with a transient-looking error (SQLite's "database is locked") while the database
  answers is tried again, up to ``MAX_TRANSIENT_STRIKES`` times, before it is dead-lettered.
- No exception escapes: an unexpected one is logged and counted, and its messages are
  dead-lettered as ``ingest_error`` (and acked as refused).

Dead letters keep the evidence: the exact bytes received (first 64 KiB, with the whole size and
SHA-256), topic, reason, first and last time seen and how often; one row per distinct
(reason, topic, bytes). ``innsight_ingest_dead_letters_total{reason}`` counts every refusal, and
a device that produces more than ``alert_threshold`` of them in ``alert_window_s`` raises an
alert (a warning, ``innsight_ingest_dead_letter_alerts_total``, the ``on_dead_letter_alert``
callback).
"""

from hub.ingest.acks import ACK_PUBLISH_TIMEOUT_S
from hub.ingest.alarm import DeadLetterAlarm
from hub.ingest.applier import APPLY_FAILED, MAX_TRANSIENT_STRIKES
from hub.ingest.classify import INGEST_ERROR
from hub.ingest.errors import (
    IngestError,
    IngestNotConnectedError,
    PublishError,
    database_reason,
    is_transient,
    storable,
)
from hub.ingest.gaps import SeqGaps, seq_gaps
from hub.ingest.merge import SPOOF_VERDICT, merge_event, snapshot_key
from hub.ingest.metrics import IngestMetrics
from hub.ingest.service import (
    MAX_HELD_EVENTS,
    STOP_TIMEOUT_S,
    MqttIngest,
    OnDeadLetterAlert,
    OnDeviceOnline,
    OnEventsStored,
)
from hub.ingest.writer import DEAD_LETTER_MAX_BYTES

__all__ = [
    "ACK_PUBLISH_TIMEOUT_S",
    "APPLY_FAILED",
    "DEAD_LETTER_MAX_BYTES",
    "INGEST_ERROR",
    "MAX_HELD_EVENTS",
    "MAX_TRANSIENT_STRIKES",
    "SPOOF_VERDICT",
    "STOP_TIMEOUT_S",
    "DeadLetterAlarm",
    "IngestError",
    "IngestMetrics",
    "IngestNotConnectedError",
    "MqttIngest",
    "OnDeadLetterAlert",
    "OnDeviceOnline",
    "OnEventsStored",
    "PublishError",
    "SeqGaps",
    "database_reason",
    "is_transient",
    "merge_event",
    "seq_gaps",
    "snapshot_key",
    "storable",
]
