"""Consent to face processing and its withdrawal (issue 17 item 3; DESIGN §7).

A consent record per person and purpose (attendance / access / safety) names the notice shown
(version and language, hub/privacy/notices_library.py), how it was given (signed paper,
electronic, verbal and recorded), when, and who recorded it. Enrolment refuses a person without
an active consent (hub/gallery.py). The person may not exist yet: HR records the consent at
onboarding, and enrolment then creates the employee.

Withdrawal marks the consents withdrawn; when none is left, it deletes the person's templates
and crops on the hub through the gallery's delete path (a new gallery version without them is
published, so every edge drops them at its next sync) and moves the person to the non-biometric
check-in (``employees.non_biometric_checkin``: the attendance flow ignores face sightings of
them; PIN and badge entries go on). Every action is audited in the hash-chained audit log
(identifiers only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.db import SessionFactory
from hub.gallery import GalleryService, RemovalResult
from hub.privacy.consent_store import (
    ConsentMethod,
    Purpose,
    active_consents,
    consent_history,
)
from hub.privacy.notices_library import NoticeNotFoundError, get_notice
from hub.tables import AuditLog, ConsentRecord, Employee

CONSENT_RECORD_ACTION = "consent.record"
CONSENT_WITHDRAW_ACTION = "consent.withdraw"
TEMPLATES_DELETED_ACTION = "consent.withdraw.templates_deleted"
CLOCK_SKEW = timedelta(minutes=5)  # a consent "given" later than now + this is refused


class ConsentError(ValueError):
    """A consent request refused; ``field`` and ``reason`` say what and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class ConsentNotFoundError(ConsentError, LookupError):
    pass


@dataclass(frozen=True, slots=True)
class ConsentInput:
    employee_id: str
    purpose: Purpose
    notice_version: str
    notice_language: str
    method: ConsentMethod
    given_at: datetime


@dataclass(frozen=True, slots=True)
class ConsentState:
    """A person's consents (history, oldest first) and check-in mode."""

    employee_id: str
    employee_known: bool
    consents: list[ConsentRecord]
    non_biometric_checkin: bool

    @property
    def active(self) -> bool:
        return any(c.withdrawn_at is None for c in self.consents)


@dataclass(frozen=True, slots=True)
class Withdrawal:
    employee_id: str
    withdrawn: list[ConsentRecord]
    remaining: int  # active consents left (other purposes)
    removal: RemovalResult | None  # the templates deleted, when no consent is left
    non_biometric_checkin: bool


def utcnow() -> datetime:
    return datetime.now(UTC)


def _audit(
    session: AsyncSession, actor: str, action: str, employee_id: str, detail: dict[str, object]
) -> None:
    session.add(
        AuditLog(actor=actor, action=action, target=f"employee:{employee_id}", detail=detail)
    )


async def _employee(session: AsyncSession, employee_id: str) -> Employee | None:
    return (await session.exec(select(Employee).where(Employee.employee_id == employee_id))).first()


class ConsentService:
    def __init__(self, session_factory: SessionFactory, gallery: GalleryService) -> None:
        self._sessions = session_factory
        self._gallery = gallery

    async def record(self, data: ConsentInput, *, actor: str) -> ConsentRecord:
        """Store a consent (raises :class:`ConsentError` for an unknown notice or a time in the
        future) and put the person back on face check-in."""
        try:
            get_notice(data.notice_version, data.notice_language)
        except NoticeNotFoundError as err:
            raise ConsentError("notice_version", str(err)) from None
        if data.given_at > utcnow() + CLOCK_SKEW:
            raise ConsentError("given_at", "a consent cannot be given in the future")
        row = ConsentRecord(
            employee_id=data.employee_id,
            purpose=data.purpose.value,
            notice_version=data.notice_version,
            notice_language=data.notice_language,
            method=data.method.value,
            given_at=data.given_at,
            recorded_by=actor,
        )
        async with self._sessions() as session:
            session.add(row)
            employee = await _employee(session, data.employee_id)
            if employee is not None:
                if employee.face_consent_at is None:
                    employee.face_consent_at = data.given_at
                employee.non_biometric_checkin = False
                employee.updated_at = utcnow()
                session.add(employee)
            await session.flush()
            _audit(
                session,
                actor,
                CONSENT_RECORD_ACTION,
                data.employee_id,
                {
                    "consent_id": row.id,
                    "purpose": row.purpose,
                    "notice_version": row.notice_version,
                    "notice_language": row.notice_language,
                    "method": row.method,
                },
            )
            await session.commit()
            await session.refresh(row)
        return row

    async def state(self, employee_id: str) -> ConsentState:
        async with self._sessions() as session:
            consents = await consent_history(session, employee_id)
            employee = await _employee(session, employee_id)
        return ConsentState(
            employee_id=employee_id,
            employee_known=employee is not None,
            consents=consents,
            non_biometric_checkin=bool(employee and employee.non_biometric_checkin),
        )

    async def listing(self, *, active_only: bool, limit: int) -> list[ConsentRecord]:
        """Consent records, newest first."""
        query = select(ConsentRecord)
        if active_only:
            query = query.where(col(ConsentRecord.withdrawn_at).is_(None))
        query = query.order_by(col(ConsentRecord.id).desc()).limit(limit)
        async with self._sessions() as session:
            return list((await session.exec(query)).all())

    async def withdraw(
        self, employee_id: str, *, actor: str, purpose: Purpose | None = None
    ) -> Withdrawal:
        """Withdraw the person's consents (of ``purpose``, else all); with none left, delete the
        templates and crops (and from the edges at their next sync) and switch the person to
        the non-biometric check-in. :class:`ConsentNotFoundError` when nothing is active."""
        now = utcnow()
        async with self._sessions() as session:
            active = await active_consents(session, employee_id)
            chosen = [c for c in active if purpose is None or c.purpose == purpose.value]
            if not chosen:
                what = f"for {purpose.value} " if purpose is not None else ""
                raise ConsentNotFoundError(
                    "employee_id", f"no active consent {what}is recorded for {employee_id!r}"
                )
            for consent in chosen:
                consent.withdrawn_at = now
                consent.withdrawn_by = actor
                session.add(consent)
            remaining = len(active) - len(chosen)
            employee = await _employee(session, employee_id)
            if employee is not None and remaining == 0:
                employee.face_consent_at = None  # out of every gallery from now on
                employee.non_biometric_checkin = True
                employee.attendance_camera = False
                employee.updated_at = now
                session.add(employee)
            _audit(
                session,
                actor,
                CONSENT_WITHDRAW_ACTION,
                employee_id,
                {"consent_ids": [c.id for c in chosen], "remaining": remaining},
            )
            await session.commit()
            for consent in chosen:
                await session.refresh(consent)
        removal = None
        if employee is not None and remaining == 0:
            removal = await self._gallery.remove_faces(employee_id)
            async with self._sessions() as session:
                _audit(
                    session,
                    actor,
                    TEMPLATES_DELETED_ACTION,
                    employee_id,
                    {
                        "faces_deleted": removal.faces_deleted,
                        "crops_deleted": removal.crops_deleted,
                        "gallery_version": removal.gallery.version if removal.gallery else None,
                    },
                )
                await session.commit()
        return Withdrawal(
            employee_id=employee_id,
            withdrawn=chosen,
            remaining=remaining,
            removal=removal,
            non_biometric_checkin=employee is not None and remaining == 0,
        )
