"""Employee face enrolment and the versioned face gallery (DESIGN §2, §7).

Enrolment needs a recorded consent (hub/privacy/consent_store.py; 422 without one) and is strict
(issue 17 item 2): every photo must show one face (no other of comparable size) that passes the
edge's quality gate (hub/face_gate.py), and the photos must be of one person (every pair at or
above the match threshold), else the whole request is refused naming the image and the reason.
It turns the photos into ``employee_faces`` rows (quality score, unit-norm float32 embedding),
keeps each face's crop in the object store (``faces/{employee_id}/{face_id}.jpg``: templates can
be rebuilt for another embedding model), and warns when the new faces already match another
enrolled person (a likely duplicate identity). Removal deletes the rows and the crops. Every change
produces a new :class:`~contracts.messages.GallerySnapshot` built from the faces of active,
consenting employees embedded by one model (:func:`gallery_rows`, the one gallery query, also
used by hub/vision/faces.py); the artefact goes to the object store under
``galleries/{version}.json``, a ``gallery_versions`` row records its sha256, and a retained
:class:`~contracts.messages.GalleryVersion` is announced on every known device's
``gallery/version`` topic (and again to a device when it comes online).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import cv2
import numpy as np
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.messages import GalleryPerson, GallerySnapshot, GalleryVersion
from contracts.topics import Channel, device_topic
from hub import face_gate
from hub.cluster.state_versions import GALLERY as GALLERY_STATE
from hub.cluster.state_versions import bump_in
from hub.crypto import PiiDecryptError
from hub.db import SessionFactory
from hub.face_templates import TemplateProtector
from hub.gallery_models import (
    HUB_MODEL_ID,
    FaceEmbedders,
    FleetModel,
    fleet_models,
    register_model,
    registered,
)
from hub.ingest import IngestError
from hub.privacy.consent_store import active_consents
from hub.settings import HubSettings
from hub.storage import ObjectStore, StorageError
from hub.tables import Device, Employee, EmployeeFace, GalleryVersionRecord
from hub.vision.decode import ImageDecodeError, decode_image_b64
from models.faces import (
    DetectedFace,
    FaceAnalyzer,
    FaceBox,
    Image,
    ModelUnavailableError,
    ScalingFaceDetector,
)
from models.pixels import shrink_to

logger = logging.getLogger(__name__)

MAX_ENROLL_IMAGES = 10
DEFAULT_MATCH_THRESHOLD: float = HubSettings.model_fields["face_match_threshold"].default

GALLERY_URL_PATH = "/api/v1/cv/gallery/{version}"  # versions: one sequence over all models
# Enrolled face crops (kept so templates can be rebuilt for a new embedding model); deleted with
# the templates. The margin around the detector's box and the JPEG quality of the stored crop.
FACE_CROP_KEY = "faces/{employee_id}/{face_id}.jpg"
_CROP_MARGIN = 0.25
_CROP_JPEG_QUALITY = 90


def utcnow() -> datetime:
    return datetime.now(UTC)


class Publisher(Protocol):
    """What the gallery needs from the MQTT side (implemented by :class:`hub.ingest.MqttIngest`)."""

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None: ...


# ---------------------------------------------------------------------------------------------
# Errors (routes map them to HTTP answers)
# ---------------------------------------------------------------------------------------------


class GalleryError(RuntimeError):
    """The gallery could not be built or read."""


class GalleryNotFoundError(GalleryError, LookupError):
    """No gallery with that version (or none at all yet)."""


class EnrollmentError(ValueError):
    """A request the enrolment refuses; ``field`` and ``reason`` say what and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class EmployeeNotFoundError(EnrollmentError):
    def __init__(self, employee_id: str, reason: str) -> None:
        super().__init__("employee_id", reason)
        self.employee_id = employee_id


class ImageRejectedError(EnrollmentError):
    """One uploaded image is unusable. ``code``: not_base64 | too_large | unsupported_type |
    undecodable | too_small."""

    def __init__(self, index: int, code: str, reason: str) -> None:
        super().__init__(f"images[{index}]", reason)
        self.index = index
        self.code = code


class FaceRefusedError(EnrollmentError):
    """An image enrolment refuses. ``code``: no_face | several_faces | below_quality_gate |
    not_same_person."""

    def __init__(self, index: int, code: str, reason: str) -> None:
        super().__init__(f"images[{index}]", reason)
        self.index = index
        self.code = code


class ConsentMissingError(EnrollmentError):
    """No consent is recorded (or every one was withdrawn) for the person."""

    def __init__(self, employee_id: str) -> None:
        super().__init__(
            "consent",
            f"no face-processing consent is recorded for {employee_id!r}: record one with "
            "POST /api/v1/privacy/consents before enrolling faces",
        )
        self.employee_id = employee_id


