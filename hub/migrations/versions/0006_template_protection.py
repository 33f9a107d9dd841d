"""protected face templates (helper D)

``employee_faces.template_key_id`` names the template key a stored embedding is rotated under
(hub/face_templates.py). Rows that exist when this runs keep NULL: their embeddings are still
in clear and not transformed. The migration cannot convert them (the keys are not the
database's business); the hub does it when it starts (``protect_stored_templates``: rotate
under the site's template key, encrypt with the PII key, set the key id, seal their crops and
the old gallery artefacts), and ``innsight hub gallery rekey`` does it too.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 04:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("employee_faces") as batch:
        batch.add_column(sa.Column("template_key_id", sa.String(length=16), nullable=True))


def downgrade() -> None:
    # The embeddings stay encrypted and transformed: a downgraded hub cannot read them
    # (restore the pre-upgrade backup, or re-enrol).
    with op.batch_alter_table("employee_faces") as batch:
        batch.drop_column("template_key_id")
