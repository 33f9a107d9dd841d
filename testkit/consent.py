"""Recording a face consent before enrolment (issue 17: enrolment without one is refused)."""

from __future__ import annotations

from typing import Any

import httpx

CONSENTS = "/api/v1/privacy/consents"
NOTICE = "face-v1"


def consent_body(employee_id: str, purpose: str = "attendance", **overrides: Any) -> dict[str, Any]:
    return {
        "employee_id": employee_id,
        "purpose": purpose,
        "notice_version": NOTICE,
        "notice_language": "vi",
        "method": "signed_paper",
        **overrides,
    }


def record_consent(
    http: httpx.Client,
    employee_id: str,
    *,
    headers: dict[str, str] | None = None,
    purpose: str = "attendance",
) -> dict[str, Any]:
    """POST a signed-paper consent for ``employee_id`` (``http``'s credentials unless
    ``headers``: they need ``consent:write``); returns the record."""
    response = http.post(CONSENTS, json=consent_body(employee_id, purpose), headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
