"""Room inspection I/O: reference photos per room type (object store + ``room_references``),
analyses (``room_analysis_logs``), and the room's status (``rooms.status``).

The comparison itself is :mod:`hub.vision.room_inspection` (pure).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import cv2
import numpy as np
from sqlmodel import col, select

from hub.db import SessionFactory
from hub.storage import ObjectStore, StorageError
from hub.tables import Room, RoomAnalysisLog, RoomReference
from hub.vision.room_inspection import Inspection, Region, RegionKind, inspect
from hub.vision.room_report import overall_status
from models.faces import Image

logger = logging.getLogger(__name__)

ANALYSIS_TYPE = "cleanliness"
ENGINE_ID = "orb-homography-ssim-v1"
REFERENCE_KEY = "rooms/reference/{room_type}-v{version}.png"
PHOTO_KEY = "rooms/inspections/{room_number}/{analysis}.jpg"
# rooms.status after an inspection: ready -> available, not ready -> cleaning, except for a room
# in use or out of service, which an inspection does not decide (the same rule as
# hub.flows.room.next_status, which the flow hook applies again when flows run).
READY_STATUS = "available"
NOT_READY_STATUS = "cleaning"
_KEEP = frozenset({"occupied", "maintenance", "out_of_order"})


def status_after(current: str, ready_for_guest: bool) -> str:
    """The room's status after an inspection (pure)."""
    if current in _KEEP:
        return current
    return READY_STATUS if ready_for_guest else NOT_READY_STATUS


def utcnow() -> datetime:
    return datetime.now(UTC)


