"""``innsight hub backup`` / ``hub restore`` as a hotel's IT runs them (the commands as
processes): a hub with an enrolled person (a real photo, the real dlib backend), events, an
encrypted guest and a trained-model file is backed up, wiped and restored; the restored hub
serves the same events, recognises the same person and decrypts the same PII. A backup of an
older schema is migrated on restore. Damaged, foreign, altered and newer backups, and a
non-empty target, are each refused with their own exit code and nothing is written."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine as create_sync_engine

from hub.backup import (
    EXIT_CHECKSUM,
    EXIT_CORRUPT,
    EXIT_FOREIGN,
    EXIT_NEWER,
    EXIT_NOT_EMPTY,
    MANIFEST,
    SQLITE_MEMBER,
    Manifest,
)
from hub.crypto import PiiCipher
from hub.schema import BASELINE_REVISION, head_revision, inspect_schema
from hub.settings import HubSettings
from models.face_dlib import DlibFaceAnalyzer
from testkit.db_fixture import FIXTURE_DB, expectations, snapshot
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

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

MODEL_FILE = Path("ml") / "occupancy" / "v3" / "model.txt"


@dataclass(frozen=True)
class Original:
    settings: HubSettings
    archive: Path
    events: dict[str, Any]
    guest_id: int
    pii_key: str


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Original:
    """A hub that ran: a person enrolled from a photo, a guest, events, a model version."""
    root = tmp_path_factory.mktemp("backup")
    settings = hub_settings(root / "hub", None)
    with running_hub(
        settings, face_analyzer=DlibFaceAnalyzer(upsample=1), start_ingest=False
    ) as hub:
        enrol(hub)
        guest_id = asyncio.run(add_guest_and_events(settings))
        events = hub.http.get("/api/v1/events").json()
        assert events["total"] == 3
        recognised = recognise(hub)
        assert recognised["success"] is True
        assert recognised["employee_id"] == PERSON
        model = settings.data_dir / MODEL_FILE
        model.parent.mkdir(parents=True)
        model.write_text("tree 0\nleaf=0.25\n", encoding="utf-8")
        pii_key = (settings.data_dir / "pii.key").read_text(encoding="ascii").strip()
        # online: the hub keeps running (SQLite's backup API copies a consistent state)
        archive = root / "hotel.tar.gz"
        done = innsight_cli(
            "hub", "backup", "--out", str(archive), "--data-dir", str(settings.data_dir)
        )
        assert done.returncode == 0, done.stderr
        assert "backup written" in done.stdout
        assert oct(archive.stat().st_mode & 0o777) == "0o600"
        assert hub.http.get("/api/v1/events").json() == events  # undisturbed
    return Original(settings, archive, events, guest_id, pii_key)


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        out: dict[str, bytes] = {}
        for member in tar:
            handle = tar.extractfile(member)
            if handle is not None:
                out[member.name] = handle.read()
        return out


def _write_archive(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_the_backup_holds_everything_with_a_manifest(original: Original) -> None:
    members = _members(original.archive)
    manifest = json.loads(members[MANIFEST])
    assert manifest["format"] == "innsight-hub-backup"
    assert manifest["schema_revision"] == head_revision()
    assert manifest["database"]["kind"] == "sqlite"
    assert manifest["innsight_version"]
    listed = manifest["members"]
    assert set(listed) == set(members) - {MANIFEST}
    assert SQLITE_MEMBER in members
    assert members["secrets/pii.key"].decode().strip() == original.pii_key
    assert "secrets/jwt.secret" in members
    assert f"data/{MODEL_FILE.as_posix()}" in members
    assert any(name.startswith("objects/galleries/") for name in members)  # the face gallery
    assert not any(name.startswith(("data/hub.db", "data/objects/")) for name in members)
    import hashlib

    for name, info in listed.items():
        assert hashlib.sha256(members[name]).hexdigest() == info["sha256"], name


def test_backup_wipe_restore_serves_the_same_hub(original: Original, tmp_path: Path) -> None:
    settings = original.settings
    shutil.rmtree(settings.data_dir)
    done = innsight_cli(
        "hub", "restore", str(original.archive), "--data-dir", str(settings.data_dir)
    )
    assert done.returncode == 0, done.stderr
    assert "restored" in done.stdout
    assert (settings.data_dir / MODEL_FILE).read_text(encoding="utf-8") == "tree 0\nleaf=0.25\n"
    assert oct((settings.data_dir / "pii.key").stat().st_mode & 0o777) == "0o600"

    again = settings.model_copy(update={"api_port": _free_port()})
    with running_hub(again, face_analyzer=DlibFaceAnalyzer(upsample=1), start_ingest=False) as hub:
        assert hub.http.get("/api/v1/events").json() == original.events
        recognised = recognise(hub)
        assert recognised["success"] is True
        assert recognised["employee_id"] == PERSON
        pii = asyncio.run(guest_pii(again, original.guest_id))
        assert pii == (GUEST_EMAIL, GUEST_PASSPORT)
    # and the column is ciphertext on disk, readable with the restored key only
    engine = create_sync_engine(f"sqlite:///{settings.data_dir / 'hub.db'}")
    try:
        with engine.connect() as conn:
            rows = snapshot(conn)["guests"]
    finally:
        engine.dispose()
    (stored,) = [row["email"] for row in rows if row["id"] == original.guest_id]
    assert stored != GUEST_EMAIL
    assert PiiCipher([original.pii_key]).decrypt(stored) == GUEST_EMAIL


def _free_port() -> int:
    from innsight.broker import free_port

    return free_port()


def test_restore_of_an_older_schema_migrates_it(tmp_path: Path) -> None:
    """Release 0.1's database (the fixture) in a backup restores onto this release at head,
    every row kept, its personal fields readable with the backup's key."""
    expect = expectations()
    database = FIXTURE_DB.read_bytes()
    secrets = {
        "secrets/pii.key": (expect.pii_key + "\n").encode(),
        "secrets/jwt.secret": b"x" * 48 + b"\n",
    }
    members = {SQLITE_MEMBER: database, **secrets}
    manifest = Manifest(
        innsight_version="0.1.0",
        schema_revision=BASELINE_REVISION,
        created_at="2026-11-30T00:00:00+00:00",
        site="demo",
        database={"kind": "sqlite", "member": SQLITE_MEMBER},
        object_store={"kind": "local", "objects": 0},
        members={name: {"sha256": _sha(data), "size": len(data)} for name, data in members.items()},
    )
    archive = _write_archive(tmp_path / "old.tar.gz", {MANIFEST: manifest.to_json(), **members})
    data_dir = tmp_path / "restored"
    done = innsight_cli("hub", "restore", str(archive), "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    engine = create_sync_engine(f"sqlite:///{data_dir / 'hub.db'}")
    try:
        with engine.connect() as conn:
            assert inspect_schema(conn).current == head_revision()
            rows = snapshot(conn)
    finally:
        engine.dispose()
    assert {t: len(r) for t, r in rows.items() if t in expect.rows} == expect.rows
    cipher = PiiCipher([(data_dir / "pii.key").read_text().strip()])
    emails = sorted(cipher.decrypt(row["email"]) for row in rows["guests"])
    assert emails == sorted(expect.encrypted["guests"]["email"])


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# Bad input: each refused with its own exit code, nothing written
# ---------------------------------------------------------------------------------------------


def _refused(archive: Path, target: Path, code: int, words: str) -> None:
    done = innsight_cli("hub", "restore", str(archive), "--data-dir", str(target))
    assert done.returncode == code, (done.returncode, done.stderr)
    assert words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not target.exists()


def test_a_file_that_is_no_archive_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(os.urandom(4096))
    _refused(junk, tmp_path / "hub", EXIT_CORRUPT, "not a readable backup archive")


def test_a_truncated_backup_is_refused(original: Original, tmp_path: Path) -> None:
    data = original.archive.read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) // 2])
    _refused(cut, tmp_path / "hub", EXIT_CORRUPT, "damaged")


