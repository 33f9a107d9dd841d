"""Gap report: the message seqs of a device the hub never received (DESIGN §2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.tables import ReceivedMessage


@dataclass(slots=True)
class SeqGaps:
    """Missing seqs of one device: inclusive ranges (cut at a maximum) and their total."""

    device_id: str
    gaps: list[tuple[int, int]] = field(default_factory=list)
    missing: int = 0


async def seq_gaps(
    session: AsyncSession,
    device_ids: Sequence[str] | None = None,
    *,
    max_gaps_per_device: int = 100,
) -> dict[str, SeqGaps]:
    """Missing message seqs per device, as inclusive ranges (a leading gap starts at 1).

    Computed from ``received_messages`` with a window function; ``missing`` counts every
    missing seq even when the listed ranges are cut at ``max_gaps_per_device``. Devices without
    gaps are absent from the result.
    """
    rm = ReceivedMessage
    previous = func.lag(col(rm.seq)).over(partition_by=col(rm.device_id), order_by=col(rm.seq))
    inner: Any = select(
        col(rm.device_id).label("device_id"),
        col(rm.seq).label("seq"),
        previous.label("prev"),
    )
    if device_ids is not None:
        inner = inner.where(col(rm.device_id).in_(list(device_ids)))
    sub = inner.subquery()
    prev_or_zero = func.coalesce(sub.c.prev, 0)
    query = (
        select(sub.c.device_id, prev_or_zero + 1, sub.c.seq - 1)
        .where(sub.c.seq - prev_or_zero > 1)
        .order_by(sub.c.device_id, sub.c.seq)
    )
    result = await session.exec(query)
    report: dict[str, SeqGaps] = {}
    for device_id, start, end in result.all():
        entry = report.setdefault(str(device_id), SeqGaps(str(device_id)))
        if len(entry.gaps) < max_gaps_per_device:
            entry.gaps.append((int(start), int(end)))
        entry.missing += int(end) - int(start) + 1
    return report
