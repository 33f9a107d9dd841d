"""Issue 17: access to biometric/personal data and every admin and flows:run action leaves a
hash-chained audit row (actor, action, target ids, time; never the data), through the real
hub over HTTP; anonymous health callers see only the status and leave no row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.audit_verify import verify_database
from testkit.hub import RunningHub, hub_settings, running_hub, scoped_headers

pytestmark = pytest.mark.integration

NO_EVENT = "01890000-0000-7000-8000-000000000000"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[RunningHub]:
    with running_hub(hub_settings(tmp_path / "hub", None)) as running:
        yield running


def _audit(hub: RunningHub, action: str) -> list[dict[str, object]]:
    page = hub.http.get("/api/v1/admin/audit-log", params={"action": action, "limit": 500})
    assert page.status_code == 200, page.text
    items: list[dict[str, object]] = page.json()["items"]
    return items


def test_audited_accesses_are_chained_and_carry_no_data(hub: RunningHub) -> None:
    reader = scoped_headers(hub.settings, "cv:read")
    runner = scoped_headers(hub.settings, "flows:run")
    viewer = scoped_headers(hub.settings, "ml:read")
    assert hub.anonymous.get("/api/v1/prefect/workflows", headers=runner).status_code == 200
    events = hub.anonymous.get("/api/v1/events", params={"person_id": "EMP001"}, headers=reader)
    assert events.status_code == 200, events.text
    missing = hub.anonymous.get(f"/api/v1/events/{NO_EVENT}", headers=reader)
    assert missing.status_code == 404  # an attempt to read a record is recorded too
    assert hub.anonymous.get("/api/v1/prefect/workflows", headers=viewer).status_code == 403
    health = hub.anonymous.get("/api/v1/prefect/health")
    assert health.status_code == 200
    assert set(health.json()) == {"status"}  # no internals for anonymous callers

    (flows,) = _audit(hub, "api.flows:run")
    assert (flows["actor"], flows["target"]) == ("local:test", "/api/v1/prefect/workflows")
    assert flows["detail"] == {"method": "GET", "route": "/api/v1/prefect/workflows"}
    reads = _audit(hub, "api.cv:read")
    assert sorted(str(r["target"]) for r in reads) == sorted(
        ["/api/v1/events", f"event_id:{NO_EVENT}"]
    )
    assert all("EMP001" not in str(r) for r in reads)  # query values are never kept
    admin = _audit(hub, "api.admin")  # the audit-log reads themselves
    assert admin
    assert all(r["actor"] == "local:local-admin" for r in admin)
    assert all(isinstance(r["seq"], int) and r["hash"] for r in reads + admin + [flows])

    report = verify_database(hub.settings.database_url.get_secret_value())
    assert report.ok, report.problem
    assert report.unchained == 0
    assert report.head_seq == report.rows