# ---------------------------------------------------------------------------------------------
# Image decoding and faces (pure helpers)
# ---------------------------------------------------------------------------------------------


def decode_image(index: int, data_b64: str, *, max_bytes: int) -> Image:
    """Base64 (optionally a ``data:`` URL) -> BGR image, or :class:`ImageRejectedError`."""
    try:
        return decode_image_b64(data_b64, max_bytes=max_bytes, field=f"images[{index}]")
    except ImageDecodeError as err:
        raise ImageRejectedError(index, err.code, err.reason) from None


DETECT_MAX_SIDE = 1280
"""Photos larger than this (longest side, px) are searched for faces at this size; the boxes are
mapped back and the embedding is taken from the full-resolution photo. Keeps a 12-megapixel
phone photo from costing seconds (and a 40-megapixel one from exhausting memory) in HOG."""


def detect_faces(
    analyzer: FaceAnalyzer, image: Image, max_side: int = DETECT_MAX_SIDE
) -> list[DetectedFace]:
    """``analyzer.detect`` on ``image`` scaled down to ``max_side``, boxes in ``image``'s pixels.
    An analyzer that scales down by itself to at most ``max_side`` (``detect_max_side``, the
    BlazeFace backend's 640 px) gets the image as it is: one reduction, not two."""
    own = analyzer.detect_max_side if isinstance(analyzer, ScalingFaceDetector) else None
    if own is not None and own <= max_side:
        return analyzer.detect(image)
    height, width = image.shape[:2]
    small, scale = shrink_to(image, max_side)
    if scale >= 1.0:
        return analyzer.detect(image)
    found = analyzer.detect(np.ascontiguousarray(small, dtype=np.uint8))
    faces = []
    for face in found:
        b = face.box
        x, y = min(width - 1, int(b.x / scale)), min(height - 1, int(b.y / scale))
        w, h = min(width - x, round(b.w / scale)), min(height - y, round(b.h / scale))
        landmarks = None if face.landmarks is None else (face.landmarks / scale).astype(np.float32)
        faces.append(DetectedFace(FaceBox(x, y, w, h), face.score, landmarks))
    return faces


def face_crop_jpeg(image: Image, box: FaceBox, margin: float = _CROP_MARGIN) -> bytes:
    """The face with ``margin`` (a fraction of the box) around it, as JPEG bytes."""
    height, width = image.shape[:2]
    dx, dy = int(box.w * margin), int(box.h * margin)
    x0, y0 = max(box.x - dx, 0), max(box.y - dy, 0)
    x1, y1 = min(box.x + box.w + dx, width), min(box.y + box.h + dy, height)
    ok, encoded = cv2.imencode(
        ".jpg", image[y0:y1, x0:x1], [cv2.IMWRITE_JPEG_QUALITY, _CROP_JPEG_QUALITY]
    )
    if not ok:
        raise ValueError("could not encode the face crop")
    return bytes(encoded.tobytes())


def vector_id(face_id: int) -> str:
    """The stable public id of one stored template (``employee_faces.id`` 1 -> ``vec_001``)."""
    return f"vec_{face_id:03d}"


def face_crop_key(employee_id: str, face_id: int) -> str:
    return FACE_CROP_KEY.format(employee_id=employee_id, face_id=face_id)


def embedding_bytes(vector: np.ndarray) -> bytes:
    """float32 little-endian bytes of one embedding."""
    return np.asarray(vector, dtype="<f4").reshape(-1).tobytes()


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImageReport:
    """What enrolment made of one uploaded image: used or not, its face quality, and why."""

    index: int
    accepted: bool
    quality: float | None
    faces_found: int
    reason: str | None = None


@dataclass(slots=True)
class EnrollmentResult:
    employee_id: str
    faces_enrolled: int
    quality_scores: list[float]
    warnings: list[str]
    gallery: GalleryVersion | None
    employee_created: bool
    images: list[ImageReport] = field(default_factory=list)
    face_ids: list[int] = field(default_factory=list)  # the new templates' ids, image order


@dataclass(slots=True)
class RemovalResult:
    employee_id: str
    faces_deleted: int
    gallery: GalleryVersion | None
    crops_deleted: int = 0


@dataclass(frozen=True, slots=True)
class StoredFace:
    """One enrolled template as stored (biometric: only for the strictest scope)."""

    face_id: int
    model_id: str
    dim: int
    quality: float
    created_at: datetime
    embedding: list[float]