class RoomError(LookupError):
    """A request the room service cannot answer; ``field`` and ``reason`` say why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class RoomNotFoundError(RoomError):
    pass


class ReferenceNotFoundError(RoomError):
    pass


class RoomStorageError(RuntimeError):
    """The object store failed while reading or writing a room photo."""


@dataclass(frozen=True, slots=True)
class ReferenceInfo:
    room_type: str
    version: int
    width: int
    height: int
    regions: list[Region]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AnalysisOutcome:
    analysis_id: int
    room_number: str
    room_type: str
    room_status: str
    reference_version: int
    inspection: Inspection
    analysed_at: datetime
    analysis_time_ms: float


@dataclass(frozen=True, slots=True)
class RoomStatusInfo:
    room_number: str
    room_type: str
    status: str
    reference_registered: bool
    last_analysis: RoomAnalysisLog | None


def regions_from_json(items: Sequence[dict[str, object]]) -> list[Region]:
    regions = []
    for item in items:
        regions.append(
            Region(
                name=str(item["name"]),
                kind=RegionKind(str(item["kind"])),
                x=float(str(item["x"])),
                y=float(str(item["y"])),
                w=float(str(item["w"])),
                h=float(str(item["h"])),
                max_changed_fraction=float(str(item["max_changed_fraction"])),
            )
        )
    return regions


def region_json(region: Region) -> dict[str, object]:
    data = asdict(region)
    data["kind"] = region.kind.value
    return data


def _png(image: Image) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise ValueError("could not encode the reference photo")
    return bytes(encoded.tobytes())


def _jpeg(image: Image) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise ValueError("could not encode the inspection photo")
    return bytes(encoded.tobytes())


class RoomService:
    def __init__(self, session_factory: SessionFactory, store: ObjectStore) -> None:
        self._session_factory = session_factory
        self._store = store
        self._references: dict[tuple[str, int], Image] = {}

    async def register_reference(
        self, room_type: str, image: Image, regions: Sequence[Region], *, actor: str
    ) -> ReferenceInfo:
        """Store (or replace) the reference photo and regions of ``room_type``."""
        if not regions:
            raise RoomError("regions", "give at least one region")
        names = [r.name for r in regions]
        if len(set(names)) != len(names):
            raise RoomError("regions", "region names must be unique")
        height, width = image.shape[:2]
        data = await asyncio.to_thread(_png, image)
        async with self._session_factory() as session:
            row = (
                await session.exec(
                    select(RoomReference).where(RoomReference.room_type == room_type)
                )
            ).first()
            version = 1 if row is None else row.version + 1
            key = REFERENCE_KEY.format(room_type=room_type, version=version)
            try:
                await asyncio.to_thread(self._store.put, key, data, "image/png")
            except StorageError as err:
                raise RoomStorageError(f"the reference photo could not be stored: {err}") from err
            now = utcnow()
            previous_key = row.object_key if row is not None else None
            if row is None:
                row = RoomReference(room_type=room_type, object_key=key, width=0, height=0)
            row.object_key = key
            row.width, row.height = width, height
            row.regions = [region_json(r) for r in regions]
            row.version = version
            row.created_by = actor
            row.updated_at = now
            session.add(row)
            await session.commit()
        if previous_key is not None and previous_key != key:
            try:
                await asyncio.to_thread(self._store.delete, previous_key)
            except StorageError as err:
                logger.warning("old reference %s not deleted: %s", previous_key, err)
        self._references = {k: v for k, v in self._references.items() if k[0] != room_type}
        self._references[(room_type, version)] = image
        return ReferenceInfo(room_type, version, width, height, list(regions), now)

    async def reference(self, room_type: str) -> ReferenceInfo:
        row = await self._reference_row(room_type)
        return ReferenceInfo(
            row.room_type,
            row.version,
            row.width,
            row.height,
            regions_from_json(row.regions),
            row.updated_at,
        )

    async def _reference_row(self, room_type: str) -> RoomReference:
        async with self._session_factory() as session:
            row = (
                await session.exec(
                    select(RoomReference).where(RoomReference.room_type == room_type)
                )
            ).first()
        if row is None:
            raise ReferenceNotFoundError(
                "room_type",
                f"no reference photo is registered for room type {room_type!r}; "
                f"register one with PUT /api/v1/cv/room/reference/{room_type}",
            )
        return row

    async def _reference_image(self, row: RoomReference) -> Image:
        cached = self._references.get((row.room_type, row.version))
        if cached is not None:
            return cached
        try:
            data = await asyncio.to_thread(self._store.get, row.object_key)
        except StorageError as err:
            raise RoomStorageError(
                f"the reference photo of {row.room_type!r} cannot be read: {err}"
            ) from err
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise RoomStorageError(f"the reference photo of {row.room_type!r} is corrupt")
        decoded: Image = np.ascontiguousarray(image, dtype=np.uint8)
        self._references = {k: v for k, v in self._references.items() if k[0] != row.room_type}
        self._references[(row.room_type, row.version)] = decoded
        return decoded

    async def _room(self, room_number: str) -> Room:
        async with self._session_factory() as session:
            room = (await session.exec(select(Room).where(Room.room_number == room_number))).first()
        if room is None:
            raise RoomNotFoundError("room_number", f"room {room_number!r} does not exist")
        return room

    async def analyze(
        self,
        room_number: str,
        photo: Image,
        *,
        keep_photo: bool = True,
        analyzed_by: str | None = None,
    ) -> AnalysisOutcome:
        """Inspect ``photo`` of ``room_number`` against its room type's reference; logs the
        analysis (with who sent it) and updates the room's status. ``keep_photo``: archive the
        photo in the object store."""
        started = time.perf_counter()
        room = await self._room(room_number)
        row = await self._reference_row(room.room_type)
        reference = await self._reference_image(row)
        regions = regions_from_json(row.regions)
        inspection = await asyncio.to_thread(inspect, reference, photo, regions)
        elapsed_ms = round((time.perf_counter() - started) * 1000.0, 1)
        now = utcnow()
        async with self._session_factory() as session:
            current = await session.get(Room, room.id)
            if current is None:
                raise RoomNotFoundError("room_number", f"room {room_number!r} does not exist")
            status = status_after(current.status, inspection.ready_for_guest)
            if status != current.status:
                current.status = status
                current.updated_at = now
                session.add(current)
            log = RoomAnalysisLog(
                room_id=current.id,
                analysis_type=ANALYSIS_TYPE,
                score=inspection.score,
                findings=_findings(inspection, row.version, elapsed_ms),
                model_id=ENGINE_ID,
                room_number=room_number,
                ready_for_guest=inspection.ready_for_guest,
                tags=list(inspection.tags),
                analysed_at=now,
                analyzed_by=analyzed_by,
            )
            session.add(log)
            await session.commit()
            analysis_id = int(log.id or 0)
        if keep_photo:
            key = PHOTO_KEY.format(room_number=room_number, analysis=analysis_id)
            try:
                data = await asyncio.to_thread(_jpeg, photo)
                await asyncio.to_thread(self._store.put, key, data, "image/jpeg")
            except (StorageError, ValueError) as err:
                logger.warning("inspection photo %d not stored: %s", analysis_id, err)
            else:
                async with self._session_factory() as session:
                    stored = await session.get(RoomAnalysisLog, analysis_id)
                    if stored is not None:
                        stored.photo_key = key
                        session.add(stored)
                        await session.commit()
        logger.info(
            "room %s inspected: ready=%s tags=%s (%.0f ms)",
            room_number,
            inspection.ready_for_guest,
            ",".join(inspection.tags) or "-",
            elapsed_ms,
        )
        return AnalysisOutcome(
            analysis_id=analysis_id,
            room_number=room_number,
            room_type=room.room_type,
            room_status=status,
            reference_version=row.version,
            inspection=inspection,
            analysed_at=now,
            analysis_time_ms=elapsed_ms,
        )

    async def status(self, room_number: str) -> RoomStatusInfo:
        room = await self._room(room_number)
        async with self._session_factory() as session:
            last = (
                await session.exec(
                    select(RoomAnalysisLog)
                    .where(RoomAnalysisLog.room_id == room.id)
                    .order_by(
                        col(RoomAnalysisLog.analysed_at).desc(), col(RoomAnalysisLog.id).desc()
                    )
                    .limit(1)
                )
            ).first()
            reference = (
                await session.exec(
                    select(RoomReference.id).where(RoomReference.room_type == room.room_type)
                )
            ).first()
        return RoomStatusInfo(
            room.room_number, room.room_type, room.status, reference is not None, last
        )


def _findings(
    inspection: Inspection, reference_version: int, elapsed_ms: float
) -> dict[str, object]:
    return {
        "overall_status": overall_status(inspection),
        "reference_version": reference_version,
        "estimated_cleaning_minutes": inspection.estimated_cleaning_minutes,
        "alignment": asdict(inspection.alignment),
        "regions": [{**asdict(r), "kind": r.kind.value} for r in inspection.regions],
        "checklist": [asdict(c) for c in inspection.checklist],
        "notes": list(inspection.notes),
        "analysis_time_ms": elapsed_ms,
    }
