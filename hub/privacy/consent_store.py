"""Consent records in the database (issue 17 item 3): the queries enrolment and the consent
service share. Imports no service (hub/gallery.py reads it before enrolling).
"""

from __future__ import annotations

from enum import StrEnum

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.tables import ConsentRecord


class Purpose(StrEnum):
    ATTENDANCE = "attendance"
    ACCESS = "access"
    SAFETY = "safety"


class ConsentMethod(StrEnum):
    SIGNED_PAPER = "signed_paper"
    ELECTRONIC = "electronic"
    VERBAL_RECORDED = "verbal_recorded"


async def active_consents(session: AsyncSession, employee_id: str) -> list[ConsentRecord]:
    """The person's consents not withdrawn, oldest first."""
    query = (
        select(ConsentRecord)
        .where(
            ConsentRecord.employee_id == employee_id,
            col(ConsentRecord.withdrawn_at).is_(None),
        )
        .order_by(col(ConsentRecord.id))
    )
    return list((await session.exec(query)).all())


async def consent_history(session: AsyncSession, employee_id: str) -> list[ConsentRecord]:
    """Every consent of the person, withdrawn ones included, oldest first."""
    query = (
        select(ConsentRecord)
        .where(ConsentRecord.employee_id == employee_id)
        .order_by(col(ConsentRecord.id))
    )
    return list((await session.exec(query)).all())
