"""staff console: alert handling, attendance corrections, console preferences (helper CONSOLE)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 07:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_preferences",
        sa.Column("actor", sa.String(length=160), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("actor"),
    )
    op.create_table(
        "alert_handling",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assigned_to", sa.String(length=128), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("updated_by", sa.String(length=160), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["hazard_alerts.id"]),
        sa.PrimaryKeyConstraint("alert_id"),
    )
    op.create_index("ix_alert_handling_status", "alert_handling", ["status"], unique=False)
    op.create_index("ix_alert_handling_updated_at", "alert_handling", ["updated_at"], unique=False)
    op.create_table(
        "attendance_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attendance_log_id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.String(length=64), nullable=False),
        sa.Column("work_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("previous_status", sa.String(length=16), nullable=True),
        sa.Column("check_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("check_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("corrected_by", sa.String(length=160), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["attendance_log_id"], ["attendance_logs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_attendance_corrections_attendance_log_id",
        "attendance_corrections",
        ["attendance_log_id"],
        unique=False,
    )
    op.create_index(
        "ix_attendance_corrections_employee_id",
        "attendance_corrections",
        ["employee_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_attendance_corrections_employee_id", table_name="attendance_corrections")
    op.drop_index(
        "ix_attendance_corrections_attendance_log_id", table_name="attendance_corrections"
    )
    op.drop_table("attendance_corrections")
    op.drop_index("ix_alert_handling_updated_at", table_name="alert_handling")
    op.drop_index("ix_alert_handling_status", table_name="alert_handling")
    op.drop_table("alert_handling")
    op.drop_table("console_preferences")
