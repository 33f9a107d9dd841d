"""``GET /console/api/devices/provisioning``: each edge's enrolment state for the Devices page
(the heartbeat, cameras and gaps come from ``GET /api/v1/devices``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Security
from pydantic import BaseModel, Field
from sqlmodel import col, select

from hub.api.auth import Principal, authorize
from hub.api.deps import Session
from hub.auth.scopes import Scope
from hub.tables import Device

router = APIRouter(prefix="/console/api/devices", tags=["console"])

FleetReader = Annotated[Principal, Security(authorize, scopes=[Scope.CV_READ, Scope.METRICS_READ])]


class Provisioning(BaseModel):
    device_id: str
    state: str = Field(description="enrolled | revoked | not_enrolled (heard, never enrolled)")
    enrolled_at: datetime | None
    revoked_at: datetime | None


class ProvisioningList(BaseModel):
    items: list[Provisioning]


def provisioning_state(enrolled_at: datetime | None, revoked_at: datetime | None) -> str:
    if revoked_at is not None:
        return "revoked"
    return "enrolled" if enrolled_at is not None else "not_enrolled"


@router.get("/provisioning", response_model=ProvisioningList)
async def device_provisioning(session: Session, _reader: FleetReader) -> ProvisioningList:
    """Enrolled, revoked, or heard from without an enrolment (never the token's hash)."""
    rows = await session.exec(
        select(Device.device_id, Device.enrolled_at, Device.revoked_at).order_by(
            col(Device.device_id)
        )
    )
    return ProvisioningList(
        items=[
            Provisioning(
                device_id=d,
                state=provisioning_state(enrolled, revoked),
                enrolled_at=enrolled,
                revoked_at=revoked,
            )
            for d, enrolled, revoked in rows.all()
        ]
    )
