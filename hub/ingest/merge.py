"""The pure merge of one event message into its ``events`` row (one row per ``event_id``:
best score with its payload and snapshot, latest phase, end time, person once known)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from contracts.messages import EventEnvelope, Phase


def snapshot_key(device_id: str, event_id: uuid.UUID) -> str:
    return f"snapshots/{device_id}/{event_id}.jpg"


SPOOF_VERDICT = "spoof"


def merge_event(
    state: dict[str, Any] | None, envelope: EventEnvelope, now: datetime
) -> tuple[dict[str, Any], bytes | None]:
    """Fold one (not yet applied) message into an ``events`` row.

    Returns the new row as a dict of column values and the inline snapshot bytes to store
    under the row's ``snapshot_key`` (``None`` when nothing is to be written).
    """
    payload = envelope.payload
    score: float | None = getattr(payload, "score", None)
    person_id: str | None = getattr(payload, "person_id", None)
    if state is None:
        row: dict[str, Any] = {
            "event_id": envelope.event_id,
            "device_id": envelope.device_id,
            "seq": envelope.seq,
            "last_seq": envelope.seq,
            "camera_id": envelope.camera_id,
            "kind": envelope.kind.value,
            "phase": envelope.phase.value,
            "started_at": envelope.started_at,
            "ended_at": envelope.ended_at,
            "person_id": None,
            "score": None,
            "liveness": None,
            "liveness_score": None,
            "payload": {},
            "snapshot_key": None,
            "messages": 0,
            "received_at": now,
            "updated_at": now,
        }
        is_best = True
    else:
        row = dict(state)
        best = row["score"]
        # Camera events carry no score: their latest message is the best.
        is_best = envelope.seq > row["last_seq"] if score is None else best is None or score > best
    newest = envelope.seq >= row["last_seq"]

    row["seq"] = min(row["seq"], envelope.seq)
    row["last_seq"] = max(row["last_seq"], envelope.seq)
    row["started_at"] = min(row["started_at"], envelope.started_at)
    if row["phase"] != Phase.END.value and (newest or envelope.phase is Phase.END):
        row["phase"] = envelope.phase.value
    if envelope.phase is Phase.END or (row["ended_at"] is None and envelope.ended_at):
        row["ended_at"] = envelope.ended_at
    liveness = getattr(payload, "liveness", None)
    verdict = liveness.value if liveness is not None else None
    if is_best:
        row["score"] = score
        row["payload"] = payload.model_dump(mode="json")
        if row["liveness"] != SPOOF_VERDICT:
            row["liveness"] = verdict
            row["liveness_score"] = getattr(payload, "liveness_score", None)
    if verdict == SPOOF_VERDICT:
        # A spoof verdict is sticky, whatever the message's score: a track that turned out to be
        # a photo or a screen must never keep the `live` of an earlier, better-scoring message
        # (attendance retracts its check-in on this, issue 17).
        row["liveness"] = SPOOF_VERDICT
        row["liveness_score"] = getattr(payload, "liveness_score", None)
    if person_id is not None and (is_best or row["person_id"] is None):
        row["person_id"] = person_id

    snapshot_bytes: bytes | None = None
    snapshot = envelope.snapshot
    if snapshot is not None and (is_best or row["snapshot_key"] is None):
        if snapshot.ref is not None:
            row["snapshot_key"] = snapshot.ref
        else:
            snapshot_bytes = snapshot.jpeg_bytes()
            row["snapshot_key"] = snapshot_key(envelope.device_id, envelope.event_id)
    row["messages"] += 1
    row["updated_at"] = now
    return row, snapshot_bytes


EVENT_COLUMNS = [
    "event_id",
    "device_id",
    "seq",
    "last_seq",
    "camera_id",
    "kind",
    "phase",
    "started_at",
    "ended_at",
    "person_id",
    "score",
    "liveness",
    "liveness_score",
    "payload",
    "snapshot_key",
    "messages",
    "received_at",
    "updated_at",
]
DEVICE_COLUMNS = [
    "device_id",
    "site",
    "status",
    "status_at",
    "last_seen",
    "last_seq",
    "gallery_version",
    "last_heartbeat",
    "created_at",
]
