"""one gallery per face model (helper GALLERY)

``employee_faces.crop_id``: the template whose kept enrolment crop a template was embedded
from (one crop, a template per face model); rows that exist when this runs are their own crop
(``crop_id = id``). ``gallery_models``: the face models the fleet runs and the progress of
their back-fill; the model of every template already stored is entered (origin ``hub``,
back-fill ``done``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 07:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("employee_faces") as batch:
        batch.add_column(sa.Column("crop_id", sa.Integer(), nullable=True))
    op.execute("UPDATE employee_faces SET crop_id = id WHERE crop_id IS NULL")
    op.create_table(
        "gallery_models",
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("backfill_status", sa.String(length=16), nullable=False),
        sa.Column("backfill_total", sa.Integer(), nullable=False),
        sa.Column("backfill_done", sa.Integer(), nullable=False),
        sa.Column("backfill_failed", sa.Integer(), nullable=False),
        sa.Column("backfill_error", sa.String(length=1024), nullable=True),
        sa.Column("backfill_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("model_id"),
    )
    op.execute(
        "INSERT INTO gallery_models (model_id, origin, added_at, backfill_status, "
        "backfill_total, backfill_done, backfill_failed) "
        "SELECT DISTINCT model_id, 'hub', CURRENT_TIMESTAMP, 'done', 0, 0, 0 "
        "FROM employee_faces"
    )


def downgrade() -> None:
    op.drop_table("gallery_models")
    with op.batch_alter_table("employee_faces") as batch:
        batch.drop_column("crop_id")
