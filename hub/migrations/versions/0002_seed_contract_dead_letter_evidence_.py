"""seed contract, dead-letter evidence, hotel data, audit chain, attendance liveness

Revision ID: 0002
Revises: 0001_baseline
Create Date: 2026-12-07 02:53:45.456352
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001_baseline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "anomaly_references",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("object_key", sa.String(length=512), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column(
            "floor_zone", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "restricted_zones",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("camera_id"),
    )
    op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "face_recognitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=True),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("employee_id", sa.String(length=64), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("liveness_checked", sa.Boolean(), nullable=False),
        sa.Column("liveness_score", sa.Float(), nullable=True),
        sa.Column("recognition_time_ms", sa.Float(), nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("face_recognitions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_face_recognitions_camera_id"), ["camera_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_face_recognitions_captured_at"), ["captured_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_face_recognitions_employee_id"), ["employee_id"], unique=False
        )

    op.create_table(
        "room_types",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("rack_rate", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("price_floor", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column("price_ceiling", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("room_types", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_room_types_code"), ["code"], unique=True)

    with op.batch_alter_table("attendance_logs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("check_out_camera_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("check_out_confidence", sa.Float(), nullable=True))

    with op.batch_alter_table("attendance_marks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("entered_by", sa.String(length=128), nullable=True))

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
        batch_op.create_index("ux_audit_log_seq", ["seq"], unique=True)

    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("room_type", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("segment", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("deposit", sa.Numeric(precision=12, scale=2), nullable=True))

    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("times_seen", sa.BigInteger(), server_default=sa.text("1"), nullable=False)
        )
        batch_op.add_column(sa.Column("sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("fingerprint", sa.String(length=64), nullable=True))
        batch_op.create_index("ux_dead_letters_fingerprint", ["fingerprint"], unique=True)

    with op.batch_alter_table("employees", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "attendance_camera", sa.Boolean(), server_default=sa.text("(false)"), nullable=False
            )
        )

    with op.batch_alter_table("guests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("guest_ref", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("email_bidx", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_guests_email_bidx", ["email_bidx"], unique=False)
        batch_op.create_index("ux_guests_guest_ref", ["guest_ref"], unique=True)
    # The API names guests by the hotel's id (the seeds' "GUEST001"): guests stored before it
    # existed get one from their row id, so every guest stays addressable after the upgrade.
    op.execute(
        "UPDATE guests SET guest_ref = 'GUEST' || CAST(id AS VARCHAR(20)) WHERE guest_ref IS NULL"
    )

    with op.batch_alter_table("room_analysis_logs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("analyzed_by", sa.String(length=128), nullable=True))

    with op.batch_alter_table("shift_schedules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shift_date", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "updated_at",
                sa.DateTime(timezone=True),
                server_default=sa.text("(CURRENT_TIMESTAMP)"),
                nullable=False,
            )
        )
        batch_op.create_index("ix_shift_schedules_shift_date", ["shift_date"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("shift_schedules", schema=None) as batch_op:
        batch_op.drop_index("ix_shift_schedules_shift_date")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("shift_date")

    with op.batch_alter_table("room_analysis_logs", schema=None) as batch_op:
        batch_op.drop_column("analyzed_by")

    with op.batch_alter_table("guests", schema=None) as batch_op:
        batch_op.drop_index("ux_guests_guest_ref")
        batch_op.drop_index("ix_guests_email_bidx")
        batch_op.drop_column("email_bidx")
        batch_op.drop_column("guest_ref")

    with op.batch_alter_table("employees", schema=None) as batch_op:
        batch_op.drop_column("attendance_camera")

    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_index("ux_dead_letters_fingerprint")
        batch_op.drop_column("fingerprint")
        batch_op.drop_column("sha256")
        batch_op.drop_column("times_seen")
        batch_op.drop_column("last_seen_at")

    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_column("deposit")
        batch_op.drop_column("segment")
        batch_op.drop_column("room_type")

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ux_audit_log_seq")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")

    with op.batch_alter_table("attendance_marks", schema=None) as batch_op:
        batch_op.drop_column("entered_by")

    with op.batch_alter_table("attendance_logs", schema=None) as batch_op:
        batch_op.drop_column("check_out_confidence")
        batch_op.drop_column("check_out_camera_id")

    with op.batch_alter_table("room_types", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_room_types_code"))

    op.drop_table("room_types")
    with op.batch_alter_table("face_recognitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_face_recognitions_employee_id"))
        batch_op.drop_index(batch_op.f("ix_face_recognitions_captured_at"))
        batch_op.drop_index(batch_op.f("ix_face_recognitions_camera_id"))

    op.drop_table("face_recognitions")
    op.drop_table("audit_chain")
    op.drop_table("anomaly_references")
