"""``GET /api/v1/admin/cluster``: this API replica as the others see it (scope ``admin``):
its holder id, whether it holds the leader lease, the background jobs it ran, the shared state
versions it has followed (hub/cluster/, docs/scale-out.md)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from hub.api.auth import AdminUser
from hub.api.errors import field_error
from hub.cluster.runtime import Cluster

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


class LeaseOut(BaseModel):
    holder: str
    expires_at: float = Field(description="epoch seconds")


class ClusterOut(BaseModel):
    holder: str = Field(description="this replica: host:pid:random")
    leader: bool = Field(description="whether this replica runs the background jobs now")
    lease: LeaseOut | None = Field(description="the leader lease row as the database has it")
    jobs_run: dict[str, int] = Field(description="background jobs this replica ran, by name")
    versions: dict[str, int] = Field(description="shared state versions this replica follows")
    listening: bool = Field(description="PostgreSQL LISTEN/NOTIFY up (else polling only)")


@router.get("/cluster", response_model=ClusterOut)
async def cluster_status(request: Request, _admin: AdminUser) -> ClusterOut:
    """This replica's view of the deployment (each replica answers for itself)."""
    cluster: Cluster | None = getattr(request.app.state, "cluster", None)
    if cluster is None:
        raise HTTPException(status_code=503, detail=field_error("cluster", "not started"))
    lease = await cluster.leadership.lease.state()
    return ClusterOut(
        holder=cluster.leadership.holder,
        leader=cluster.leadership.is_leader(),
        lease=None if lease is None else LeaseOut(holder=lease.holder, expires_at=lease.expires_at),
        jobs_run=dict(cluster.leadership.jobs_run),
        versions=cluster.watcher.seen(),
        listening=cluster.watcher.listening,
    )
