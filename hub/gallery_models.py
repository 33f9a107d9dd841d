"""The face models of the fleet and how the hub embeds with each (issue 22 item 3).

One enrolment, a template per face model: the hub detects the face once with its own analyzer
(BlazeFace finds it, dlib's ResNet embeds it: ``dlib-resnet-v1``, the *hub model*) and embeds the
same face with every other model its fleet runs (:class:`FaceEmbedders`). The fleet's models
are the hub model, ``gallery_face_models`` in the settings and every model an edge reported in
its heartbeat (``models.face``), recorded in ``gallery_models`` (:func:`register_model`) with
the progress of their back-fill (hub/flows/gallery_backfill.py).

Templates of another model are embedded from the hub's detection of the face (its box and five
points): dlib-style models align from the box (dlib's 5-point predictor), SFace and ArcFace from
the five points (BlazeFace's, mouth corners estimated).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.tables import GalleryModel, utcnow
from models.faces import FaceAnalyzer, ModelUnavailableError

HUB_MODEL_ID = "dlib-resnet-v1"
"""The model of the hub's own analyzer (models.face_blazeface.hub_face_analyzer)."""
ORIGINS = ("hub", "config", "heartbeat")


def _dlib(models_dir: Path | None) -> FaceAnalyzer:
    from models.face_dlib import DlibFaceAnalyzer

    return DlibFaceAnalyzer(landmarks68=False, models_dir=models_dir)


def _lbph(primary: FaceAnalyzer, models_dir: Path | None) -> FaceAnalyzer:
    """LBPH on dlib's chip: the hub analyzer's own dlib aligner when it has one."""
    from models.face_dlib import DlibFaceAnalyzer
    from models.face_lbph import LbphFaceAnalyzer

    aligner = getattr(primary, "embedder", primary)
    if not isinstance(aligner, DlibFaceAnalyzer):
        aligner = DlibFaceAnalyzer(landmarks68=False, models_dir=models_dir)
    return LbphFaceAnalyzer(primary, aligner)


def _sface(models_dir: Path | None) -> FaceAnalyzer:
    from models.face_yunet import YuNetSFaceAnalyzer

    return YuNetSFaceAnalyzer(models_dir)


def _arcface(models_dir: Path | None) -> FaceAnalyzer:
    from models.face_insightface import InsightFaceAnalyzer

    return InsightFaceAnalyzer(models_dir)


Factory = Callable[[FaceAnalyzer, Path | None], FaceAnalyzer]
FACTORIES: dict[str, Factory] = {
    "dlib-resnet-v1": lambda _primary, models_dir: _dlib(models_dir),
    "lbph-u2-4x4": _lbph,
    "sface-2021dec": lambda _primary, models_dir: _sface(models_dir),
    "buffalo_l": lambda _primary, models_dir: _arcface(models_dir),
}
"""Embedding model id -> how the hub builds it (given its own analyzer, which detects)."""


def unknown_model_error(model_id: str, hub_model: str) -> ModelUnavailableError | None:
    """Why the hub cannot embed with ``model_id`` at all (None: it knows how)."""
    known = {*FACTORIES, hub_model}
    if model_id in known:
        return None
    return ModelUnavailableError(
        f"the hub cannot embed with face model {model_id!r}: it knows " + ", ".join(sorted(known))
    )


class FaceEmbedders:
    """The hub's embedder of each model, built on first use (in the caller's thread) and kept;
    a model that cannot be loaded raises :class:`ModelUnavailableError` naming how to get it."""

    def __init__(self, primary: FaceAnalyzer, models_dir: Path | None = None) -> None:
        self.primary = primary
        self._models_dir = models_dir
        self._loaded: dict[str, FaceAnalyzer] = {primary.model_id: primary}
        self._lock = threading.Lock()

    def get(self, model_id: str) -> FaceAnalyzer:
        with self._lock:
            found = self._loaded.get(model_id)
            if found is not None:
                return found
            factory = FACTORIES.get(model_id)
            if factory is None:
                raise unknown_model_error(model_id, self.primary.model_id) or ModelUnavailableError(
                    model_id
                )
            try:
                analyzer = factory(self.primary, self._models_dir)
            except ModelUnavailableError as err:
                raise ModelUnavailableError(f"{model_id}: {err}") from err
            self._loaded[model_id] = analyzer
            return analyzer


@dataclass(frozen=True)
class FleetModel:
    """One face model of the fleet: where it came from, its templates and newest gallery, and
    its back-fill's progress (``GET /api/v1/cv/galleries``)."""

    model_id: str
    origin: str
    templates: int
    gallery_version: int | None
    people: int | None
    backfill_status: str
    backfill_total: int
    backfill_done: int
    backfill_failed: int
    backfill_error: str | None
    backfill_updated_at: datetime | None


async def registered(session: AsyncSession) -> list[GalleryModel]:
    found = await session.exec(select(GalleryModel).order_by(col(GalleryModel.model_id)))
    return list(found.all())


async def fleet_models(
    session: AsyncSession, hub_model: str, configured: Sequence[str]
) -> list[str]:
    """The hub model first, then every configured and registered model, each once."""
    ids = [hub_model, *configured, *(row.model_id for row in await registered(session))]
    return list(dict.fromkeys(ids))


async def register_model(session: AsyncSession, model_id: str, origin: str) -> bool:
    """Record ``model_id`` as a fleet model (back-fill pending); True when it is new. The caller
    commits."""
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {ORIGINS}")
    if await session.get(GalleryModel, model_id) is not None:
        return False
    session.add(GalleryModel(model_id=model_id, origin=origin, added_at=utcnow()))
    return True


async def set_progress(
    session: AsyncSession,
    model_id: str,
    *,
    status: str,
    total: int | None = None,
    done: int | None = None,
    failed: int | None = None,
    error: str | None = None,
) -> None:
    """Update (or create, origin ``config``) the model's back-fill progress and commit."""
    row = await session.get(GalleryModel, model_id)
    if row is None:
        row = GalleryModel(model_id=model_id, origin="config", added_at=utcnow())
    row.backfill_status = status
    if total is not None:
        row.backfill_total = total
    if done is not None:
        row.backfill_done = done
    if failed is not None:
        row.backfill_failed = failed
    row.backfill_error = error[:1024] if error else None
    row.backfill_at = utcnow()
    session.add(row)
    await session.commit()
