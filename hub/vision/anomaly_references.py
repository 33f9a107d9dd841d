"""Per-camera scene configuration for ``/api/v1/cv/anomaly/detect``: the dry-floor reference
photo (object store) and the floor and restricted zones (``anomaly_references``).

Registered by an administrator with ``PUT /api/v1/cv/anomaly/reference/{camera_id}``; the
comparison itself is :mod:`hub.vision.camera_scene` (pure).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import cv2
import numpy as np
from sqlmodel import select

from hub.db import SessionFactory
from hub.storage import ObjectStore, StorageError
from hub.tables import AnomalyReference
from hub.vision.camera_scene import FULL_FRAME, Point, RestrictedZone
from models.faces import Image

logger = logging.getLogger(__name__)

REFERENCE_KEY = "anomalies/reference/{camera_id}-v{version}.png"


class SceneStorageError(RuntimeError):
    """The object store failed while reading or writing a reference photo."""


@dataclass(frozen=True, slots=True)
class CameraScene:
    camera_id: str
    version: int
    object_key: str | None
    width: int | None
    height: int | None
    floor_zone: tuple[Point, ...]
    restricted_zones: tuple[RestrictedZone, ...]
    updated_by: str | None
    updated_at: datetime

    @property
    def has_reference(self) -> bool:
        return self.object_key is not None


def _scene(row: AnomalyReference) -> CameraScene:
    return CameraScene(
        camera_id=row.camera_id,
        version=row.version,
        object_key=row.object_key,
        width=row.width,
        height=row.height,
        floor_zone=tuple((float(p[0]), float(p[1])) for p in row.floor_zone) or FULL_FRAME,
        restricted_zones=tuple(
            RestrictedZone(str(z["name"]), tuple((float(p[0]), float(p[1])) for p in z["polygon"]))
            for z in row.restricted_zones
        ),
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


def _png(image: Image) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise ValueError("could not encode the reference photo")
    return bytes(encoded.tobytes())


class CameraScenes:
    def __init__(self, session_factory: SessionFactory, store: ObjectStore) -> None:
        self._session_factory = session_factory
        self._store = store
        self._images: dict[tuple[str, int], Image] = {}

    async def _row(self, camera_id: str) -> AnomalyReference | None:
        async with self._session_factory() as session:
            return (
                await session.exec(
                    select(AnomalyReference).where(AnomalyReference.camera_id == camera_id)
                )
            ).first()

    async def get(self, camera_id: str) -> CameraScene | None:
        row = await self._row(camera_id)
        return _scene(row) if row is not None else None

    async def put(
        self,
        camera_id: str,
        image: Image | None,
        *,
        floor_zone: Sequence[Point],
        restricted_zones: Sequence[RestrictedZone],
        actor: str,
    ) -> CameraScene:
        """Register (or replace, as a whole) the scene of ``camera_id``."""
        row = await self._row(camera_id)
        version = 1 if row is None else row.version + 1
        previous_key = row.object_key if row is not None else None
        key: str | None = None
        if image is not None:
            key = REFERENCE_KEY.format(camera_id=camera_id, version=version)
            data = await asyncio.to_thread(_png, image)
            try:
                await asyncio.to_thread(self._store.put, key, data, "image/png")
            except StorageError as err:
                raise SceneStorageError(f"the reference photo could not be stored: {err}") from err
        async with self._session_factory() as session:
            current = (
                await session.exec(
                    select(AnomalyReference).where(AnomalyReference.camera_id == camera_id)
                )
            ).first()
            if current is None:
                current = AnomalyReference(camera_id=camera_id)
            current.object_key = key
            current.width = int(image.shape[1]) if image is not None else None
            current.height = int(image.shape[0]) if image is not None else None
            current.floor_zone = [[x, y] for x, y in floor_zone]
            current.restricted_zones = [
                {"name": z.name, "polygon": [[x, y] for x, y in z.polygon]}
                for z in restricted_zones
            ]
            current.version = version
            current.updated_by = actor
            current.updated_at = datetime.now(UTC)
            session.add(current)
            await session.commit()
            await session.refresh(current)
            scene = _scene(current)
        if previous_key is not None and previous_key != key:
            try:
                await asyncio.to_thread(self._store.delete, previous_key)
            except StorageError as err:
                logger.warning("old reference %s not deleted: %s", previous_key, err)
        self._images = {k: v for k, v in self._images.items() if k[0] != camera_id}
        if image is not None:
            self._images[(camera_id, version)] = image
        return scene

    async def delete(self, camera_id: str) -> CameraScene | None:
        """Forget the scene of ``camera_id`` (and its photo); ``None`` when there was none."""
        async with self._session_factory() as session:
            row = (
                await session.exec(
                    select(AnomalyReference).where(AnomalyReference.camera_id == camera_id)
                )
            ).first()
            if row is None:
                return None
            scene = _scene(row)
            await session.delete(row)
            await session.commit()
        if scene.object_key is not None:
            try:
                await asyncio.to_thread(self._store.delete, scene.object_key)
            except StorageError as err:
                logger.warning("reference %s not deleted: %s", scene.object_key, err)
        self._images = {k: v for k, v in self._images.items() if k[0] != camera_id}
        return scene

    async def reference_image(self, scene: CameraScene) -> Image | None:
        """The dry-floor photo of ``scene`` (cached per version); ``None`` when it has none."""
        if scene.object_key is None:
            return None
        cached = self._images.get((scene.camera_id, scene.version))
        if cached is not None:
            return cached
        try:
            data = await asyncio.to_thread(self._store.get, scene.object_key)
        except (StorageError, LookupError) as err:
            raise SceneStorageError(
                f"the reference photo of camera {scene.camera_id!r} cannot be read: {err}"
            ) from err
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if decoded is None:
            raise SceneStorageError(f"the reference photo of camera {scene.camera_id!r} is corrupt")
        image: Image = np.ascontiguousarray(decoded, dtype=np.uint8)
        self._images = {k: v for k, v in self._images.items() if k[0] != scene.camera_id}
        self._images[(scene.camera_id, scene.version)] = image
        return image
