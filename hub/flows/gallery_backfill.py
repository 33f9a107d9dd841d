"""Back-fill a face model's templates from the kept enrolment crops (issue 22 item 3).

When a model joins the fleet (an edge reports it in its heartbeat, or it is added to
``gallery_face_models``), every enrolment crop without a template of that model is opened (they
are sealed in the object store), its face found by the hub's analyzer, embedded by the model,
protected under the site's template key and stored beside the crop's other templates; then the
model's gallery is published and announced to the edges that run it. Progress (total, done,
failed, status) is kept in ``gallery_models`` as it goes: ``GET /api/v1/cv/galleries`` and
``innsight hub gallery models`` show it. Idempotent: a second run finds nothing missing.

Started in the hub process by :meth:`hub.gallery.GalleryService.start_backfill` and as the
``gallery_backfill`` workflow (hub/flows/definitions.py).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from sqlmodel import col, select

from hub import face_gate
from hub.crypto import PiiDecryptError
from hub.flows.context import FlowDeps
from hub.gallery_models import set_progress, unknown_model_error
from hub.storage import StorageError
from hub.tables import EmployeeFace
from models.faces import Embedding, FaceAnalyzer, ModelUnavailableError

if TYPE_CHECKING:
    from hub.gallery import GalleryService

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 10
"""Progress is written after this many crops (and at the end)."""


@dataclass(slots=True)
class BackfillReport:
    model_id: str
    status: str = "running"
    total: int = 0
    done: int = 0
    failed: int = 0
    gallery_version: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class MissingCrop:
    employee_id: str
    crop_id: int
    quality: float


async def missing_crops(gallery: GalleryService, model_id: str) -> list[MissingCrop]:
    """The kept crops that have no template of ``model_id`` yet, by crop id."""
    async with gallery.session_factory() as session:
        rows = (
            await session.exec(
                select(
                    EmployeeFace.employee_id,
                    EmployeeFace.id,
                    EmployeeFace.crop_id,
                    EmployeeFace.model_id,
                ).order_by(col(EmployeeFace.id))
            )
        ).all()
        qualities = dict((await session.exec(select(EmployeeFace.id, EmployeeFace.quality))).all())
    crops: dict[int, MissingCrop] = {}
    covered: set[int] = set()
    for employee_id, face_id, crop_id, row_model in rows:
        crop = int(crop_id or face_id or 0)
        if row_model == model_id:
            covered.add(crop)
        quality = float(qualities.get(crop, qualities.get(face_id, 0.0)))
        crops.setdefault(crop, MissingCrop(employee_id, crop, quality))
    return [crops[c] for c in sorted(crops) if c not in covered]


def embed_crop(primary: FaceAnalyzer, model: FaceAnalyzer, jpeg: bytes) -> Embedding | None:
    """The largest face of a kept crop, embedded by ``model`` (None: no face found)."""
    decoded = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        return None
    image = np.ascontiguousarray(decoded, dtype=np.uint8)
    faces = primary.detect(image)
    if not faces:
        return None
    face = face_gate.largest_face(faces)
    return np.asarray(model.embed(image, face), dtype=np.float32).reshape(-1)


async def backfill_model(gallery: GalleryService, model_id: str) -> BackfillReport:
    """Make ``model_id``'s missing templates from the kept crops, publish its gallery."""
    report = BackfillReport(model_id)
    sessions = gallery.session_factory

    async def progress() -> None:
        async with sessions() as session:
            await set_progress(
                session,
                model_id,
                status=report.status,
                total=report.total,
                done=report.done,
                failed=report.failed,
                error=report.error,
            )

    missing = await missing_crops(gallery, model_id)
    report.total = len(missing)
    if not missing and await gallery.latest(model_id) is not None:
        report.status = "done"  # nothing to do: no model loaded
        await progress()
        return report
    unknown = unknown_model_error(model_id, gallery.hub_model_id)
    if unknown is not None:  # no model loaded for a model the hub cannot run anyway
        report.status, report.error = "failed", str(unknown)
        await progress()
        logger.warning("back-fill of %s not possible: %s", model_id, unknown)
        return report
    await progress()
    try:
        embedders = await gallery.embedders()
        model = await asyncio.to_thread(embedders.get, model_id)
    except ModelUnavailableError as err:
        report.status, report.error = "failed", str(err)
        await progress()
        logger.warning("back-fill of %s not possible: %s", model_id, err)
        return report
    for index, item in enumerate(missing, start=1):
        try:
            crop = await gallery.read_crop(item.employee_id, item.crop_id)
            vector = await asyncio.to_thread(embed_crop, embedders.primary, model, crop)
        except (StorageError, PiiDecryptError, ValueError) as err:
            logger.warning("crop %d not back-filled: %s", item.crop_id, type(err).__name__)
            vector = None
        stored = vector is not None and await gallery.record_templates(
            item.employee_id,
            item.crop_id,
            model_id,
            model.dim,
            gallery.templates.protect(model_id, vector),
            item.quality,
        )
        if stored:
            report.done += 1
        else:
            report.failed += 1
        if index % PROGRESS_EVERY == 0:
            await progress()
    if report.done or await gallery.latest(model_id) is None:
        announcement = await gallery.publish_new_version(model_id, model.dim)
        report.gallery_version = announcement.version
    report.status = "done"
    await progress()
    logger.info(
        "back-fill of %s: %d of %d crops embedded, %d failed",
        model_id,
        report.done,
        report.total,
        report.failed,
    )
    return report


async def backfill(deps: FlowDeps, model_id: str) -> dict[str, Any]:
    """The ``gallery_backfill`` workflow's step."""
    if deps.gallery is None:
        raise RuntimeError("the gallery service runs in the hub process only")
    return asdict(await backfill_model(deps.gallery, model_id))
