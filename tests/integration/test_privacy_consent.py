"""Consent records and privacy notices over the real API (issue 17 item 3): notices in vi and en,
as text and as a PDF for signature; consents recorded, validated, scoped and audited in the
hash-chained log; withdrawal moves the person to PIN / badge check-in (a face sighting of her is
no longer applied, a PIN entry is). Withdrawal emptying the hub and an edge of her templates is
tested in test_gallery_lifecycle.py, enrolment refused without a consent in test_face_api.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.auth.local import issue_local_token
from testkit.consent import CONSENTS, consent_body, record_consent
from testkit.hub import RunningHub, bearer, hub_settings, running_hub, scoped_headers

pytestmark = pytest.mark.integration

NOTICES = "/api/v1/privacy/notices"
PERSON = "emp-consent-1"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    settings = hub_settings(tmp_path_factory.mktemp("hub"), None)
    with running_hub(settings, start_ingest=False) as running:
        yield running


def _audit(hub: RunningHub, action: str) -> list[dict[str, Any]]:
    response = hub.http.get("/api/v1/admin/audit-log", params={"action": action})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_notices_are_listed_in_vi_and_en_and_exported_as_pdf(hub: RunningHub) -> None:
    staff = scoped_headers(hub.settings, "hotel:read")  # every employee may read them
    listed = hub.anonymous.get(NOTICES, headers=staff)
    assert listed.status_code == 200, listed.text
    assert {(n["version"], n["language"]) for n in listed.json()["items"]} >= {
        ("face-v1", "vi"),
        ("face-v1", "en"),
    }
    vi = hub.anonymous.get(f"{NOTICES}/face-v1/vi", headers=staff).json()
    assert "sinh trắc học" in vi["title"]
    assert "thẻ nhân viên" in vi["text"]  # the alternative (PIN or badge) is offered
    pdf = hub.anonymous.get(
        f"{NOTICES}/face-v1/vi/pdf", params={"employee_id": PERSON}, headers=staff
    )
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert b"DejaVuSans" in pdf.content  # the TrueType font with Vietnamese glyphs, embedded
    assert b"/FontFile2" in pdf.content
    missing = hub.anonymous.get(f"{NOTICES}/face-v9/en", headers=staff)
    assert missing.status_code == 404
    assert "face-v1/en" in missing.json()["errors"][0]["reason"]  # names what exists


def test_consents_are_recorded_validated_scoped_and_audited(hub: RunningHub) -> None:
    hr = scoped_headers(hub.settings, "consent:write")
    given = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    created = hub.anonymous.post(
        CONSENTS,
        json=consent_body(PERSON, "access", given_at=given.isoformat(), method="electronic"),
        headers=hr,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["recorded_by"] == "local:test"
    assert body["given_at"] == "2026-03-01T09:00:00Z"
    assert (body["purpose"], body["method"], body["notice_language"]) == (
        "access",
        "electronic",
        "vi",
    )
    refusals = [
        (consent_body(PERSON, notice_version="face-v9"), "notice_version"),
        (consent_body(PERSON, "emotion"), "purpose"),
        (consent_body(PERSON, method="nodded"), "method"),
        (consent_body(PERSON, notice_language="fr"), "notice_language"),
        (
            consent_body(PERSON, given_at=(datetime.now(UTC) + timedelta(days=1)).isoformat()),
            "given_at",
        ),
        (consent_body("../x"), "employee_id"),
    ]
    for request, field in refusals:
        refused = hub.anonymous.post(CONSENTS, json=request, headers=hr)
        assert refused.status_code == 422, (field, refused.text)
        assert any(field in e["field"] for e in refused.json()["errors"]), refused.text

    # the DPO reads (hotel:pii) but does not write; staff neither
    dpo = bearer(issue_local_token(hub.settings, ["privacy:admin", "hotel:pii"], subject="dpo"))
    state = hub.anonymous.get(f"{CONSENTS}/{PERSON}", headers=dpo)
    assert state.status_code == 200, state.text
    assert state.json()["active"] is True
    assert state.json()["employee_known"] is False  # consent before the employee exists
    assert hub.anonymous.post(CONSENTS, json=consent_body(PERSON), headers=dpo).status_code == 403
    staff = scoped_headers(hub.settings, "hotel:read", "hotel:write")
    assert hub.anonymous.get(CONSENTS, headers=staff).status_code == 403
    listed = hub.anonymous.get(CONSENTS, params={"active": "true"}, headers=dpo).json()["items"]
    assert body["consent_id"] in [c["consent_id"] for c in listed]

    (row,) = [r for r in _audit(hub, "consent.record") if r["target"] == f"employee:{PERSON}"]
    assert row["detail"]["consent_id"] == body["consent_id"]
    assert row["seq"] is not None  # in the hash chain
    assert row["hash"]


def test_withdrawal_moves_the_person_to_pin_checkin(hub: RunningHub) -> None:
    person = "emp-consent-2"
    created = hub.http.post("/api/v1/hotel/employees", json={"employee_id": person, "name": "W"})
    assert created.status_code == 201, created.text
    record_consent(hub.http, person)
    record_consent(hub.http, person, purpose="safety")

    # one purpose withdrawn: the other still stands, nothing is deleted
    partial = hub.http.post(f"{CONSENTS}/{person}/withdraw", json={"purpose": "safety"})
    assert partial.status_code == 200, partial.text
    assert partial.json()["remaining_consents"] == 1
    assert partial.json()["non_biometric_checkin"] is False

    withdrawn = hub.http.post(f"{CONSENTS}/{person}/withdraw")
    assert withdrawn.status_code == 200, withdrawn.text
    body = withdrawn.json()
    assert [c["purpose"] for c in body["withdrawn"]] == ["attendance"]
    assert body["withdrawn"][0]["withdrawn_by"] == "local:local-admin"
    assert body["remaining_consents"] == 0
    assert body["non_biometric_checkin"] is True
    again = hub.http.post(f"{CONSENTS}/{person}/withdraw")
    assert again.status_code == 404

    seen = datetime.now(UTC).replace(microsecond=0).isoformat()
    event = {"employee_id": person, "timestamp": seen, "action": "check_in"}
    face = hub.http.post(
        "/api/v1/prefect/events/attendance", json={**event, "confidence": 0.99, "method": "face"}
    )
    assert face.status_code == 409, face.text  # a face sighting of her is no longer applied
    pin = hub.http.post("/api/v1/prefect/events/attendance", json={**event, "method": "pin"})
    assert pin.status_code == 200, pin.text
    assert pin.json()["method"] == "pin"

    state = hub.http.get(f"{CONSENTS}/{person}").json()
    assert state["non_biometric_checkin"] is True
    employee = hub.http.get(f"/api/v1/hotel/employees/{person}").json()
    assert (employee["non_biometric_checkin"], employee["face_consent_at"]) == (True, None)
    assert state["active"] is False
    assert len(state["consents"]) == 2
    rows = [r for r in _audit(hub, "consent.withdraw") if r["target"] == f"employee:{person}"]
    assert len(rows) == 2
    # a new consent puts her back on face check-in
    record_consent(hub.http, person)
    assert hub.http.get(f"{CONSENTS}/{person}").json()["non_biometric_checkin"] is False
