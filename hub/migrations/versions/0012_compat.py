"""compatibility layers: CompreFace keys, integrations (helper COMPAT)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 07:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # hub/compat/compreface: a key limited to one CompreFace-compatible service
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("service", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("service")
