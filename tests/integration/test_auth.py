"""API auth over a real running hub: 401/403/429, API keys, users, device tokens, CORS, audit."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from hub.auth.keys import jwt_secret_of
from hub.auth.tokens import JwtCodec, TokenKind
from hub.db import create_engine, create_session_factory
from hub.device_registry import register_device, revoke_device
from models.faces import DetectedFace, Embedding, FaceBox, Image
from testkit.consent import record_consent
from testkit.hub import (
    SITE,
    RunningHub,
    bearer,
    hub_settings,
    running_hub,
    scoped_headers,
)

pytestmark = pytest.mark.integration

ENROL = "/api/v1/cv/face/enroll"
EMPLOYEE = "emp-auth-1"
EMPLOYEE_NAME = "Personal Name Never Logged"

PROTECTED = [
    ("GET", "/api/v1/events", "cv:read"),
    ("GET", "/api/v1/events/0190b7a5-0000-7000-8000-000000000000", "cv:read"),
    ("GET", "/api/v1/devices", "cv:read"),
    ("GET", "/api/v1/dead-letters", "cv:read"),
    ("POST", ENROL, "cv:write"),
    ("DELETE", f"/api/v1/cv/face/{EMPLOYEE}", "cv:write"),
    ("GET", "/api/v1/cv/gallery/latest", "cv:read"),
    ("GET", "/api/v1/cv/gallery/1", "cv:read"),
    ("GET", "/api/v1/admin/api-keys", "admin"),
    ("POST", "/api/v1/admin/api-keys", "admin"),
    ("DELETE", "/api/v1/admin/api-keys/1", "admin"),
    ("POST", "/api/v1/admin/users", "admin"),
    ("GET", "/api/v1/admin/audit-log", "admin"),
]


class FakeAnalyzer:
    """One face in the middle of every image; a fixed unit embedding."""

    model_id = "fake-v1"
    dim = 4

    def detect(self, image: Image) -> list[DetectedFace]:
        h, w = image.shape[:2]
        return [DetectedFace(FaceBox(w // 8, h // 8, w * 3 // 4, h * 3 // 4), 0.99)]

    def embed(self, image: Image, face: DetectedFace) -> Embedding:  # noqa: ARG002
        return np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)


def photo_b64(seed: int = 0) -> str:
    image = np.random.default_rng(seed).integers(0, 255, size=(128, 128, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    return base64.b64encode(encoded.tobytes()).decode()


def enrol_body(employee_id: str = EMPLOYEE) -> dict[str, Any]:
    return {"employee_id": employee_id, "name": EMPLOYEE_NAME, "images": [photo_b64()]}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    settings = hub_settings(tmp_path_factory.mktemp("hub"), None)
    with running_hub(settings, face_analyzer=FakeAnalyzer(), start_ingest=False) as running:
        for person in (EMPLOYEE, "emp-device-test"):
            record_consent(running.http, person)
        yield running


def db_rows(hub: RunningHub, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(hub.settings.data_dir / "hub.db") as conn:
        return conn.execute(sql).fetchall()


def assert_error_body(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert body["detail"]
    assert body["errors"]
    return body


# ---------------------------------------------------------------------------------------------
# 401 / 403
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "scope"), PROTECTED)
def test_no_credentials_is_401_with_www_authenticate(
    hub: RunningHub, method: str, path: str, scope: str
) -> None:
    response = hub.anonymous.request(method, path, json={} if method == "POST" else None)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    body = assert_error_body(response)
    assert "not authenticated" in body["detail"]


@pytest.mark.parametrize(("method", "path", "scope"), PROTECTED)
def test_credentials_without_the_scope_are_403_naming_it(
    hub: RunningHub, method: str, path: str, scope: str
) -> None:
    # ml:read + llm:use: valid credentials that none of these routes accepts
    headers = scoped_headers(hub.settings, "ml:read", "llm:use")
    response = hub.anonymous.request(
        method, path, headers=headers, json={} if method == "POST" else None
    )
    assert response.status_code == 403, response.text
    body = assert_error_body(response)
    assert f"missing scope {scope}" in body["detail"]
    assert body["errors"][0]["field"] == "scope"
    assert f'scope="{scope}"' in response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


def test_read_scope_reads_but_does_not_write(hub: RunningHub) -> None:
    reader = scoped_headers(hub.settings, "cv:read")
    assert hub.anonymous.get("/api/v1/events", headers=reader).status_code == 200
    refused = hub.anonymous.post(ENROL, headers=reader, json=enrol_body())
    assert refused.status_code == 403
    assert "cv:write" in refused.json()["detail"]


def _codec(hub: RunningHub, secret: str | None = None) -> JwtCodec:
    return JwtCodec(secret or jwt_secret_of(hub.settings), site=SITE)


def test_expired_token_is_401(hub: RunningHub) -> None:
    token = _codec(hub).encode(
        "someone",
        {"admin"},
        ttl=timedelta(minutes=1),
        kind=TokenKind.LOCAL,
        now=datetime.now(UTC) - timedelta(minutes=10),
    )
    response = hub.anonymous.get("/api/v1/events", headers=bearer(token))
    assert response.status_code == 401
    assert "expired" in assert_error_body(response)["detail"]
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("forged", id="wrong-signature"),
        pytest.param("garbage", id="not-a-jwt"),
        pytest.param("tampered", id="tampered-payload"),
    ],
)
def test_bad_tokens_are_401(hub: RunningHub, token: str) -> None:
    if token == "forged":
        token = _codec(hub, "x" * 48).encode("mallory", {"admin"}, ttl=timedelta(minutes=5))
    elif token == "tampered":
        real = _codec(hub).encode("reader", {"cv:read"}, ttl=timedelta(minutes=5))
        head, _payload, sig = real.split(".")
        other = _codec(hub).encode("reader", {"admin"}, ttl=timedelta(minutes=5))
        token = f"{head}.{other.split('.')[1]}.{sig}"
    else:
        token = "definitely.not.a-token"
    response = hub.anonymous.get("/api/v1/admin/api-keys", headers=bearer(token))
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert_error_body(response)


# ---------------------------------------------------------------------------------------------
# API keys
# ---------------------------------------------------------------------------------------------


def test_api_key_lifecycle_and_only_its_hash_is_stored(hub: RunningHub) -> None:
    created = hub.http.post(
        "/api/v1/admin/api-keys", json={"name": "pms integration", "scopes": ["cv:read"]}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    key = body["key"]
    assert key.startswith("ik_")
    assert body["prefix"] == key[:11]
    assert body["scopes"] == ["cv:read"]
    assert body["created_by"] == "local:local-admin"
    assert body["revoked_at"] is None

    # works as X-API-Key and as a bearer; its scopes hold
    assert hub.anonymous.get("/api/v1/events", headers={"X-API-Key": key}).status_code == 200
    assert hub.anonymous.get("/api/v1/events", headers=bearer(key)).status_code == 200
    refused = hub.anonymous.post(ENROL, headers={"X-API-Key": key}, json=enrol_body())
    assert refused.status_code == 403
    assert "cv:write" in refused.json()["detail"]

    # the database holds the SHA-256, never the key
    ((stored_hash, prefix),) = [
        (h, p)
        for i, h, p in db_rows(hub, "SELECT id, key_hash, prefix FROM api_keys")
        if i == body["id"]
    ]
    assert stored_hash == hashlib.sha256(key.encode()).hexdigest()
    assert prefix == key[:11]
    for path in hub.settings.data_dir.glob("hub.db*"):
        assert key.encode() not in path.read_bytes()
    listed = hub.http.get("/api/v1/admin/api-keys").json()["items"]
    mine = next(k for k in listed if k["id"] == body["id"])
    assert "key" not in mine
    assert "key_hash" not in mine

    # revoked: refused at once; revoking again changes nothing
    revoked = hub.http.delete(f"/api/v1/admin/api-keys/{body['id']}")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    after = hub.anonymous.get("/api/v1/events", headers={"X-API-Key": key})
    assert after.status_code == 401
    assert "revoked" in after.json()["detail"]
    assert hub.anonymous.get("/api/v1/events", headers=bearer(key)).status_code == 401
    assert hub.http.delete(f"/api/v1/admin/api-keys/{body['id']}").status_code == 200
    assert hub.http.delete("/api/v1/admin/api-keys/999999").status_code == 404

    audit = hub.http.get("/api/v1/admin/audit-log", params={"limit": 500}).json()["items"]
    target = f"api_key:{body['id']}"
    assert [a["action"] for a in audit if a["target"] == target] == [
        "api_key.revoke",
        "api_key.create",
    ]


def test_unknown_api_keys_are_401(hub: RunningHub) -> None:
    for headers in ({"X-API-Key": "ik_" + "A" * 43}, {"X-API-Key": "not-a-key"}):
        response = hub.anonymous.get("/api/v1/events", headers=headers)
        assert response.status_code == 401
        assert response.json()["errors"][0]["field"] == "X-API-Key"


def test_api_key_scopes_are_validated(hub: RunningHub) -> None:
    response = hub.http.post("/api/v1/admin/api-keys", json={"name": "x", "scopes": ["root"]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"].startswith("scopes")
    response = hub.http.post("/api/v1/admin/api-keys", json={"name": "x", "scopes": []})
    assert response.status_code == 422


# ---------------------------------------------------------------------------------------------
# Users and the password flow
# ---------------------------------------------------------------------------------------------


def _token(hub: RunningHub, username: str, password: str, scope: str = "") -> httpx.Response:
    data = {"grant_type": "password", "username": username, "password": password}
    if scope:
        data["scope"] = scope
    return hub.anonymous.post("/api/v1/auth/token", data=data)


def test_password_flow_gives_a_token_with_the_roles_scopes(hub: RunningHub) -> None:
    created = hub.http.post(
        "/api/v1/admin/users",
        json={"username": "frontdesk", "password": "correct horse battery", "role": "viewer"},
    )
    assert created.status_code == 201, created.text
    assert "password" not in created.text
    assert created.json()["role"] == "viewer"
    duplicate = hub.http.post(
        "/api/v1/admin/users",
        json={"username": "frontdesk", "password": "another long one!", "role": "staff"},
    )
    assert duplicate.status_code == 409
    (stored,) = db_rows(hub, "SELECT password_hash FROM users WHERE username = 'frontdesk'")
    assert stored[0].startswith("$argon2id$")

    issued = _token(hub, "frontdesk", "correct horse battery")
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["token_type"] == "bearer"
    assert body["scope"] == "cv:read ml:read"
    assert body["expires_in"] == hub.settings.access_token_expire_minutes * 60
    headers = bearer(body["access_token"])
    assert hub.anonymous.get("/api/v1/events", headers=headers).status_code == 200
    assert hub.anonymous.post(ENROL, headers=headers, json=enrol_body()).status_code == 403

    narrowed = _token(hub, "frontdesk", "correct horse battery", scope="cv:read")
    assert narrowed.json()["scope"] == "cv:read"
    too_much = _token(hub, "frontdesk", "correct horse battery", scope="cv:write")
    assert too_much.status_code == 400
    assert too_much.json()["errors"][0]["field"] == "scope"
    unknown = _token(hub, "frontdesk", "correct horse battery", scope="root")
    assert unknown.status_code == 400

    for username, password in (("frontdesk", "wrong password!!"), ("nobody", "whatever123")):
        refused = _token(hub, username, password)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert "incorrect username or password" in refused.json()["detail"]

    # a disabled user can neither sign in nor use a token issued before
    with sqlite3.connect(hub.settings.data_dir / "hub.db") as conn:
        conn.execute("UPDATE users SET disabled = 1 WHERE username = 'frontdesk'")
    assert _token(hub, "frontdesk", "correct horse battery").status_code == 401
    old = hub.anonymous.get("/api/v1/events", headers=headers)
    assert old.status_code == 401
    assert "disabled" in old.json()["detail"]

    audit = hub.http.get("/api/v1/admin/audit-log", params={"action": "user.create"}).json()
    assert audit["items"][0]["detail"] == {"role": "viewer", "disabled": False}


def test_user_creation_is_validated(hub: RunningHub) -> None:
    short = hub.http.post(
        "/api/v1/admin/users", json={"username": "x", "password": "short", "role": "viewer"}
    )
    assert short.status_code == 422
    assert short.json()["errors"][0]["field"] == "password"
    role = hub.http.post(
        "/api/v1/admin/users",
        json={"username": "x", "password": "long enough password", "role": "root"},
    )
    assert role.status_code == 422
    assert role.json()["errors"][0]["field"] == "role"


# ---------------------------------------------------------------------------------------------
# Device tokens (gallery downloads)
# ---------------------------------------------------------------------------------------------


async def _enrol_device(hub: RunningHub, device_id: str) -> str:
    engine = create_engine(hub.settings.database_url.get_secret_value())
    try:
        async with create_session_factory(engine)() as session:
            token = await register_device(session, device_id, SITE, ["cam-1"])
            await session.commit()
        return token
    finally:
        await engine.dispose()


async def _revoke_device(hub: RunningHub, device_id: str) -> None:
    engine = create_engine(hub.settings.database_url.get_secret_value())
    try:
        async with create_session_factory(engine)() as session:
            await revoke_device(session, device_id)
            await session.commit()
    finally:
        await engine.dispose()


def test_device_token_downloads_the_gallery_until_revoked(hub: RunningHub) -> None:
    enrolled = hub.http.post(ENROL, json=enrol_body("emp-device-test"))
    assert enrolled.status_code == 200, enrolled.text
    version = enrolled.json()["gallery_version"]

    token = asyncio.run(_enrol_device(hub, "edge-auth-1"))
    device = bearer(token)
    latest = hub.anonymous.get("/api/v1/cv/gallery/latest", headers=device)
    assert latest.status_code == 200, latest.text
    assert int(latest.headers["x-gallery-version"]) >= version
    assert hub.anonymous.get(f"/api/v1/cv/gallery/{version}", headers=device).status_code == 200
    # a device token is good for galleries only
    assert hub.anonymous.get("/api/v1/events", headers=device).status_code == 401
    assert hub.anonymous.post(ENROL, headers=device, json=enrol_body()).status_code == 401

    asyncio.run(_revoke_device(hub, "edge-auth-1"))
    refused = hub.anonymous.get("/api/v1/cv/gallery/latest", headers=device)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")


# ---------------------------------------------------------------------------------------------
# Audit of biometric enrolment and deletion
# ---------------------------------------------------------------------------------------------


def test_enrol_and_delete_are_audited_without_personal_data(hub: RunningHub) -> None:
    writer = scoped_headers(hub.settings, "cv:write", "consent:write")
    record_consent(hub.anonymous, "emp-audit-1", headers=writer)
    enrolled = hub.anonymous.post(ENROL, headers=writer, json=enrol_body("emp-audit-1"))
    assert enrolled.status_code == 200, enrolled.text
    deleted = hub.anonymous.delete("/api/v1/cv/face/emp-audit-1", headers=writer)
    assert deleted.status_code == 200, deleted.text

    rows = db_rows(
        hub,
        "SELECT actor, action, target, detail, at FROM audit_log "
        "WHERE target = 'employee:emp-audit-1' ORDER BY id",
    )
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("local:test", "consent.record", "employee:emp-audit-1"),
        ("local:test", "face.enroll", "employee:emp-audit-1"),
        ("local:test", "face.delete", "employee:emp-audit-1"),
    ]
    assert '"faces": 1' in rows[1][3]
    assert '"faces_deleted": 1' in rows[2][3]
    assert all(r[4] for r in rows)
    everything = db_rows(hub, "SELECT * FROM audit_log")
    assert EMPLOYEE_NAME not in repr(everything)
    assert photo_b64()[:40] not in repr(everything)


# ---------------------------------------------------------------------------------------------
# Health and metrics
# ---------------------------------------------------------------------------------------------


def test_health_is_open_but_minimal_without_cv_read(hub: RunningHub) -> None:
    open_body = hub.anonymous.get("/api/v1/cv/health").json()
    assert open_body["status"] in {"healthy", "degraded", "unhealthy"}
    assert {k for k, v in open_body.items() if v is not None} == {"status", "timestamp", "version"}
    bad_token = hub.anonymous.get("/api/v1/cv/health", headers=bearer("x.y.z")).json()
    assert bad_token["database"] is None
    detailed = hub.anonymous.get(
        "/api/v1/cv/health", headers=scoped_headers(hub.settings, "cv:read")
    ).json()
    assert detailed["database"]["ok"] is True


def test_metrics_open_on_loopback(hub: RunningHub) -> None:
    assert hub.anonymous.get("/metrics").status_code == 200


def test_metrics_need_metrics_read_when_not_open(tmp_path: Path) -> None:
    settings = hub_settings(tmp_path / "hub", None, metrics_open_on_loopback=False)
    with running_hub(settings, start_ingest=False) as closed:
        assert closed.anonymous.get("/metrics").status_code == 401
        reader = scoped_headers(settings, "cv:read")
        assert closed.anonymous.get("/metrics", headers=reader).status_code == 403
        allowed = closed.anonymous.get("/metrics", headers=scoped_headers(settings, "metrics:read"))
        assert allowed.status_code == 200
        assert "innsight_http_requests_total" in allowed.text


# ---------------------------------------------------------------------------------------------
# Rate limits
# ---------------------------------------------------------------------------------------------


def test_enrolment_and_recognition_are_rate_limited_per_caller(tmp_path: Path) -> None:
    settings = hub_settings(
        tmp_path / "hub",
        None,
        rate_limit_heavy_burst=2,
        rate_limit_heavy_per_minute=1,
        rate_limit_login_burst=2,
        rate_limit_login_per_minute=1,
        rate_limit_recognize_burst=2,
        rate_limit_recognize_per_minute=1,
    )
    with running_hub(settings, face_analyzer=FakeAnalyzer(), start_ingest=False) as limited:
        record_consent(limited.http, EMPLOYEE)
        alice = scoped_headers(settings, "cv:write")
        for _ in range(2):
            ok = limited.anonymous.post(ENROL, headers=alice, json=enrol_body())
            assert ok.status_code == 200, ok.text
        refused = limited.anonymous.post(ENROL, headers=alice, json=enrol_body())
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        body = assert_error_body(refused)
        assert body["errors"][0]["field"] == "rate_limit"
        # another caller has its own bucket
        assert limited.http.post(ENROL, json=enrol_body()).status_code == 200
        # reads are not limited
        for _ in range(5):
            assert limited.anonymous.get("/api/v1/events", headers=alice).status_code == 403
        # recognition has its own limit (no free oracle for tuning an attack image)
        bob = scoped_headers(settings, "cv:read")
        recognize = "/api/v1/cv/face/recognize"
        for _ in range(2):
            answer = limited.anonymous.post(recognize, headers=bob, json={"image": photo_b64()})
            assert answer.status_code == 200, answer.text
        refused = limited.anonymous.post(recognize, headers=bob, json={"image": photo_b64()})
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert assert_error_body(refused)["errors"][0]["field"] == "rate_limit"

        # sign-in attempts are limited per client address
        data = {"username": "nobody", "password": "wrong password"}
        codes = [limited.anonymous.post("/api/v1/auth/token", data=data).status_code for _ in "abc"]
        assert codes == [401, 401, 429]


# ---------------------------------------------------------------------------------------------
# CORS
# ---------------------------------------------------------------------------------------------


def _preflight(client: httpx.Client, origin: str) -> httpx.Response:
    return client.options(
        "/api/v1/events",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )


def test_cors_is_closed_by_default(hub: RunningHub) -> None:
    assert hub.settings.cors_origins == []
    preflight = _preflight(hub.anonymous, "https://evil.example")
    assert "access-control-allow-origin" not in preflight.headers
    plain = hub.http.get("/api/v1/events", headers={"Origin": "https://evil.example"})
    assert plain.status_code == 200
    assert "access-control-allow-origin" not in plain.headers


def test_cors_allows_only_configured_origins(tmp_path: Path) -> None:
    origin = "https://frontdesk.hotel.example"
    settings = hub_settings(tmp_path / "hub", None, cors_origins=[origin])
    with running_hub(settings, start_ingest=False) as open_hub:
        allowed = _preflight(open_hub.anonymous, origin)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == origin
        refused = _preflight(open_hub.anonymous, "https://evil.example")
        assert "access-control-allow-origin" not in refused.headers
        got = open_hub.http.get("/api/v1/events", headers={"Origin": origin})
        assert got.headers["access-control-allow-origin"] == origin


# ---------------------------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------------------------


def test_secrets_are_generated_into_the_data_dir_with_mode_0600(hub: RunningHub) -> None:
    assert hub.settings.jwt_secret is None
    for name in ("jwt.secret", "pii.key"):
        path = hub.settings.data_dir / name
        assert path.stat().st_mode & 0o777 == 0o600


ML_ROUTES = [
    ("GET", "/api/v1/ml/health"),
    ("POST", "/api/v1/ml/forecast/occupancy"),
    ("POST", "/api/v1/ml/churn/predict"),
    ("POST", "/api/v1/ml/retrain/all"),
]


@pytest.mark.parametrize(("method", "path"), ML_ROUTES)
def test_ml_surface_needs_ml_read(hub: RunningHub, method: str, path: str) -> None:
    body: dict[str, Any] | None = {} if method == "POST" else None
    assert hub.anonymous.request(method, path, json=body).status_code == 401
    cv_only = scoped_headers(hub.settings, "cv:read", "cv:write")
    refused = hub.anonymous.request(method, path, headers=cv_only, json=body)
    assert refused.status_code == 403, refused.text
    assert "missing scope ml:read" in refused.json()["detail"]


def test_training_needs_ml_write(hub: RunningHub) -> None:
    reader = scoped_headers(hub.settings, "ml:read")
    assert hub.anonymous.get("/api/v1/ml/health", headers=reader).status_code == 200
    refused = hub.anonymous.post("/api/v1/ml/retrain/all", headers=reader)
    assert refused.status_code == 403, refused.text
    assert "missing scope ml:write" in refused.json()["detail"]
