"""CompreFace's Face Collection over the hub's gallery: subjects are employees (by
``employee_id``), examples are their enrolled face templates.

Enrolment is the hub's (:meth:`hub.gallery.GalleryService.enroll`: recorded consent, one face
per photo, the edge's quality gate); deletion is the hub's (:meth:`GalleryService.remove_faces`,
or one template then a new gallery version): every change publishes a new gallery that the
edges download. A subject is "in the collection" while it has templates (CompreFace deletes a
subject with its last example); adding a subject checks that the employee exists and has a
recorded consent. An example is one enrolment photo: its kept crop and the templates made from it
by every face model of the fleet (``employee_faces.crop_id``); its image id is a UUID that
carries the crop's id.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, update
from sqlmodel import col, func, select

from contracts.ids import ID_PATTERN
from hub.audit import AuditAction, audit
from hub.compat.compreface import errors
from hub.crypto import PiiDecryptError
from hub.db import SessionFactory
from hub.gallery import (
    ConsentMissingError,
    EmployeeNotFoundError,
    EnrollmentError,
    FaceRefusedError,
    GalleryService,
    ImageRejectedError,
    face_crop_key,
)
from hub.privacy.consent_store import active_consents
from hub.storage import ObjectStore, StorageError
from hub.tables import Employee, EmployeeFace
from models.faces import FaceAnalyzer

logger = logging.getLogger(__name__)

_SUBJECT = re.compile(ID_PATTERN)
_MAX_FACE_ID = 2**31 - 1
# one row per photo: the template a crop was kept for (older rows have no crop_id)
_PHOTO = or_(col(EmployeeFace.crop_id).is_(None), col(EmployeeFace.crop_id) == EmployeeFace.id)


def image_id(face_id: int) -> str:
    """The UUID of template ``face_id`` (``00000000-0000-0000-0000-00000000002a`` for 42)."""
    return str(uuid.UUID(int=face_id))


def face_id_of(text: str) -> int:
    """The template id in an image UUID; 400 for text that is not one."""
    try:
        value = uuid.UUID(text).int
    except ValueError:
        raise errors.invalid(f"image_id must be a UUID, got {text[:40]!r}") from None
    if not 1 <= value <= _MAX_FACE_ID:
        raise errors.image_not_found(text)
    return value


def check_subject(subject: str | None, name: str = "subject") -> str:
    """A subject is an employee id: 400 naming ``name`` when missing or malformed."""
    if subject is None or subject == "":
        raise errors.missing_parameter(name)
    if not _SUBJECT.match(subject):
        raise errors.invalid(
            f"{name} must be an employee id (letters, digits, '_', '.', '-'; at most 64), "
            f"got {subject[:40]!r}"
        )
    return subject


@dataclass(frozen=True, slots=True)
class Example:
    image_id: str
    subject: str


@dataclass(frozen=True, slots=True)
class ExamplePage:
    faces: list[Example]
    page_number: int
    page_size: int
    total_pages: int
    total_elements: int


class CompreFaceCollection:
    """Subjects and their examples; ``actor`` names the API key in the audit trail."""

    def __init__(
        self, session_factory: SessionFactory, gallery: GalleryService, store: ObjectStore
    ) -> None:
        self._sessions = session_factory
        self._gallery = gallery
        self._store = store

    # -- reading -------------------------------------------------------------------------

    async def subjects(self) -> list[str]:
        async with self._sessions() as session:
            found = await session.exec(
                select(EmployeeFace.employee_id).distinct().order_by(col(EmployeeFace.employee_id))
            )
            return list(found.all())

    async def examples(self, subject: str | None, page: int, size: int) -> ExamplePage:
        base = select(EmployeeFace.id, EmployeeFace.employee_id).where(_PHOTO)
        counted = select(func.count()).select_from(EmployeeFace).where(_PHOTO)
        if subject:
            base = base.where(EmployeeFace.employee_id == subject)
            counted = counted.where(EmployeeFace.employee_id == subject)
        async with self._sessions() as session:
            total = int((await session.exec(counted)).one())
            rows = (
                await session.exec(
                    base.order_by(col(EmployeeFace.id)).offset(page * size).limit(size)
                )
            ).all()
        return ExamplePage(
            faces=[Example(image_id(int(fid or 0)), emp) for fid, emp in rows],
            page_number=page,
            page_size=size,
            total_pages=math.ceil(total / size),
            total_elements=total,
        )

    async def image(self, face_id: int) -> bytes:
        """The stored face crop (JPEG) of one example; empty when there is none (CompreFace)."""
        async with self._sessions() as session:
            row = await session.get(EmployeeFace, face_id)
        if row is None:
            return b""
        try:
            return await self._gallery.read_crop(row.employee_id, face_id)
        except (StorageError, PiiDecryptError) as err:
            logger.warning("face crop %d unreadable: %s", face_id, type(err).__name__)
            return b""

    # -- enrolment -----------------------------------------------------------------------

    async def add_example(
        self, analyzer: FaceAnalyzer, subject: str, image: bytes, *, actor: str
    ) -> Example:
        """Enrol one photo for the employee ``subject`` (consent required)."""
        await self._employee_or_404(subject)
        try:
            result = await self._gallery.enroll(
                analyzer,
                employee_id=subject,
                name=None,
                images_b64=[base64.b64encode(image).decode("ascii")],
            )
        except ConsentMissingError as err:
            raise errors.consent_missing(err.reason) from err
        except EmployeeNotFoundError as err:
            raise errors.subject_not_found(subject) from err
        except ImageRejectedError as err:
            raise errors.invalid(f"file: {err.reason}") from err
        except FaceRefusedError as err:
            if err.code == "no_face":
                raise errors.no_face() from err
            if err.code == "several_faces":
                raise errors.too_many_faces() from err
            raise errors.invalid(f"file: {err.reason}") from err
        except EnrollmentError as err:
            raise errors.invalid(f"{err.field}: {err.reason}") from err
        await self._audit(
            actor,
            AuditAction.FACE_ENROLL,
            subject,
            {"faces": result.faces_enrolled, "via": "compreface"},
        )
        return Example(image_id(result.face_ids[0]), subject)

    # -- deletion ------------------------------------------------------------------------

    async def delete_subject_examples(self, subject: str, *, actor: str) -> int:
        """Every template of ``subject`` (0 for an unknown subject, as CompreFace)."""
        try:
            result = await self._gallery.remove_faces(subject)
        except EmployeeNotFoundError:
            return 0
        if result.faces_deleted:
            await self._audit(
                actor, AuditAction.FACE_DELETE, subject, {"faces_deleted": result.faces_deleted}
            )
        return result.faces_deleted

    async def delete_all(self, *, actor: str) -> tuple[int, int]:
        """Every template of every subject: (subjects, templates) deleted."""
        subjects = await self.subjects()
        faces = 0
        for subject in subjects:
            faces += await self.delete_subject_examples(subject, actor=actor)
        return len(subjects), faces

    async def delete_examples(self, face_ids: Sequence[int], *, actor: str) -> list[Example]:
        """The given photos (their templates of every model; unknown ids are ignored), then a
        new gallery version of each model touched."""
        ids = list(face_ids)
        async with self._sessions() as session:
            rows = list(
                (
                    await session.exec(
                        select(EmployeeFace).where(
                            or_(col(EmployeeFace.id).in_(ids), col(EmployeeFace.crop_id).in_(ids))
                        )
                    )
                ).all()
            )
            for row in rows:
                await session.delete(row)
            await session.commit()
        if not rows:
            return []
        for model_id, dim in sorted({(row.model_id, row.dim) for row in rows}):
            await self._gallery.publish_new_version(model_id, dim)
        deleted = []
        for row in rows:
            fid = int(row.id or 0)
            if fid not in ids:  # another model's template of the same photo
                continue
            try:
                await asyncio.to_thread(self._store.delete, face_crop_key(row.employee_id, fid))
            except StorageError as err:
                logger.warning("face crop %d not deleted: %s", fid, type(err).__name__)
            await self._audit(actor, AuditAction.FACE_DELETE, row.employee_id, {"face_id": fid})
            deleted.append(Example(image_id(fid), row.employee_id))
        return deleted

    # -- subjects ------------------------------------------------------------------------

    async def add_subject(self, subject: str) -> str:
        """Check that ``subject`` can hold examples: an employee with a recorded consent."""
        await self._employee_or_404(subject)
        if subject in await self.subjects():
            raise errors.subject_exists()
        await self._consent_or_403(subject)
        return subject

    async def rename_subject(self, old: str, new: str, *, actor: str) -> bool:
        """Move ``old``'s templates to the employee ``new`` (CompreFace merges into an existing
        subject); ``new`` must be an employee with a recorded consent."""
        if old not in await self.subjects():
            raise errors.subject_not_found(old)
        if old == new:
            return False
        await self._employee_or_404(new)
        await self._consent_or_403(new)
        async with self._sessions() as session:
            rows = list(
                (
                    await session.exec(select(EmployeeFace).where(EmployeeFace.employee_id == old))
                ).all()
            )
            photos = [int(r.id or 0) for r in rows if r.crop_id is None or r.crop_id == r.id]
            await session.exec(
                update(EmployeeFace)
                .where(col(EmployeeFace.employee_id) == old)
                .values(employee_id=new)
            )
            await session.commit()
        for model_id, dim in sorted({(row.model_id, row.dim) for row in rows}):
            await self._gallery.publish_new_version(model_id, dim)
        for photo in photos:
            await self._move_crop(old, new, photo)
        await self._audit(
            actor, AuditAction.FACE_ENROLL, new, {"faces": len(photos), "moved_from": old}
        )
        return True

    async def delete_subject(self, subject: str, *, actor: str) -> str:
        if subject not in await self.subjects():
            raise errors.subject_not_found(subject)
        await self.delete_subject_examples(subject, actor=actor)
        return subject

    # -- helpers -------------------------------------------------------------------------

    async def _employee_or_404(self, subject: str) -> None:
        async with self._sessions() as session:
            found = await session.exec(
                select(Employee.id).where(Employee.employee_id == subject).limit(1)
            )
            if found.first() is None:
                raise errors.subject_not_found(subject)

    async def _consent_or_403(self, subject: str) -> None:
        async with self._sessions() as session:
            if not await active_consents(session, subject):
                raise errors.consent_missing(ConsentMissingError(subject).reason)

    async def _move_crop(self, old: str, new: str, face_id: int) -> None:
        try:
            data = await asyncio.to_thread(self._store.get, face_crop_key(old, face_id))
            await asyncio.to_thread(
                self._store.put, face_crop_key(new, face_id), data, "application/octet-stream"
            )
            await asyncio.to_thread(self._store.delete, face_crop_key(old, face_id))
        except StorageError as err:
            logger.warning("face crop %d not moved: %s", face_id, type(err).__name__)

    async def _audit(
        self, actor: str, action: AuditAction, subject: str, detail: dict[str, object]
    ) -> None:
        async with self._sessions() as session:
            audit(session, actor=actor, action=action, target=f"employee:{subject}", detail=detail)
            await session.commit()
