"""Pure mapping from the hub's stored ``events`` rows to Frigate's MQTT messages.

Frigate (docs/integrations/mqtt.md) publishes, under its topic prefix:

- ``{prefix}/events``: ``{"type": "new"|"update"|"end", "before": {...}, "after": {...}}`` per
  changed tracked object, the same ``id`` through its life;
- ``{prefix}/tracked_object_update``: ``{"type": "face", "id", "name", "score", "camera",
  "timestamp"}`` when a face is recognised;
- ``{prefix}/available``: ``online`` / ``offline`` (retained; the last will says offline);
- ``{prefix}/{camera}/{label}``: how many objects of that label the camera sees now, and
  ``{prefix}/{camera}/all`` for every label.

A face maps to label ``person`` (``sub_label`` ``[name, score]`` only when the caller passes a
name: the consent check is the caller's), a hazard to its type (``fire``, ``smoke``, ``water``,
``intrusion``, ``fall``). Scores are the hub's best score of the appearance (a face's match
similarity, a hazard's detection score); ``box`` and ``region`` are ``[x1, y1, x2, y2]`` pixels.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from hub.compat.active import PERSON, SPOOF, STREAM_LOST, label_of

EventType = Literal["new", "update", "end"]
ALL = "all"


def events_topic(prefix: str) -> str:
    return f"{prefix}/events"


def available_topic(prefix: str) -> str:
    return f"{prefix}/available"


def tracked_object_topic(prefix: str) -> str:
    return f"{prefix}/tracked_object_update"


def count_topic(prefix: str, camera: str, label: str) -> str:
    return f"{prefix}/{camera}/{label}"


def mirrored_label(row: Mapping[str, Any]) -> str | None:
    """The Frigate label of a row, ``None`` for what Frigate has no object for (streams)."""
    label = label_of(row)
    return None if label in (None, STREAM_LOST) else label


def _ts(value: datetime | None) -> float | None:
    return None if value is None else round(value.timestamp(), 6)


def box_of(payload: Mapping[str, Any]) -> list[int] | None:
    """``[x1, y1, x2, y2]`` of the payload's ``bbox`` (x, y, w, h)."""
    bbox = payload.get("bbox")
    if not isinstance(bbox, Mapping):
        return None
    x, y, w, h = (int(bbox[k]) for k in ("x", "y", "w", "h"))
    return [x, y, x + w, y + h]


def tracked_object(row: Mapping[str, Any], sub_label: tuple[str, float] | None) -> dict[str, Any]:
    """The ``before``/``after`` object of a stored event row (see the module docstring)."""
    payload: Mapping[str, Any] = row.get("payload") or {}
    box = box_of(payload)
    area = (box[2] - box[0]) * (box[3] - box[1]) if box else 0
    ratio = round((box[2] - box[0]) / (box[3] - box[1]), 6) if box else 0.0
    best = row.get("score")
    score = float(best if best is not None else payload.get("score") or 0.0)
    frame_time = _ts(row.get("ended_at") or row.get("updated_at") or row.get("started_at"))
    zone = payload.get("zone")
    zones = [zone] if isinstance(zone, str) else []
    has_snapshot = row.get("snapshot_key") is not None
    return {
        "id": str(row["event_id"]),
        "camera": str(row["camera_id"]),
        "frame_time": frame_time,
        "snapshot": (
            {
                "frame_time": frame_time,
                "box": box,
                "area": area,
                "region": box,
                "score": score,
                "attributes": [],
            }
            if has_snapshot
            else None
        ),
        "label": mirrored_label(row),
        "sub_label": [sub_label[0], round(sub_label[1], 4)] if sub_label else None,
        "top_score": score,
        "false_positive": row.get("liveness") == SPOOF,
        "start_time": _ts(row.get("started_at")),
        "end_time": _ts(row.get("ended_at")) if row.get("phase") == "end" else None,
        "score": score,
        "box": box,
        "area": area,
        "ratio": ratio,
        "region": box,
        "active": row.get("phase") != "end",
        "stationary": False,
        "motionless_count": 0,
        "position_changes": 0,
        "current_zones": zones,
        "entered_zones": zones,
        "has_clip": False,
        "has_snapshot": has_snapshot,
        "attributes": {},
        "current_attributes": [],
    }


def event_type(row: Mapping[str, Any], seen_before: bool) -> EventType:
    """``end`` once the appearance ended; ``new`` the first time the mirror sees it."""
    if row.get("phase") == "end":
        return "end"
    return "update" if seen_before else "new"


def event_message(
    kind: EventType, before: Mapping[str, Any] | None, after: Mapping[str, Any]
) -> dict[str, Any]:
    """A ``{prefix}/events`` message; ``before`` is ``after`` for an object seen first."""
    return {"type": kind, "before": dict(before or after), "after": dict(after)}


def face_update(row: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A ``{prefix}/tracked_object_update`` message of a recognised face."""
    score = row.get("score")
    return {
        "type": "face",
        "id": str(row["event_id"]),
        "name": name,
        "score": round(float(score), 4) if score is not None else None,
        "camera": str(row["camera_id"]),
        "timestamp": _ts(row.get("updated_at") or row.get("started_at")),
    }


def is_face(row: Mapping[str, Any]) -> bool:
    return mirrored_label(row) == PERSON


def dumps(message: Mapping[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
