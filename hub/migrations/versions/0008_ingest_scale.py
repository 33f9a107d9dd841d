"""ingest scale-out (helper H): event_flow_work, the flows' outbox written by the ingest

The ingest writes one row per event the flows must look at (attendance, hazard alert) in its
own transaction; the flows delete it once done (hub/flows/event_work.py). Exactly-once storage
needs no new key: received_messages (device_id, seq) and events (event_id) are primary keys.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 04:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_flow_work",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("event_flow_work")
