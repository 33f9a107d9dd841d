"""``POST /api/v1/admin/users`` refuses the passwords ``innsight hub init`` refuses, with a 422
that names the field and every reason (hub/auth/password_policy.py), and stores nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.hub import hub_settings, running_hub

pytestmark = pytest.mark.integration


def test_weak_passwords_are_refused_over_the_api(tmp_path: Path) -> None:
    settings = hub_settings(tmp_path / "hub", None)
    with running_hub(settings, start_ingest=False) as hub:
        for password, reason in (
            ("password123456", "a common password"),
            ("Reception2026!", "a common password"),
            ("maria-at-the-desk", "contains the username"),
        ):
            refused = hub.http.post(
                "/api/v1/admin/users",
                json={"username": "maria", "password": password, "role": "staff"},
            )
            assert refused.status_code == 422, refused.text
            (error,) = refused.json()["errors"]
            assert error["field"] == "password"
            assert reason in error["reason"]
            assert password not in refused.text
        created = hub.http.post(
            "/api/v1/admin/users",
            json={"username": "maria", "password": "tulip-marble-anchor-97", "role": "staff"},
        )
        assert created.status_code == 201, created.text
