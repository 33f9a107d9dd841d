"""PMS sync ids and webhook replay guard (helper A)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 04:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pms_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("pms_id", sa.String(length=64), nullable=False),
        sa.Column("local_ref", sa.String(length=32), nullable=False),
        sa.Column("pms_modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ux_pms_records_kind_pms_id", "pms_records", ["kind", "pms_id"], unique=True)
    op.create_table(
        "pms_deliveries",
        sa.Column("delivery_id", sa.String(length=128), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("delivery_id"),
    )
    op.create_index("ux_pms_deliveries_signature", "pms_deliveries", ["signature"], unique=True)
    op.create_index(
        op.f("ix_pms_deliveries_expires_at"), "pms_deliveries", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_pms_deliveries_expires_at"), table_name="pms_deliveries")
    op.drop_index("ux_pms_deliveries_signature", table_name="pms_deliveries")
    op.drop_table("pms_deliveries")
    op.drop_index("ux_pms_records_kind_pms_id", table_name="pms_records")
    op.drop_table("pms_records")
