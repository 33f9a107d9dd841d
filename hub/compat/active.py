"""What is in view right now, from the stored ``events`` rows: the open appearances per device,
camera and label (a face is a ``person``, a hazard its type, a lost stream ``stream_lost``).

Pure and in memory: the Frigate mirror's per-camera counts and the Home Assistant states read
it. An appearance closes at its ``end``; one whose edge never sent the end (it died) is dropped
after ``timeout_s`` without news.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

PERSON = "person"
STREAM_LOST = "stream_lost"
SPOOF = "spoof"
HAZARDS = ("fire", "smoke", "water", "intrusion", "fall")

# (device, camera, label)
Key = tuple[str, str, str]


def label_of(row: Mapping[str, Any]) -> str | None:
    """The object label of an event row: ``person`` for a face, the hazard's type for an
    anomaly, ``stream_lost`` for a camera whose stream went; ``None`` for anything else."""
    kind = row.get("kind")
    payload = row.get("payload") or {}
    if kind == "face":
        return PERSON
    if kind == "anomaly":
        hazard = payload.get("type")
        return hazard if hazard in HAZARDS else None
    if kind == "camera" and payload.get("state") == "lost":
        return STREAM_LOST
    return None


def is_open(row: Mapping[str, Any]) -> bool:
    """Whether the appearance is still going on (a spoofed face never counts)."""
    if row.get("phase") == "end" or row.get("liveness") == SPOOF:
        return False
    return label_of(row) is not None


@dataclass
class ActiveObjects:
    timeout_s: float
    # event id -> (key, last news, monotonic seconds)
    _open: dict[str, tuple[Key, float]] = field(default_factory=dict)

    def apply(self, rows: Iterable[Mapping[str, Any]], now: float) -> set[Key]:
        """Fold changed rows in; returns the keys whose count changed."""
        before = self._counts()
        for row in rows:
            event_id = str(row["event_id"])
            key = (str(row["device_id"]), str(row["camera_id"]), label_of(row) or "")
            if row.get("kind") == "camera" and label_of(row) is None:
                # the stream is back: every open loss of that camera ends
                self._close(key[0], key[1])
                continue
            if is_open(row):
                self._open[event_id] = (key, now)
            else:
                self._open.pop(event_id, None)
        self.expire(now)
        return _changed(before, self._counts())

    def expire(self, now: float) -> set[Key]:
        """Drop appearances without news for ``timeout_s``; returns the keys that changed."""
        before = self._counts()
        stale = [i for i, (_key, at) in self._open.items() if now - at > self.timeout_s]
        for event_id in stale:
            del self._open[event_id]
        return _changed(before, self._counts()) if stale else set()

    def count(self, device: str | None, camera: str, label: str) -> int:
        """Open appearances of ``label`` on ``camera`` (of ``device``; of any device: None)."""
        return sum(
            1
            for (d, c, lab), _at in self._open.values()
            if c == camera and lab == label and (device is None or d == device)
        )

    def cameras(self, device: str) -> set[str]:
        return {c for (d, c, _lab), _at in self._open.values() if d == device}

    def _close(self, device: str, camera: str) -> None:
        for event_id in [i for i, (k, _at) in self._open.items() if k[:2] == (device, camera)]:
            del self._open[event_id]

    def _counts(self) -> dict[Key, int]:
        counts: dict[Key, int] = {}
        for key, _at in self._open.values():
            counts[key] = counts.get(key, 0) + 1
        return counts


def _changed(before: Mapping[Key, int], after: Mapping[Key, int]) -> set[Key]:
    return {key for key in set(before) | set(after) if before.get(key) != after.get(key)}
