"""Frigate-shaped messages from committed event batches (hub/compat/frigate.py's mapping with
the little state Frigate's messages need: the previous ``after`` of each object for ``before``,
and the per-camera counts). No I/O: :mod:`hub.compat.bridge` feeds it and publishes."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from hub.compat import frigate
from hub.compat.active import HAZARDS, PERSON, STREAM_LOST, ActiveObjects, Key
from hub.compat.publication import Publication

# Objects whose last ``after`` is kept for the next ``before`` (the oldest are forgotten).
MAX_TRACKED = 10_000


class FrigateMirror:
    def __init__(self, prefix: str, active: ActiveObjects) -> None:
        self.prefix = prefix
        self._active = active
        self._last: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def available(self, online: bool) -> Publication:
        payload = b"online" if online else b"offline"
        return Publication(frigate.available_topic(self.prefix), payload, retain=True)

    def publications(
        self,
        rows: Iterable[Mapping[str, Any]],
        names: Mapping[str, str],
        changed: Iterable[Key],
    ) -> list[Publication]:
        """Messages for changed ``rows`` (``names``: person id -> the name that may be shown)
        and for the count ``changed`` keys (already folded into the active objects)."""
        out: list[Publication] = []
        for row in rows:
            if frigate.mirrored_label(row) is None:
                continue
            out.extend(self._event(row, names))
        out.extend(self.counts(changed))
        return out

    def counts(self, changed: Iterable[Key]) -> list[Publication]:
        """``{prefix}/{camera}/{label}`` and ``{prefix}/{camera}/all`` of the changed keys."""
        out: list[Publication] = []
        cameras: set[str] = set()
        for _device, camera, label in sorted(changed):
            if label in ("", STREAM_LOST):
                continue
            cameras.add(camera)
            count = self._active.count(None, camera, label)
            out.append(self._count(camera, label, count))
        for camera in sorted(cameras):
            total = sum(self._active.count(None, camera, label) for label in (PERSON, *HAZARDS))
            out.append(self._count(camera, frigate.ALL, total))
        return out

    def _count(self, camera: str, label: str, count: int) -> Publication:
        topic = frigate.count_topic(self.prefix, camera, label)
        return Publication(topic, str(count).encode())

    def _event(self, row: Mapping[str, Any], names: Mapping[str, str]) -> list[Publication]:
        event_id = str(row["event_id"])
        person = row.get("person_id")
        name = names.get(str(person)) if frigate.is_face(row) and person is not None else None
        if row.get("liveness") == "spoof":
            name = None
        score = float(row.get("score") or 0.0)
        after = frigate.tracked_object(row, (name, score) if name is not None else None)
        before = self._last.pop(event_id, None)
        kind = frigate.event_type(row, before is not None)
        out = [
            Publication(
                frigate.events_topic(self.prefix),
                frigate.dumps(frigate.event_message(kind, before, after)),
            )
        ]
        if name is not None and (before is None or before.get("sub_label") != after["sub_label"]):
            out.append(
                Publication(
                    frigate.tracked_object_topic(self.prefix),
                    frigate.dumps(frigate.face_update(row, name)),
                )
            )
        if kind != "end":
            self._last[event_id] = after
            while len(self._last) > MAX_TRACKED:
                self._last.popitem(last=False)
        return out
