"""``innsight hub audit verify``'s logic: read the audit chain from the database and check it
(hub/audit_chain.py). Reads only; identifiers and hashes, never the rows' details, are shown."""

from __future__ import annotations

from sqlalchemy import create_engine, select
from sqlalchemy.engine import Connection

from hub.audit_chain import HEAD_ID, ChainReport, ChainRow, verify_chain
from hub.schema import sync_url
from hub.tables import AuditChain, AuditLog


def read_chain(conn: Connection) -> tuple[list[ChainRow], tuple[int, str] | None]:
    table = AuditLog.__table__  # type: ignore[attr-defined]
    rows = [
        ChainRow(
            id=r.id,
            seq=r.seq,
            at=r.at,
            actor=r.actor,
            action=r.action,
            target=r.target,
            detail=r.detail,
            prev_hash=r.prev_hash,
            hash=r.hash,
        )
        for r in conn.execute(select(table).order_by(table.c.id))
    ]
    head_table = AuditChain.__table__  # type: ignore[attr-defined]
    head = conn.execute(
        select(head_table.c.seq, head_table.c.hash).where(head_table.c.id == HEAD_ID)
    ).first()
    return rows, (int(head[0]), str(head[1])) if head is not None else None


def verify_database(database_url: str) -> ChainReport:
    """The chain of the database at ``database_url`` (the hub's async URL or a sync one)."""
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            rows, head = read_chain(conn)
    finally:
        engine.dispose()
    return verify_chain(rows, head)