def test_a_foreign_archive_is_refused(tmp_path: Path) -> None:
    foreign = _write_archive(tmp_path / "photos.tar.gz", {"holiday/beach.jpg": b"\xff\xd8 jpeg"})
    _refused(foreign, tmp_path / "hub", EXIT_FOREIGN, "not an innsight hub backup")
    other = _write_archive(
        tmp_path / "other.tar.gz", {MANIFEST: json.dumps({"format": "something-else"}).encode()}
    )
    _refused(other, tmp_path / "hub", EXIT_FOREIGN, "not an innsight hub backup")
    plain = tmp_path / "plain.gz"
    plain.write_bytes(gzip.compress(b"just text"))
    _refused(plain, tmp_path / "hub", EXIT_CORRUPT, "not a readable backup archive")


def test_an_altered_member_fails_its_sha256(original: Original, tmp_path: Path) -> None:
    members = _members(original.archive)
    members["secrets/jwt.secret"] = b"an attacker's signing secret, 48 characters long\n"
    altered = _write_archive(tmp_path / "altered.tar.gz", members)
    _refused(altered, tmp_path / "hub", EXIT_CHECKSUM, "sha256")


def test_a_backup_of_a_newer_release_is_refused(original: Original, tmp_path: Path) -> None:
    members = _members(original.archive)
    manifest = json.loads(members[MANIFEST])
    manifest["schema_revision"] = "0999_from_the_future"
    manifest["innsight_version"] = "9.0.0"
    members[MANIFEST] = json.dumps(manifest).encode()
    newer = _write_archive(tmp_path / "newer.tar.gz", members)
    _refused(newer, tmp_path / "hub", EXIT_NEWER, "0999_from_the_future")


def test_a_data_dir_in_use_is_not_overwritten(original: Original, tmp_path: Path) -> None:
    target = tmp_path / "in-use"
    target.mkdir()
    (target / "pii.key").write_text("the key of another hotel\n", encoding="ascii")
    done = innsight_cli("hub", "restore", str(original.archive), "--data-dir", str(target))
    assert done.returncode == EXIT_NOT_EMPTY, done.stderr
    assert "not empty" in done.stderr
    assert sorted(p.name for p in target.iterdir()) == ["pii.key"]
    assert (target / "pii.key").read_text(encoding="ascii") == "the key of another hotel\n"


def test_backup_never_overwrites_a_file(original: Original, tmp_path: Path) -> None:
    existing = tmp_path / "exists.tar.gz"
    existing.write_bytes(b"keep me")
    done = innsight_cli(
        "hub", "backup", "--out", str(existing), "--data-dir", str(original.settings.data_dir)
    )
    assert done.returncode == EXIT_NOT_EMPTY, done.stderr
    assert existing.read_bytes() == b"keep me"