@dataclass(slots=True)
class _Prepared:
    embeddings: list[bytes] = field(default_factory=list)
    qualities: list[float] = field(default_factory=list)
    crops: list[bytes] = field(default_factory=list)
    images: list[ImageReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sources: list[tuple[Image, DetectedFace]] = field(default_factory=list)  # what was embedded


# ---------------------------------------------------------------------------------------------
# The service
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GalleryRow:
    employee_id: str
    name: str
    embedding: bytes  # float32 little-endian, ``dim`` values


async def gallery_rows(session: AsyncSession, model_id: str, dim: int) -> list[GalleryRow]:
    """The gallery: the templates of ``model_id`` of active employees with a recorded consent,
    by employee then template id. The one query behind the edges' artefact, the hub's matcher
    (hub/vision/faces.py) and the duplicate-identity check of enrolment."""
    query = (
        select(EmployeeFace.employee_id, EmployeeFace.embedding, Employee.name)
        .join(Employee, col(Employee.employee_id) == col(EmployeeFace.employee_id))
        .where(
            col(Employee.is_active).is_(True),
            col(Employee.face_consent_at).is_not(None),
            EmployeeFace.model_id == model_id,
            EmployeeFace.dim == dim,
        )
        .order_by(col(EmployeeFace.employee_id), col(EmployeeFace.id))
    )
    rows = []
    for employee_id, embedding, name in (await session.exec(query)).all():
        if len(embedding) != dim * 4:
            logger.warning("skipping a face of %s: stored size does not match dim", employee_id)
            continue
        rows.append(GalleryRow(employee_id, name, embedding))
    return rows


async def build_snapshot(
    session: AsyncSession, *, version: int, model_id: str, dim: int, created_at: datetime
) -> GallerySnapshot:
    """The gallery of active employees with recorded consent, for one embedding model."""
    grouped: dict[str, list[bytes]] = {}
    for row in await gallery_rows(session, model_id, dim):
        grouped.setdefault(row.employee_id, []).append(row.embedding)
    people = [
        GalleryPerson(
            person_id=employee_id, embeddings_b64=base64.b64encode(b"".join(blobs)).decode()
        )
        for employee_id, blobs in grouped.items()
    ]
    return GallerySnapshot(
        version=version, model_id=model_id, dim=dim, created_at=created_at, people=people
    )


class GalleryService:
    """Enrolment, revocation, gallery artefacts and their announcement."""

    def __init__(
        self,
        session_factory: SessionFactory,
        store: ObjectStore,
        *,
        site: str,
        public_base_url: str,
        max_image_bytes: int,
        publisher: Publisher | None = None,
        match_threshold: float = DEFAULT_MATCH_THRESHOLD,
        templates: TemplateProtector,
        configured_models: Sequence[str] = (),
        analyzer_source: Callable[[], Awaitable[FaceAnalyzer]] | None = None,
    ) -> None:
        """``configured_models``: face models to keep templates for besides the hub's own and
        those the edges report (settings ``gallery_face_models``); ``analyzer_source``: the
        hub's analyzer for back-fills (default: ``hub_face_analyzer`` loaded on first use)."""
        self.templates = templates  # site-keyed transform + sealing (hub/face_templates.py)
        self.hub_model_id = HUB_MODEL_ID  # set to the analyzer's model at the first enrolment
        self._configured = tuple(configured_models)
        self._analyzer_source = analyzer_source
        self._embedders: FaceEmbedders | None = None
        self._backfills: dict[str, asyncio.Task[object]] = {}
        self._match_threshold = match_threshold
        self._session_factory = session_factory
        self._store = store
        self._site = site
        self._base_url = public_base_url.rstrip("/")
        self._max_image_bytes = max_image_bytes
        self._publisher = publisher
        self._lock = asyncio.Lock()

    @property
    def session_factory(self) -> SessionFactory:
        return self._session_factory

    def set_analyzer_source(self, source: Callable[[], Awaitable[FaceAnalyzer]]) -> None:
        self._analyzer_source = source

    def start_configured_backfills(self) -> None:
        """Back-fill the configured models and resume the unfinished back-fills of reported
        ones (hub start; cheap when nothing is missing)."""
        for model_id in self._configured:
            if model_id != self.hub_model_id:
                self.start_backfill(model_id)

        async def resume() -> None:
            async with self._session_factory() as session:
                rows = await registered(session)
            for row in rows:
                if row.backfill_status in ("pending", "running"):
                    self.start_backfill(row.model_id)

        self._backfills["*resume"] = asyncio.get_running_loop().create_task(resume())

    def set_publisher(self, publisher: Publisher | None) -> None:
        self._publisher = publisher

    # -- reading -----------------------------------------------------------------------

    async def latest(self, model_id: str | None = None) -> GalleryVersionRecord | None:
        """The newest gallery of ``model_id`` (``None``: of any model). Versions are one
        sequence over all models, so each model's versions only grow."""
        async with self._session_factory() as session:
            query = select(GalleryVersionRecord)
            if model_id is not None:
                query = query.where(GalleryVersionRecord.model_id == model_id)
            query = query.order_by(col(GalleryVersionRecord.version).desc()).limit(1)
            return (await session.exec(query)).first()

    async def artefact(
        self, version: int | None, model_id: str | None = None
    ) -> tuple[GalleryVersionRecord, bytes]:
        """The stored snapshot bytes of ``version`` (``None``: the latest of ``model_id``, or
        of the hub's model); a ``version`` of another model than ``model_id`` is not found."""
        if version is None:
            record = await self.latest(model_id or self.hub_model_id)
            if record is None:
                raise GalleryNotFoundError(
                    f"no gallery of model {model_id or self.hub_model_id!r} has been published yet"
                )
        else:
            async with self._session_factory() as session:
                record = await session.get(GalleryVersionRecord, version)
            if record is None:
                raise GalleryNotFoundError(f"gallery version {version} does not exist")
            if model_id is not None and record.model_id != model_id:
                raise GalleryNotFoundError(
                    f"gallery version {version} is of model {record.model_id!r}, not {model_id!r}"
                )
        try:
            data = self.templates.open(await asyncio.to_thread(self._store.get, record.object_key))
        except (StorageError, PiiDecryptError) as err:
            raise GalleryError(
                f"gallery version {record.version} is recorded but its artefact "
                f"{record.object_key!r} cannot be read from the object store: {err}"
            ) from err
        return record, data

    def announcement(self, record: GalleryVersionRecord) -> GalleryVersion:
        return GalleryVersion(
            version=record.version,
            sha256=record.sha256,
            url=self._base_url + GALLERY_URL_PATH.format(version=record.version),
            model_id=record.model_id,
            people=record.people,
        )

    # -- publishing ----------------------------------------------------------------------

    async def publish_new_version(self, model_id: str, dim: int) -> GalleryVersion:
        """Build, store, record and announce a new gallery version."""
        async with self._lock:
            announcement = await self._publish_locked(model_id, dim)
        await self.announce(announcement)
        return announcement

    async def _publish_models_locked(self, model_ids: Iterable[str]) -> dict[str, GalleryVersion]:
        """A new version of the gallery of every model in ``model_ids`` that has one or has
        templates (the dimension: the stored templates', else the last gallery's)."""
        published: dict[str, GalleryVersion] = {}
        for model_id in sorted(set(model_ids)):
            dim = await self._dim_of(model_id)
            if dim is not None:
                published[model_id] = await self._publish_locked(model_id, dim)
        return published

    async def _dim_of(self, model_id: str) -> int | None:
        async with self._session_factory() as session:
            dim = (
                await session.exec(
                    select(EmployeeFace.dim).where(EmployeeFace.model_id == model_id).limit(1)
                )
            ).first()
        if dim is not None:
            return int(dim)
        latest = await self.latest(model_id)
        return latest.dim if latest is not None else None

    async def _publish_locked(self, model_id: str, dim: int) -> GalleryVersion:
        created_at = utcnow()
        async with self._session_factory() as session:
            # first: replicas publish one at a time, and the others reload (hub/cluster/)
            await bump_in(session, GALLERY_STATE)
            current = (await session.exec(select(func.max(GalleryVersionRecord.version)))).one()
            version = int(current or 0) + 1
            snapshot = await build_snapshot(
                session, version=version, model_id=model_id, dim=dim, created_at=created_at
            )
            snapshot = snapshot.model_copy(
                update={"protection": self.templates.protection(model_id, dim)}
            )
            data = snapshot.to_json_bytes()
            digest = hashlib.sha256(data).hexdigest()
            key = f"galleries/{version}.json"
            sealed = self.templates.seal(data)  # served opened: the edges verify ``digest``
            await asyncio.to_thread(self._store.put, key, sealed, "application/octet-stream")
            record = GalleryVersionRecord(
                version=version,
                sha256=digest,
                object_key=key,
                model_id=model_id,
                dim=dim,
                people=len(snapshot.people),
                embeddings=_embedding_count(snapshot),
                size_bytes=len(data),
                created_at=created_at,
            )
            session.add(record)
            await session.commit()
        logger.info(
            "gallery version %d published (%s, %d people)", version, model_id, record.people
        )
        return self.announcement(record)

    async def announce(
        self, announcement: GalleryVersion, device_ids: Iterable[str] | None = None
    ) -> list[str]:
        """Publish ``announcement`` retained to each device (default: every known device of the
        site). Returns the devices it reached; failures are logged, never raised."""
        publisher = self._publisher
        if publisher is None:
            logger.info("no MQTT publisher: gallery version %d not announced", announcement.version)
            return []
        if device_ids is None:  # the devices that run the gallery's model
            async with self._session_factory() as session:
                found = await session.exec(
                    select(Device.device_id, Device.last_heartbeat).where(
                        Device.site == self._site,
                        Device.revoked_at.is_(None),  # type: ignore[union-attr]
                    )
                )
                device_ids = [
                    device_id
                    for device_id, beat in found.all()
                    if (face_model_of(beat) or self.hub_model_id) == announcement.model_id
                ]
        reached = []
        payload = announcement.to_json_bytes()
        for device_id in device_ids:
            topic = device_topic(self._site, device_id, Channel.GALLERY_VERSION)
            try:
                await publisher.publish(topic, payload, qos=1, retain=True)
            except IngestError as err:
                logger.warning("gallery version not announced to %s: %s", device_id, err)
                continue
            reached.append(device_id)
        return reached

    async def announce_latest_to(self, device_id: str) -> None:
        """Announce the newest gallery of the device's face model to it (called when it comes
        online and when its heartbeat reports another face model). A model the fleet did not
        run before is registered and its templates are back-filled from the kept crops."""
        async with self._session_factory() as session:
            device = await session.get(Device, device_id)
            model_id = face_model_of(device.last_heartbeat if device is not None else None)
            if model_id is not None and model_id not in await self.models(session):
                await register_model(session, model_id, "heartbeat")
                try:
                    await session.commit()
                except IntegrityError:  # another replica registered it first: its back-fill
                    await session.rollback()
                else:
                    logger.info("face model %s joined the fleet (device %s)", model_id, device_id)
                    self.start_backfill(model_id)
        record = await self.latest(model_id or self.hub_model_id)
        if record is not None:
            await self.announce(self.announcement(record), [device_id])

    # -- the fleet's models --------------------------------------------------------------

    async def models(self, session: AsyncSession | None = None) -> list[str]:
        """The face models the hub keeps templates for: its own, the configured ones and those
        edges reported (hub/gallery_models.py)."""
        if session is not None:
            return await fleet_models(session, self.hub_model_id, self._configured)
        async with self._session_factory() as own:
            return await fleet_models(own, self.hub_model_id, self._configured)

    async def model_states(self) -> list[FleetModel]:
        """Every fleet model with its templates, newest gallery and back-fill progress."""
        async with self._session_factory() as session:
            ids = await self.models(session)
            rows = {row.model_id: row for row in await registered(session)}
            counted = await session.exec(
                select(EmployeeFace.model_id, func.count()).group_by(col(EmployeeFace.model_id))
            )
            counts = {model_id: int(n) for model_id, n in counted.all()}
        states = []
        for model_id in ids:
            latest = await self.latest(model_id)
            row = rows.get(model_id)
            own = model_id == self.hub_model_id
            states.append(
                FleetModel(
                    model_id=model_id,
                    origin=row.origin if row is not None else ("hub" if own else "config"),
                    templates=counts.get(model_id, 0),
                    gallery_version=latest.version if latest is not None else None,
                    people=latest.people if latest is not None else None,
                    backfill_status=(
                        row.backfill_status if row is not None else ("done" if own else "pending")
                    ),
                    backfill_total=row.backfill_total if row is not None else 0,
                    backfill_done=row.backfill_done if row is not None else 0,
                    backfill_failed=row.backfill_failed if row is not None else 0,
                    backfill_error=row.backfill_error if row is not None else None,
                    backfill_updated_at=row.backfill_at if row is not None else None,
                )
            )
        return states

    async def embedders(self, analyzer: FaceAnalyzer | None = None) -> FaceEmbedders:
        """The embedders of every model, around the hub's analyzer (loaded when not given)."""
        if analyzer is None and self._embedders is not None:
            return self._embedders
        if analyzer is None:
            if self._analyzer_source is not None:
                analyzer = await self._analyzer_source()
            else:
                from models.face_blazeface import hub_face_analyzer

                analyzer = await asyncio.to_thread(hub_face_analyzer)
        if self._embedders is None or self._embedders.primary is not analyzer:
            self._embedders = FaceEmbedders(analyzer)
            self.hub_model_id = analyzer.model_id
        return self._embedders

    def start_backfill(self, model_id: str) -> None:
        """Back-fill ``model_id``'s templates in the background (one run per model at a time;
        hub/flows/gallery_backfill.py does the work)."""
        running = self._backfills.get(model_id)
        if running is not None and not running.done():
            return
        from hub.flows.gallery_backfill import backfill_model

        self._backfills[model_id] = asyncio.get_running_loop().create_task(
            backfill_model(self, model_id), name=f"gallery-backfill-{model_id}"
        )

    async def cancel_backfills(self) -> None:
        """Stop the running back-fills (hub shutdown); what they stored stays."""
        tasks = [task for task in self._backfills.values() if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_backfills(self) -> None:
        """Wait for the back-fills started so far (tests, shutdown)."""
        tasks = [task for task in self._backfills.values() if not task.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def record_templates(
        self,
        employee_id: str,
        crop_id: int,
        model_id: str,
        dim: int,
        blob: bytes,
        quality: float,
    ) -> bool:
        """Store one back-filled template (``blob`` already protected) of ``crop_id``'s crop;
        False when that crop's template was deleted meanwhile (nothing stored)."""
        async with self._lock, self._session_factory() as session:
            source = await session.get(EmployeeFace, crop_id)
            if source is None or source.employee_id != employee_id:
                return False
            session.add(
                EmployeeFace(
                    employee_id=employee_id,
                    embedding=blob,
                    dim=dim,
                    model_id=model_id,
                    quality=quality,
                    created_at=utcnow(),
                    template_key_id=self.templates.key_id,
                    crop_id=crop_id,
                )
            )
            await session.commit()
        return True

    async def read_crop(self, employee_id: str, crop_id: int) -> bytes:
        """The kept (sealed) enrolment crop, opened; raises :class:`StorageError`."""
        data = await asyncio.to_thread(self._store.get, face_crop_key(employee_id, crop_id))
        return self.templates.open(data)

    # -- enrolment -----------------------------------------------------------------------

    async def enroll(
        self,
        analyzer: FaceAnalyzer,
        *,
        employee_id: str,
        name: str | None,
        images_b64: Sequence[str],
        replace_existing: bool = False,
        department: str | None = None,
        position: str | None = None,
    ) -> EnrollmentResult:
        """Enrol faces for an employee (created when absent and ``name`` is given). ``name``,
        ``department`` and ``position``, when given, are stored on the employee (created or
        updated) in the same transaction as the templates.

        Raises :class:`ConsentMissingError`, :class:`EmployeeNotFoundError`,
        :class:`ImageRejectedError` or :class:`FaceRefusedError` (the first bad image, before
        anything is stored).
        """
        if not 1 <= len(images_b64) <= MAX_ENROLL_IMAGES:
            raise EnrollmentError("images", f"give 1 to {MAX_ENROLL_IMAGES} images")
        async with self._session_factory() as session:
            if not await active_consents(session, employee_id):
                raise ConsentMissingError(employee_id)
            existing = await _employee(session, employee_id)
        if existing is None and name is None:
            raise EmployeeNotFoundError(
                employee_id,
                f"employee {employee_id!r} does not exist; give a name to create it",
            )
        images = []
        for index, text in enumerate(images_b64):
            images.append(
                await asyncio.to_thread(decode_image, index, text, max_bytes=self._max_image_bytes)
            )
        prepared = await asyncio.to_thread(_prepare_faces, analyzer, images, self._match_threshold)
        # the same faces embedded by every other model of the fleet (hub/gallery_models.py)
        embedders = await self.embedders(analyzer)
        others = [m for m in await self.models() if m != analyzer.model_id]
        extra, skipped = await asyncio.to_thread(embed_other_models, embedders, others, prepared)
        prepared.warnings.extend(
            f"no {model_id} templates yet ({reason}); its back-fill makes them from the kept "
            "crops once the model is available"
            for model_id, reason in skipped.items()
        )
        # stored and compared only under the site's template key (hub/face_templates.py)
        key_id = self.templates.key_id
        prepared.embeddings = [
            self.templates.protect(analyzer.model_id, blob) for blob in prepared.embeddings
        ]
        protected = {
            model_id: (dim, [self.templates.protect(model_id, blob) for blob in blobs])
            for model_id, (dim, blobs) in extra.items()
        }

        async with self._lock:
            now = utcnow()
            async with self._session_factory() as session:
                consents = await active_consents(session, employee_id)
                if not consents:  # withdrawn meanwhile
                    raise ConsentMissingError(employee_id)
                prepared.warnings.extend(
                    await self._duplicates(session, analyzer, employee_id, prepared.embeddings)
                )
                employee = await _employee(session, employee_id)
                created = employee is None
                if employee is None:
                    if name is None:  # deleted meanwhile
                        raise EmployeeNotFoundError(
                            employee_id, f"employee {employee_id!r} does not exist"
                        )
                    employee = Employee(employee_id=employee_id, name=name)
                if name is not None:
                    employee.name = name
                if department is not None:
                    employee.department = department
                if position is not None:
                    employee.position = position
                if not employee.is_active:
                    prepared.warnings.append(
                        "the employee is inactive: faces are stored but left out of the gallery"
                    )
                employee.face_consent_at = consents[0].given_at
                employee.updated_at = now
                session.add(employee)
                replaced: list[int] = []
                touched = {analyzer.model_id, *protected}
                if replace_existing:
                    replaced = await _crop_ids(session, employee_id)
                    touched.update(await _model_ids(session, employee_id))
                    await session.exec(
                        delete(EmployeeFace).where(col(EmployeeFace.employee_id) == employee_id)
                    )
                rows = [
                    EmployeeFace(
                        employee_id=employee_id,
                        embedding=blob,
                        dim=analyzer.dim,
                        model_id=analyzer.model_id,
                        quality=quality,
                        created_at=now,
                        template_key_id=key_id,
                    )
                    for blob, quality in zip(prepared.embeddings, prepared.qualities, strict=True)
                ]
                session.add_all(rows)
                await session.flush()
                new_ids = [row.id for row in rows if row.id is not None]
                for row in rows:  # each primary template is its own crop's
                    row.crop_id = row.id
                for model_id, (dim, blobs) in protected.items():
                    session.add_all(
                        EmployeeFace(
                            employee_id=employee_id,
                            embedding=blob,
                            dim=dim,
                            model_id=model_id,
                            quality=quality,
                            created_at=now,
                            template_key_id=key_id,
                            crop_id=crop_id,
                        )
                        for blob, quality, crop_id in zip(
                            blobs, prepared.qualities, new_ids, strict=True
                        )
                    )
                await session.commit()
            announcements = await self._publish_models_locked(touched)
        announcement = announcements[analyzer.model_id]
        for published in announcements.values():
            await self.announce(published)
        await self._delete_crops(employee_id, replaced)
        stored = await self._store_crops(employee_id, new_ids, prepared.crops)
        if stored < len(new_ids):
            prepared.warnings.append(
                f"{len(new_ids) - stored} face crop(s) could not be kept in the object store"
            )
        return EnrollmentResult(
            employee_id=employee_id,
            faces_enrolled=len(prepared.embeddings),
            quality_scores=prepared.qualities,
            warnings=prepared.warnings,
            gallery=announcement,
            employee_created=created,
            images=prepared.images,
            face_ids=new_ids,
        )

    async def _duplicates(
        self,
        session: AsyncSession,
        analyzer: FaceAnalyzer,
        employee_id: str,
        embeddings: Sequence[bytes],
    ) -> list[str]:
        """Warnings for new faces that already match another enrolled person."""
        others = [
            row
            for row in await gallery_rows(session, analyzer.model_id, analyzer.dim)
            if row.employee_id != employee_id
        ]
        if not others:
            return []
        gallery = np.frombuffer(b"".join(r.embedding for r in others), dtype="<f4").reshape(
            len(others), analyzer.dim
        )
        probes = np.frombuffer(b"".join(embeddings), dtype="<f4").reshape(-1, analyzer.dim)
        best = (probes @ gallery.T).max(axis=0)
        matched = sorted(
            {
                row.employee_id
                for row, score in zip(others, best, strict=True)
                if score >= self._match_threshold
            }
        )
        return [
            f"likely duplicate identity: the faces already match enrolled employee {other!r}"
            for other in matched
        ]

    async def remove_faces(self, employee_id: str) -> RemovalResult:
        """Delete an employee's face templates (the consent record is kept; withdrawing it is
        hub/privacy/consent.py's); when any were deleted and a gallery exists, publish a new
        version without them."""
        async with self._lock:
            async with self._session_factory() as session:
                employee = await _employee(session, employee_id)
                if employee is None:
                    raise EmployeeNotFoundError(
                        employee_id, f"employee {employee_id!r} does not exist"
                    )
                face_ids = await _crop_ids(session, employee_id)
                models = await _model_ids(session, employee_id)
                count = len(face_ids)
                await session.exec(
                    delete(EmployeeFace).where(col(EmployeeFace.employee_id) == employee_id)
                )
                employee.updated_at = utcnow()
                session.add(employee)
                await session.commit()
            published = await self._publish_models_locked(models) if count else {}
        for each in published.values():
            await self.announce(each)
        # the hub model's new version is the one reported (the others were announced too)
        announcement = published.get(self.hub_model_id) or next(iter(published.values()), None)
        crops = await self._delete_crops(employee_id, face_ids)
        return RemovalResult(employee_id, count, announcement, crops)

    async def stored_faces(self, employee_id: str) -> list[StoredFace]:
        """The employee's templates (raises :class:`EmployeeNotFoundError`)."""
        async with self._session_factory() as session:
            if await _employee(session, employee_id) is None:
                raise EmployeeNotFoundError(employee_id, f"employee {employee_id!r} does not exist")
            rows = (
                await session.exec(
                    select(EmployeeFace)
                    .where(EmployeeFace.employee_id == employee_id)
                    .order_by(col(EmployeeFace.id))
                )
            ).all()
        return [
            StoredFace(
                face_id=int(row.id or 0),
                model_id=row.model_id,
                dim=row.dim,
                quality=row.quality,
                created_at=row.created_at,
                embedding=[float(v) for v in np.frombuffer(row.embedding, dtype="<f4")],
            )
            for row in rows
        ]

    # -- face crops ----------------------------------------------------------------------

    async def _store_crops(
        self, employee_id: str, face_ids: Sequence[int], crops: Sequence[bytes]
    ) -> int:
        stored = 0
        for face_id, crop in zip(face_ids, crops, strict=False):
            try:
                key = face_crop_key(employee_id, face_id)
                sealed = self.templates.seal(crop)  # hub.face_templates: crops encrypted at rest
                await asyncio.to_thread(self._store.put, key, sealed, "application/octet-stream")
            except StorageError as err:
                logger.warning("face crop %d not stored: %s", face_id, type(err).__name__)
                continue
            stored += 1
        return stored

    async def _delete_crops(self, employee_id: str, face_ids: Sequence[int]) -> int:
        """Delete the crops of ``face_ids`` (idempotent); returns how many deletes succeeded."""
        deleted = 0
        for face_id in face_ids:
            try:
                await asyncio.to_thread(self._store.delete, face_crop_key(employee_id, face_id))
            except StorageError as err:
                logger.warning("face crop %d not deleted: %s", face_id, type(err).__name__)
                continue
            deleted += 1
        return deleted


def _embedding_count(snapshot: GallerySnapshot) -> int:
    total_bytes = 0
    for person in snapshot.people:
        text = person.embeddings_b64
        total_bytes += len(text) * 3 // 4 - text.count("=")
    return total_bytes // (4 * snapshot.dim)


def face_model_of(heartbeat: object) -> str | None:
    """The face model an edge reported in its last heartbeat (``models.face``), if any."""
    if not isinstance(heartbeat, dict):
        return None
    models = heartbeat.get("models")
    face = models.get("face") if isinstance(models, dict) else None
    return face if isinstance(face, str) and face else None


def embed_other_models(
    embedders: FaceEmbedders, model_ids: Sequence[str], prepared: _Prepared
) -> tuple[dict[str, tuple[int, list[bytes]]], dict[str, str]]:
    """The enrolled faces embedded by each of ``model_ids`` (worker thread): ``{model: (dim,
    embeddings)}`` and ``{model: why not}`` for models that cannot be loaded or embed here."""
    made: dict[str, tuple[int, list[bytes]]] = {}
    skipped: dict[str, str] = {}
    for model_id in model_ids:
        try:
            model = embedders.get(model_id)
            vectors = [
                embedding_bytes(model.embed(image, face)) for image, face in prepared.sources
            ]
        except (ModelUnavailableError, ValueError) as err:
            skipped[model_id] = str(err)
            continue
        made[model_id] = (model.dim, vectors)
    return made, skipped


async def _crop_ids(session: AsyncSession, employee_id: str) -> list[int]:
    """The employee's kept crops (a crop per enrolled face; NULL before migration 0009)."""
    found = await session.exec(
        select(EmployeeFace.id, EmployeeFace.crop_id).where(EmployeeFace.employee_id == employee_id)
    )
    return sorted({crop or face for face, crop in found.all() if face is not None})


async def _model_ids(session: AsyncSession, employee_id: str) -> set[str]:
    found = await session.exec(
        select(EmployeeFace.model_id).where(EmployeeFace.employee_id == employee_id)
    )
    return set(found.all())


async def _employee(session: AsyncSession, employee_id: str) -> Employee | None:
    return (await session.exec(select(Employee).where(Employee.employee_id == employee_id))).first()


def _prepare_faces(
    analyzer: FaceAnalyzer, images: Sequence[Image], match_threshold: float
) -> _Prepared:
    """Detect, gate and embed the one face of every image, and check that the images show one
    person; raises :class:`FaceRefusedError` on the first image that fails (worker thread)."""
    prepared = _Prepared()
    vectors: list[np.ndarray] = []
    for index, image in enumerate(images):
        faces = detect_faces(analyzer, image)
        if not faces:
            raise FaceRefusedError(index, "no_face", "no face found")
        comparable = face_gate.comparable_faces(faces)
        if comparable > 1:
            raise FaceRefusedError(
                index,
                "several_faces",
                f"{comparable} faces of comparable size (the second at least "
                f"{face_gate.COMPARABLE_FACE_RATIO:.0%} of the largest's area): "
                "give a photo of the employee alone",
            )
        face = face_gate.largest_face(faces)
        quality = face_gate.check(analyzer, image, face)
        if not quality.ok:
            raise FaceRefusedError(
                index,
                "below_quality_gate",
                "the face fails the quality gate: " + "; ".join(quality.reasons),
            )
        vector = np.asarray(analyzer.embed(image, face), dtype=np.float32).reshape(-1)
        for earlier, other in enumerate(vectors):
            similarity = float(other @ vector)
            if similarity < match_threshold:
                raise FaceRefusedError(
                    index,
                    "not_same_person",
                    f"not the same person as images[{earlier}] (similarity {similarity:.2f} "
                    f"< match threshold {match_threshold:.2f})",
                )
        vectors.append(vector)
        score = face_gate.quality_score(quality)
        prepared.embeddings.append(embedding_bytes(vector))
        prepared.qualities.append(score)
        prepared.crops.append(face_crop_jpeg(image, face.box))
        prepared.sources.append((image, face))
        prepared.images.append(ImageReport(index, True, score, len(faces)))
    return prepared
