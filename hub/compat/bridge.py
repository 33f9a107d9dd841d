"""The Frigate mirror and Home Assistant discovery over the hub's stored events (issue 19 items
2 and 3): one service, fed after the ingest's commit, publishing through its own connection.

- :meth:`CompatBridge.events_stored` is the ingest's after-commit callback: it only queues the
  rows (never a database read or a publish on the commit-and-ack path); a background task maps
  them (names only where consent covers it, :mod:`hub.compat.names`) and hands the messages to
  :class:`~hub.compat.link.CompatLink`.
- Discovery is reconciled against the ``devices`` table: at connect, on Home Assistant's birth
  message, when events name a device or camera not announced yet, and every ``ha_rescan_s``
  (revocation happens in the provisioning CLI, another process: the rescan is what notices it
  and removes the device's configs and states with empty retained messages).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import select

from hub.compat import ha_discovery as ha
from hub.compat.active import PERSON, SPOOF, ActiveObjects, Key, label_of
from hub.compat.frigate_mirror import FrigateMirror
from hub.compat.link import CompatLink
from hub.compat.names import allowed_names, parse_purposes
from hub.compat.publication import Publication
from hub.db import SessionFactory
from hub.settings import HubSettings
from hub.tables import Device

logger = logging.getLogger(__name__)

# Committed batches waiting for the mapper; beyond this a batch is skipped (logged).
MAX_PENDING_BATCHES = 1000


class CompatBridge:
    def __init__(
        self, settings: HubSettings, session_factory: SessionFactory, *, sw_version: str
    ) -> None:
        self._settings = settings
        self._session_factory = session_factory
        self._purposes = parse_purposes(settings.compat_name_purposes)
        self.active = ActiveObjects(settings.compat_active_timeout_s)
        self.frigate = (
            FrigateMirror(settings.frigate_topic_prefix, self.active)
            if settings.frigate_enabled
            else None
        )
        self.naming = (
            ha.HaNaming(
                settings.ha_discovery_prefix,
                settings.ha_state_prefix,
                settings.site,
                sw_version,
                settings.ha_last_employee,
            )
            if settings.ha_discovery_enabled
            else None
        )
        self._queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue(MAX_PENDING_BATCHES)
        self._rescan_wake = asyncio.Event()
        # device -> {config topic: payload} announced; revoked devices already cleared
        self._announced: dict[str, dict[str, bytes]] = {}
        self._cleared: set[str] = set()
        self._revoked: set[str] = set()
        self._event_cameras: dict[str, set[str]] = {}
        self._last_employee: dict[tuple[str, str], tuple[str, str]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.skipped_batches = 0
        self.link = CompatLink(
            settings,
            client_id=f"{settings.mqtt_client_id}-compat",
            will=self.frigate.available(False) if self.frigate is not None else None,
            subscriptions=[ha.birth_topic(self.naming)] if self.naming is not None else [],
            on_connected=self._on_connected,
            on_message=self._on_message,
        )

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        await self.link.start()
        self._tasks = [
            asyncio.create_task(self._work(), name="hub-compat-map"),
            asyncio.create_task(self._rescan_loop(), name="hub-compat-rescan"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        final = [self.frigate.available(False)] if self.frigate is not None else []
        await self.link.stop(final)

    # -- the ingest's after-commit callback -------------------------------------------------

    async def events_stored(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Queue a committed batch's changed rows; returns at once."""
        try:
            self._queue.put_nowait([dict(row) for row in events])
        except asyncio.QueueFull:
            self.skipped_batches += 1
            logger.warning("compat: mapper behind, %d batches skipped", self.skipped_batches)

    async def _work(self) -> None:
        while True:
            rows = await self._queue.get()
            while not self._queue.empty():
                rows.extend(self._queue.get_nowait())
            try:
                self.link.send(await self.map_rows(rows))
            except Exception:  # the next batch goes on; nothing here touches stored data
                logger.exception("compat: mapping %d event rows failed", len(rows))

    async def map_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[Publication]:
        """The messages of changed event rows (and the count and state changes they make)."""
        people = {
            str(row["person_id"])
            for row in rows
            if label_of(row) == PERSON
            and row.get("person_id") is not None
            and row.get("liveness") != SPOOF
        }
        wants_names = self.frigate is not None or (
            self.naming is not None and self.naming.last_employee
        )
        names: dict[str, str] = {}
        if people and wants_names:
            names = await allowed_names(
                self._session_factory, people, self._purposes, self._settings.compat_sub_label
            )
        changed = self.active.apply(rows, time.monotonic())
        out: list[Publication] = []
        if self.frigate is not None:
            out.extend(self.frigate.publications(rows, names, changed))
        if self.naming is not None:
            out.extend(self._states(rows, names, changed))
        return out

    # -- Home Assistant states ----------------------------------------------------------------

    def _states(
        self, rows: Sequence[Mapping[str, Any]], names: Mapping[str, str], changed: set[Key]
    ) -> list[Publication]:
        touched = {(d, c) for d, c, _label in changed}
        new_camera = False
        for row in rows:
            device, camera = str(row["device_id"]), str(row["camera_id"])
            touched.add((device, camera))
            cameras = self._event_cameras.setdefault(device, set())
            if camera not in cameras:
                cameras.add(camera)
                new_camera = True
            person = row.get("person_id")
            name = names.get(str(person)) if person is not None else None
            if name is not None and label_of(row) == PERSON and row.get("liveness") != SPOOF:
                at = row.get("updated_at") or row.get("started_at")
                when = at.isoformat() if isinstance(at, datetime) else None
                self._last_employee[(device, camera)] = (name, when or "")
        if new_camera:
            self._rescan_wake.set()
        return [self._state(d, c) for d, c in sorted(touched) if d not in self._revoked]

    def _state(self, device: str, camera: str) -> Publication:
        naming = self._require_naming()
        last = self._last_employee.get((device, camera)) if naming.last_employee else None
        state = ha.camera_state(self.active, device, camera, last)
        return Publication(
            ha.camera_state_topic(naming, device, camera), ha.dumps(state), retain=True
        )

    def _require_naming(self) -> ha.HaNaming:
        if self.naming is None:
            raise RuntimeError("Home Assistant discovery is off")
        return self.naming

    # -- discovery ----------------------------------------------------------------------------

    async def _rescan_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._rescan_wake.wait(), self._settings.ha_rescan_s)
            self._rescan_wake.clear()
            try:
                out = self._expired()
                if self.naming is not None and self.link.connected:
                    out.extend(await self.discovery(force=False))
                self.link.send(out)
            except Exception:
                logger.exception("compat: discovery rescan failed")

    def _expired(self) -> list[Publication]:
        changed = self.active.expire(time.monotonic())
        if not changed:
            return []
        out = self.frigate.counts(changed) if self.frigate is not None else []
        if self.naming is not None:
            cameras = {(d, c) for d, c, _label in changed}
            out.extend(self._state(d, c) for d, c in sorted(cameras) if d not in self._revoked)
        return out

    async def discovery(self, *, force: bool) -> list[Publication]:
        """Discovery messages that make Home Assistant match the ``devices`` table: configs of
        devices not revoked (all of them when ``force``), empty retained configs and states of
        revoked ones."""
        naming = self.naming
        if naming is None:
            return []
        async with self._session_factory() as session:
            devices = (
                await session.exec(select(Device).where(Device.site == self._settings.site))
            ).all()
        out: list[Publication] = []
        for device in devices:
            device_id = device.device_id
            cameras = (
                set(device.cameras or [])
                | ha.heartbeat_cameras(device.last_heartbeat)
                | self._event_cameras.get(device_id, set())
            )
            if device.revoked_at is not None:
                self._revoked.add(device_id)
                if device_id not in self._cleared:
                    out.extend(self._removal(naming, device_id, cameras))
                    self._cleared.add(device_id)
                continue
            self._revoked.discard(device_id)
            self._cleared.discard(device_id)
            configs = {
                topic: ha.dumps(payload)
                for topic, payload in ha.device_configs(naming, device_id, cameras).items()
            }
            before = {} if force else self._announced.get(device_id, {})
            out.extend(
                Publication(topic, payload, retain=True)
                for topic, payload in configs.items()
                if before.get(topic) != payload
            )
            self._announced[device_id] = configs
            if force:
                out.extend(self._state(device_id, camera) for camera in sorted(cameras))
        return out

    def _removal(self, naming: ha.HaNaming, device: str, cameras: set[str]) -> list[Publication]:
        topics = set(self._announced.pop(device, {}))
        topics |= set(ha.device_configs(naming, device, cameras))
        topics |= {ha.camera_state_topic(naming, device, camera) for camera in cameras}
        logger.info("compat: device %s revoked; removing it from Home Assistant", device)
        return [Publication(topic, b"", retain=True) for topic in sorted(topics)]

    # -- the link's callbacks -------------------------------------------------------------------

    async def _on_connected(self) -> list[Publication]:
        out = [self.frigate.available(True)] if self.frigate is not None else []
        out.extend(await self.discovery(force=True))
        return out

    async def _on_message(self, topic: str, payload: bytes) -> None:
        naming = self.naming
        if naming is not None and topic == ha.birth_topic(naming) and payload.strip() == b"online":
            logger.info("compat: Home Assistant came online; re-announcing discovery")
            self.link.send(await self.discovery(force=True))
