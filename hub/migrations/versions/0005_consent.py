"""consent records and notices (helper C)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 04:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consent_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("notice_version", sa.String(length=32), nullable=False),
        sa.Column("notice_language", sa.String(length=8), nullable=False),
        sa.Column("method", sa.String(length=24), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=128), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_consent_records_employee",
        "consent_records",
        ["employee_id", "withdrawn_at"],
        unique=False,
    )
    with op.batch_alter_table("employees") as batch_op:
        batch_op.add_column(
            sa.Column(
                "non_biometric_checkin",
                sa.Boolean(),
                server_default=sa.text("(false)"),
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("employees") as batch_op:
        batch_op.drop_column("non_biometric_checkin")
    op.drop_index("ix_consent_records_employee", table_name="consent_records")
    op.drop_table("consent_records")
