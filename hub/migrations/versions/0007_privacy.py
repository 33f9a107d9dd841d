"""subject rights and retention (helper E)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 04:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Subject rights and retention (hub/privacy/) need no schema change: export, erasure and the
    # retention purge work on the existing tables, and their audit rows go to audit_log.
    pass


def downgrade() -> None:
    pass
