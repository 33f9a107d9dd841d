"""Re-keying the face templates (issue 17 item 4: revocable templates).

:func:`rekey_templates` makes a new template key, re-derives every stored template from its kept
enrolment crop (decrypted, detected, re-embedded by the current model, rotated under the new
key, encrypted), deletes the templates whose crop is gone or shows no face, drops the old key
and publishes a new gallery version, which the edges fetch (its snapshot carries the new
transform key). Templates made under the old key no longer match probes transformed under the
new one. ``innsight hub gallery rekey`` runs it.

Crash safety: the key file holds the new and the old key while the templates are rewritten
(one transaction); rows still under the old key afterwards (an enrolment that raced the
re-keying, or a crash before the old key was dropped) are re-rotated by
:func:`hub.face_templates.protect_stored_templates`, which the hub also runs when it starts.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass

import cv2
import numpy as np
from sqlalchemy import delete
from sqlmodel import col, select

from hub.db import SessionFactory
from hub.face_templates import (
    TemplateKey,
    TemplateKeyError,
    TemplateProtector,
    is_sealed,
    protect_stored_templates,
)
from hub.gallery import GalleryService, detect_faces, face_crop_key
from hub.storage import ObjectStore, StorageError
from hub.tables import EmployeeFace
from models.faces import FaceAnalyzer, Image, ModelUnavailableError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RekeyReport:
    old_key_id: str
    new_key_id: str
    rederived: int
    dropped: int  # templates whose crop was missing or showed no face: deleted
    gallery_version: int | None


@dataclass(frozen=True, slots=True)
class _Derived:
    face_id: int
    embedding: bytes | None  # None: no usable crop, the template is deleted
    crop_key: str


def _rederive(
    analyzer: FaceAnalyzer,
    protector: TemplateProtector,
    store: ObjectStore,
    key: TemplateKey,
    employee_id: str,
    face_id: int,
    *,
    crop_id: int | None = None,
    model: FaceAnalyzer | None = None,
) -> _Derived:
    """One template from its crop (``crop_id``'s, default its own) under ``key``, found by
    ``analyzer`` and embedded by ``model`` (default ``analyzer``; worker thread); the crop is
    re-sealed when it was still in clear."""
    model = model or analyzer
    crop_key = face_crop_key(employee_id, crop_id or face_id)
    try:
        stored = store.get(crop_key)
    except StorageError:
        return _Derived(face_id, None, crop_key)
    crop = protector.open(stored)
    decoded = cv2.imdecode(np.frombuffer(crop, dtype=np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        return _Derived(face_id, None, crop_key)
    image: Image = np.ascontiguousarray(decoded, dtype=np.uint8)
    faces = detect_faces(analyzer, image)
    if not faces:
        return _Derived(face_id, None, crop_key)
    face = max(faces, key=lambda f: f.box.area)
    vector = np.asarray(model.embed(image, face), dtype=np.float32)
    if not is_sealed(stored):
        store.put(crop_key, protector.seal(crop), "application/octet-stream")
    return _Derived(face_id, protector.protect(model.model_id, vector, key), crop_key)


async def rekey_templates(
    gallery: GalleryService,
    analyzer: FaceAnalyzer,
    sessions: SessionFactory,
    store: ObjectStore,
) -> RekeyReport:
    """Re-key every template of the site (see the module docstring)."""
    protector = gallery.templates
    keyring = protector.keyring
    if not keyring.rotatable:
        raise TemplateKeyError(
            "template_key is set in the settings (INNSIGHT_TEMPLATE_KEY): unset it so the hub "
            "keeps its keys in template.key, then re-key"
        )
    old = keyring.current
    new = TemplateKey(secrets.token_bytes(32))
    keyring.write([new, *keyring.keys])
    async with sessions() as session:
        rows = (
            await session.exec(
                select(
                    EmployeeFace.id,
                    EmployeeFace.employee_id,
                    EmployeeFace.crop_id,
                    EmployeeFace.model_id,
                ).order_by(col(EmployeeFace.id))
            )
        ).all()
        # every model's gallery is republished: its snapshot carries the new transform key
        models = dict(
            (await session.exec(select(EmployeeFace.model_id, EmployeeFace.dim).distinct())).all()
        )
    # every template re-embedded by its own model (hub/gallery_models.py); a model the hub
    # cannot load keeps its templates, re-rotated under the new key by protect_stored_templates
    embedders = await gallery.embedders(analyzer)
    derived = []
    for face_id, employee_id, crop_id, model_id in rows:
        try:
            model = await asyncio.to_thread(embedders.get, model_id)
        except ModelUnavailableError as err:
            logger.warning("templates of %s re-rotated, not re-derived: %s", model_id, err)
            continue
        if face_id is None:
            continue
        derived.append(
            await asyncio.to_thread(
                _rederive,
                analyzer,
                protector,
                store,
                new,
                employee_id,
                int(face_id),
                crop_id=crop_id,
                model=model,
            )
        )
    dropped = [d for d in derived if d.embedding is None]
    async with sessions() as session:
        for item in derived:
            if item.embedding is None:
                continue
            face = await session.get(EmployeeFace, item.face_id)
            if face is None:  # deleted meanwhile
                continue
            face.embedding = item.embedding
            face.template_key_id = new.key_id
            session.add(face)
        if dropped:
            await session.exec(
                delete(EmployeeFace).where(col(EmployeeFace.id).in_([d.face_id for d in dropped]))
            )
        await session.commit()
    await protect_stored_templates(sessions, store, protector)  # rows that raced us
    keyring.write([new])  # the old key is gone: its templates can never be matched again
    for item in dropped:
        try:
            await asyncio.to_thread(store.delete, item.crop_key)
        except StorageError as err:
            logger.warning("crop of a dropped template not deleted: %s", type(err).__name__)
    announcement = None
    for model_id, dim in sorted(models.items()):  # the hub model's last: the one reported
        if model_id != analyzer.model_id:
            await gallery.publish_new_version(model_id, dim)
    if derived:
        announcement = await gallery.publish_new_version(analyzer.model_id, analyzer.dim)
    logger.info(
        "templates re-keyed (%s -> %s): %d re-derived, %d without a usable crop deleted",
        old.key_id,
        new.key_id,
        len(derived) - len(dropped),
        len(dropped),
    )
    return RekeyReport(
        old_key_id=old.key_id,
        new_key_id=new.key_id,
        rederived=len(derived) - len(dropped),
        dropped=len(dropped),
        gallery_version=announcement.version if announcement is not None else None,
    )
