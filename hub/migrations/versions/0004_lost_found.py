"""lost and found reports and found items (helper B)

Lost reports gain who lost the item (name and contact encrypted, as guests' PII), where and
when, the photo's image id, the confirmed found item and who reported it; found items and the
proposed matches between the two are new tables. Reports that were ``lost`` are ``open`` now.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 04:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "found_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("location", sa.String(length=128), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("found_by", sa.String(length=64), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("image_key", sa.String(length=512), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("lost_item_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("found_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_found_items_image_id"), ["image_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_found_items_lost_item_id"), ["lost_item_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_found_items_status"), ["status"], unique=False)

    op.create_table(
        "lost_found_matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lost_item_id", sa.Integer(), nullable=False),
        sa.Column("found_item_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("image_similarity", sa.Float(), nullable=True),
        sa.Column("text_similarity", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(["found_item_id"], ["found_items.id"]),
        sa.ForeignKeyConstraint(["lost_item_id"], ["lost_items.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("lost_found_matches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lost_found_matches_found_item_id"), ["found_item_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_lost_found_matches_lost_item_id"), ["lost_item_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_lost_found_matches_status"), ["status"], unique=False)
        batch_op.create_index(
            "ux_lost_found_matches_pair", ["lost_item_id", "found_item_id"], unique=True
        )

    with op.batch_alter_table("lost_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reporter_name", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("reporter_contact", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("lost_location", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("lost_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reported_image_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("found_item_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("reported_by", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_lost_items_found_item_id"), ["found_item_id"], unique=False
        )
    op.execute("UPDATE lost_items SET status = 'open' WHERE status = 'lost'")


def downgrade() -> None:
    op.execute("UPDATE lost_items SET status = 'lost' WHERE status IN ('open', 'matched')")
    with op.batch_alter_table("lost_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lost_items_found_item_id"))
        batch_op.drop_column("updated_at")
        batch_op.drop_column("reported_by")
        batch_op.drop_column("found_item_id")
        batch_op.drop_column("reported_image_id")
        batch_op.drop_column("lost_at")
        batch_op.drop_column("lost_location")
        batch_op.drop_column("reporter_contact")
        batch_op.drop_column("reporter_name")

    with op.batch_alter_table("lost_found_matches", schema=None) as batch_op:
        batch_op.drop_index("ux_lost_found_matches_pair")
        batch_op.drop_index(batch_op.f("ix_lost_found_matches_status"))
        batch_op.drop_index(batch_op.f("ix_lost_found_matches_lost_item_id"))
        batch_op.drop_index(batch_op.f("ix_lost_found_matches_found_item_id"))
    op.drop_table("lost_found_matches")

    with op.batch_alter_table("found_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_found_items_status"))
        batch_op.drop_index(batch_op.f("ix_found_items_lost_item_id"))
        batch_op.drop_index(batch_op.f("ix_found_items_image_id"))
    op.drop_table("found_items")
