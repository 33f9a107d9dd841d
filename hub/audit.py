"""The audit trail (DESIGN §7): who did what to which record, and when.

Rows carry identifiers and counts, never personal data (no names, no images, no embeddings).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from hub.tables import AuditLog


class AuditAction(StrEnum):
    FACE_ENROLL = "face.enroll"
    FACE_DELETE = "face.delete"
    API_KEY_CREATE = "api_key.create"
    API_KEY_REVOKE = "api_key.revoke"
    USER_CREATE = "user.create"
    ATTENDANCE_RETRACT = "attendance.retract"
    ATTENDANCE_ENTRY = "attendance.entry"
    # hub/lost_found
    LOST_REPORT = "lost_found.report"
    FOUND_REPORT = "lost_found.found"
    LOST_FOUND_MATCH_CONFIRM = "lost_found.match_confirm"
    LOST_FOUND_MATCH_REJECT = "lost_found.match_reject"
    LOST_FOUND_STATUS = "lost_found.status"
    # hub/console (issue 18)
    ALERT_HANDLE = "alert.handle"
    ATTENDANCE_CORRECT = "attendance.correct"


def audit(
    session: AsyncSession,
    *,
    actor: str,
    action: AuditAction,
    target: str,
    detail: Mapping[str, Any] | None = None,
) -> AuditLog:
    """Add an audit row to ``session`` (committed with the caller's transaction)."""
    row = AuditLog(actor=actor, action=action.value, target=target, detail=dict(detail or {}))
    session.add(row)
    return row
