"""Backup and restore of a whole hub: one ``.tar.gz`` with a manifest.

A backup holds:

- ``database/hub.sqlite``: a consistent copy of the live SQLite database (sqlite3's online
  backup API), or ``database/hub.pgdump``: ``pg_dump --format=custom`` of the PostgreSQL one
  (a ``pg_dump`` at least as new as the server is picked among the installed ones);
- ``objects/<key>``: every object of the store (the local folder, or the S3/MinIO bucket):
  snapshots, uploaded images, the face galleries' artefacts;
- ``secrets/jwt.secret``, ``secrets/pii.key``: the token signing secret and the PII key(s) in
  effect (without the PII key the encrypted personal fields are unreadable);
- ``data/<path>``: every other file of the data dir (trained ML model versions under ``ml/``,
  the image index, the assistant's memory database: SQLite files again by the backup API);
- ``manifest.json`` (first member): format, innsight version, schema revision, the database's
  kind, and the sha256 and size of every other member.

``restore`` checks the whole archive (readable, manifest, every sha256, a schema revision this
release knows) and that every target is empty (data dir, SQLite file, PostgreSQL database,
object store) before it writes anything; then it writes, and migrates the restored database to
this release's head (a backup of an older release is upgraded).

Treat a backup file like the PII key itself: it holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from hub.auth.keys import JWT_SECRET_FILE, PII_KEY_FILE, with_secrets
from hub.schema import innsight_version, known_revisions, sqlite_file
from hub.settings import HubSettings

logger = logging.getLogger(__name__)

FORMAT = "innsight-hub-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/hub.sqlite"
PGDUMP_MEMBER = "database/hub.pgdump"
_SQLITE_HEADER = b"SQLite format 3\x00"
_SQLITE_SIDECARS = ("-wal", "-shm", "-journal", ".migrate.lock")
_CHUNK = 1024 * 1024

# Exit codes of ``innsight hub backup`` / ``hub restore`` (one per kind of failure).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CORRUPT = 3
EXIT_FOREIGN = 4
EXIT_CHECKSUM = 5
EXIT_NEWER = 6
EXIT_NOT_EMPTY = 7
EXIT_TOOL = 8


class BackupError(RuntimeError):
    """A backup or restore that cannot go on; ``exit_code`` says which kind."""

    exit_code = EXIT_FAILED


class CorruptArchiveError(BackupError):
    """Not a readable archive, or members missing/unexpected."""

    exit_code = EXIT_CORRUPT


class ForeignArchiveError(BackupError):
    """No manifest, or not an innsight hub backup's."""

    exit_code = EXIT_FOREIGN


class ChecksumMismatchError(BackupError):
    """A member's sha256 or size differs from the manifest's."""

    exit_code = EXIT_CHECKSUM


class NewerBackupError(BackupError):
    """The backup's schema revision is unknown to this release (a newer release wrote it)."""

    exit_code = EXIT_NEWER


class TargetNotEmptyError(BackupError):
    """Restoring would overwrite something: the data dir, database or store is not empty."""

    exit_code = EXIT_NOT_EMPTY


class DatabaseToolError(BackupError):
    """pg_dump / pg_restore missing, too old for the server, or failing."""

    exit_code = EXIT_TOOL


@dataclass
class Manifest:
    innsight_version: str
    schema_revision: str | None
    created_at: str
    site: str
    database: dict[str, Any]
    object_store: dict[str, Any]
    members: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> bytes:
        document = {"format": FORMAT, "format_version": FORMAT_VERSION, **self.__dict__}
        return json.dumps(document, indent=1, sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            document = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ForeignArchiveError(f"{MANIFEST} is not JSON: {err}") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ForeignArchiveError(
                f"{MANIFEST} is not an innsight hub backup's (format != {FORMAT!r})"
            )
        if document.get("format_version") != FORMAT_VERSION:
            raise NewerBackupError(
                f"backup format {document.get('format_version')!r} is not {FORMAT_VERSION}: "
                "written by another innsight release"
            )
        try:
            manifest = cls(
                innsight_version=str(document["innsight_version"]),
                schema_revision=document["schema_revision"],
                created_at=str(document["created_at"]),
                site=str(document["site"]),
                database=dict(document["database"]),
                object_store=dict(document["object_store"]),
                members={str(k): dict(v) for k, v in document["members"].items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ForeignArchiveError(f"{MANIFEST} lacks or mangles {err}") from None
        for name, info in manifest.members.items():
            if not _safe_member(name) or not re.fullmatch(r"[0-9a-f]{64}", str(info.get("sha256"))):
                raise ForeignArchiveError(f"{MANIFEST} lists a bad member {name[:80]!r}")
        return manifest


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    manifest: Manifest

    def describe(self) -> str:
        objects = self.manifest.object_store.get("objects", 0)
        return (
            f"{self.path}: innsight {self.manifest.innsight_version}, schema "
            f"{self.manifest.schema_revision}, {self.manifest.database['kind']} database, "
            f"{objects} object(s), {len(self.manifest.members)} member(s)"
        )


# ---------------------------------------------------------------------------------------------
# Backup
# ---------------------------------------------------------------------------------------------


def backup(settings: HubSettings, out: Path) -> BackupSummary:
    """Write a backup of the hub described by ``settings`` to ``out`` (must not exist)."""
    if out.exists():
        raise TargetNotEmptyError(f"{out} exists: give a new file name")
    settings = with_secrets(settings)
    url = settings.database_url.get_secret_value()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".innsight-backup-", dir=out.parent) as folder:
        stage = Path(folder)
        database, revision = _stage_database(url, stage)
        object_info = _stage_objects(settings, stage / "objects")
        _stage_secrets(settings, stage / "secrets")
        _stage_data_dir(settings, stage / "data")
        manifest = Manifest(
            innsight_version=innsight_version(),
            schema_revision=revision,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            site=settings.site,
            database=database,
            object_store=object_info,
        )
        for path in sorted(p for p in stage.rglob("*") if p.is_file()):
            name = path.relative_to(stage).as_posix()
            manifest.members[name] = {"sha256": _sha256(path), "size": path.stat().st_size}
        partial = out.with_name(f".{out.name}.partial")
        with tarfile.open(partial, "w:gz") as tar:
            raw = manifest.to_json()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(raw)
            info.mtime = int(datetime.now(UTC).timestamp())
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(raw))
            for name in manifest.members:
                tar.add(stage / name, arcname=name, recursive=False)
        partial.chmod(0o600)
        os.replace(partial, out)
    logger.info("backup written to %s (%d members)", out, len(manifest.members))
    return BackupSummary(out, manifest)


def _stage_database(url: str, stage: Path) -> tuple[dict[str, Any], str | None]:
    from hub.db import copy_sqlite

    (stage / "database").mkdir(parents=True)
    db_file = sqlite_file(url)
    if db_file is not None:
        if not db_file.is_file():
            raise BackupError(f"no database at {db_file}")
        target = stage / SQLITE_MEMBER
        copy_sqlite(db_file, target)
        return {"kind": "sqlite", "member": SQLITE_MEMBER}, _revision_of(f"sqlite:///{target}")
    if not url.startswith("postgresql"):
        raise BackupError("only SQLite and PostgreSQL databases can be backed up")
    revision = _revision_of(url)
    server = _pg_server_major(url)
    pg_dump = pg_tool("pg_dump", server)
    target = stage / PGDUMP_MEMBER
    uri, env = _libpq(url)
    _run_tool(
        [
            str(pg_dump.path),
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            f"--file={target}",
            f"--dbname={uri}",
        ],
        env,
    )
    database = {
        "kind": "postgresql",
        "member": PGDUMP_MEMBER,
        "server_major": server,
        "pg_dump_major": pg_dump.major,
    }
    return database, revision


def _revision_of(url: str) -> str | None:
    from sqlalchemy import create_engine

    from hub.schema import inspect_schema, sync_url

    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            state = inspect_schema(conn)
    finally:
        engine.dispose()
    if state.legacy:
        from hub.schema import BASELINE_REVISION

        return BASELINE_REVISION
    return state.current


def _stage_objects(settings: HubSettings, folder: Path) -> dict[str, Any]:
    folder.mkdir(parents=True)
    count = 0
    if settings.s3_endpoint:
        client, bucket = _s3_client(settings)
        if client.bucket_exists(bucket):
            for item in client.list_objects(bucket, recursive=True):
                target = _object_path(folder, item.object_name)
                target.parent.mkdir(parents=True, exist_ok=True)
                client.fget_object(bucket, item.object_name, str(target))
                count += 1
        return {"kind": "s3", "bucket": bucket, "objects": count}
    root = settings.objects_dir
    if root.is_dir():
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if path.name.startswith(".tmp-"):
                continue  # a write in progress (LocalFolderStore's temp file)
            target = folder / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            count += 1
    return {"kind": "local", "objects": count}


def _object_path(folder: Path, key: str) -> Path:
    from hub.storage import validate_key

    return folder / validate_key(key)


def _stage_secrets(settings: HubSettings, folder: Path) -> None:
    folder.mkdir(parents=True)
    for name, secret in ((JWT_SECRET_FILE, settings.jwt_secret), (PII_KEY_FILE, settings.pii_key)):
        if secret is None:  # with_secrets fills both
            raise BackupError(f"no {name} in effect")
        path = folder / name
        path.write_text(secret.get_secret_value() + "\n", encoding="ascii")
        path.chmod(0o600)


def _stage_data_dir(settings: HubSettings, folder: Path) -> None:
    """Every file of the data dir but the database, the object store and the secrets (staged
    on their own), the database's sidecars and pre-migration copies; SQLite files (the
    assistant's memory) copied consistently."""
    from hub.db import copy_sqlite

    folder.mkdir(parents=True)
    data_dir = settings.data_dir
    if not data_dir.is_dir():
        return
    db_file = sqlite_file(settings.database_url.get_secret_value())
    skip_files = {data_dir / JWT_SECRET_FILE, data_dir / PII_KEY_FILE}
    if db_file is not None:
        skip_files.add(db_file)
    objects_root = settings.objects_dir.resolve()
    sqlite_files = [p for p in data_dir.rglob("*") if p.is_file() and _is_sqlite(p)]
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        if path in skip_files or path.resolve().is_relative_to(objects_root):
            continue
        if db_file is not None and path.name.startswith(db_file.name + ".pre-"):
            continue  # hub.db.pre-<revision>-<time>.bak: the copies taken before migrating
        if any(path.name == s.name + suffix for s in sqlite_files for suffix in _SQLITE_SIDECARS):
            continue
        if path.name.endswith(_SQLITE_SIDECARS) or path.name.startswith("."):
            continue
        target = folder / path.relative_to(data_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path in sqlite_files:
            copy_sqlite(path, target)
        else:
            shutil.copy2(path, target)


def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(_SQLITE_HEADER)) == _SQLITE_HEADER
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# Restore
# ---------------------------------------------------------------------------------------------


def read_manifest(archive: Path) -> Manifest:
    """The manifest of ``archive``, after checking every member against it (sha256, size,
    nothing missing or extra). Raises the :class:`BackupError` that names the problem."""
    with _open(archive) as tar:
        manifest = _manifest_of(tar)
        seen: set[str] = set()
        try:
            for member in tar:
                if member.name == MANIFEST:
                    continue
                if member.isdir():
                    continue
                if not member.isfile() or not _safe_member(member.name):
                    raise CorruptArchiveError(f"unexpected member {member.name[:80]!r}")
                expected = manifest.members.get(member.name)
                if expected is None:
                    raise CorruptArchiveError(f"{member.name[:80]!r} is not in the manifest")
                handle = tar.extractfile(member)
                if handle is None:
                    raise CorruptArchiveError(f"cannot read {member.name[:80]!r}")
                digest, size = _digest(handle)
                if digest != expected["sha256"] or size != expected.get("size", size):
                    raise ChecksumMismatchError(
                        f"{member.name} does not match the manifest's sha256: the backup was "
                        "altered or damaged"
                    )
                seen.add(member.name)
        except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
            raise CorruptArchiveError(f"{archive} is damaged: {err}") from None
    missing = sorted(set(manifest.members) - seen)
    if missing:
        raise CorruptArchiveError(f"members missing from the archive: {', '.join(missing[:5])}")
    return manifest


def restore(archive: Path, settings: HubSettings) -> Manifest:
    """Restore ``archive`` into the hub ``settings`` describe (every target empty), then
    migrate its database to this release's head."""
    manifest = read_manifest(archive)
    if manifest.schema_revision is not None and manifest.schema_revision not in known_revisions():
        raise NewerBackupError(
            f"the backup's database is at schema revision {manifest.schema_revision!r} "
            f"(innsight {manifest.innsight_version}), which innsight {innsight_version()} does "
            "not know: restore it with that release or a newer one"
        )
    database_kind = manifest.database.get("kind")
    member = {"sqlite": SQLITE_MEMBER, "postgresql": PGDUMP_MEMBER}.get(str(database_kind))
    if member is None:
        raise ForeignArchiveError(f"unknown database kind {database_kind!r} in the manifest")
    if member not in manifest.members:
        raise CorruptArchiveError(f"the archive lacks its database ({member})")
    url = settings.database_url.get_secret_value()
    db_file = sqlite_file(url)
    if database_kind == "sqlite" and db_file is None:
        raise BackupError("the backup holds a SQLite database: set a sqlite+aiosqlite URL")
    if database_kind == "postgresql" and not url.startswith("postgresql"):
        raise BackupError("the backup holds a PostgreSQL dump: set a postgresql+asyncpg URL")
    _require_empty_targets(settings, db_file)
    pg_restore = None
    if database_kind == "postgresql":
        need = max(int(manifest.database.get("pg_dump_major", 0)), _pg_server_major(url))
        pg_restore = pg_tool("pg_restore", need)

    data_dir = settings.data_dir
    created_data_dir = not data_dir.exists()
    parent = data_dir.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".innsight-restore-", dir=parent) as folder:
        stage = Path(folder)
        _extract_verified(archive, manifest, stage)
        try:
            _write_restored(stage, manifest, settings, db_file, pg_restore)
        except BaseException:
            _undo_data_dir(data_dir, created_data_dir, db_file)
            raise
    _migrate_restored(settings)
    logger.info("restored %s into %s", archive, data_dir)
    return manifest


def _require_empty_targets(settings: HubSettings, db_file: Path | None) -> None:
    data_dir = settings.data_dir
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise TargetNotEmptyError(
            f"{data_dir} is not empty: restore into a new or empty data dir (nothing was written)"
        )
    if db_file is not None and db_file.exists():
        raise TargetNotEmptyError(f"{db_file} exists: restore into a new database")
    url = settings.database_url.get_secret_value()
    if db_file is None and _pg_has_tables(url):
        raise TargetNotEmptyError(
            "the PostgreSQL database has tables already: restore into an empty database"
        )
    if settings.s3_endpoint:
        client, bucket = _s3_client(settings)
        if client.bucket_exists(bucket) and any(True for _ in client.list_objects(bucket)):
            raise TargetNotEmptyError(f"bucket {bucket!r} is not empty: restore into an empty one")
    elif settings.objects_dir.exists() and any(settings.objects_dir.iterdir()):
        raise TargetNotEmptyError(f"{settings.objects_dir} is not empty")


def _extract_verified(archive: Path, manifest: Manifest, stage: Path) -> None:
    """Extract every member into ``stage``, checking its sha256 again (the file may have
    changed since :func:`read_manifest`)."""
    with _open(archive) as tar:
        try:
            for member in tar:
                if member.name == MANIFEST or member.isdir():
                    continue
                expected = manifest.members.get(member.name)
                handle = tar.extractfile(member)
                if expected is None or handle is None or not _safe_member(member.name):
                    raise CorruptArchiveError(f"unexpected member {member.name[:80]!r}")
                target = stage / member.name
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with target.open("wb") as out:
                    while chunk := handle.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                if digest.hexdigest() != expected["sha256"]:
                    raise ChecksumMismatchError(f"{member.name} changed while restoring")
        except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
            raise CorruptArchiveError(f"{archive} is damaged: {err}") from None


def _write_restored(
    stage: Path,
    manifest: Manifest,
    settings: HubSettings,
    db_file: Path | None,
    pg_restore: PgTool | None,
) -> None:
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    if (stage / "data").is_dir():
        shutil.copytree(stage / "data", data_dir, dirs_exist_ok=True)
    for name in (JWT_SECRET_FILE, PII_KEY_FILE):
        source = stage / "secrets" / name
        if source.is_file():
            target = data_dir / name
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(source.read_bytes())
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(stage / SQLITE_MEMBER, db_file)
    elif pg_restore is not None:
        uri, env = _libpq(settings.database_url.get_secret_value())
        _run_tool(
            [
                str(pg_restore.path),
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                f"--dbname={uri}",
                str(stage / PGDUMP_MEMBER),
            ],
            env,
        )
    objects = stage / "objects"
    keys = sorted(p for p in objects.rglob("*") if p.is_file()) if objects.is_dir() else []
    if settings.s3_endpoint:
        client, bucket = _s3_client(settings)
        if keys and not client.bucket_exists(bucket):
            client.make_bucket(bucket)
        for path in keys:
            client.fput_object(bucket, path.relative_to(objects).as_posix(), str(path))
    elif keys:
        shutil.copytree(objects, settings.objects_dir, dirs_exist_ok=True)
    if len(keys) != int(manifest.object_store.get("objects", len(keys))):
        raise CorruptArchiveError("the archive's object count differs from its manifest")


def _undo_data_dir(data_dir: Path, created: bool, db_file: Path | None) -> None:
    """Remove what a failed restore wrote (its targets were empty: nothing else is lost)."""
    if db_file is not None:
        db_file.unlink(missing_ok=True)
    if data_dir.is_dir():
        if created:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            for child in data_dir.iterdir():
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)


def _migrate_restored(settings: HubSettings) -> None:
    from hub.db import apply_migrations, create_engine

    async def run() -> None:
        engine = create_engine(settings.database_url.get_secret_value())
        try:
            await apply_migrations(engine, backup=False)  # the archive is the copy
        finally:
            await engine.dispose()

    asyncio.run(run())


# ---------------------------------------------------------------------------------------------
# Archive helpers
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _open(archive: Path) -> Iterator[tarfile.TarFile]:
    if not archive.is_file():
        raise BackupError(f"no backup file at {archive}")
    try:
        tar = tarfile.open(archive, "r:*")  # noqa: SIM115 - closed in the finally below
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise CorruptArchiveError(f"{archive} is not a readable backup archive: {err}") from None
    try:
        yield tar
    finally:
        tar.close()


def _manifest_of(tar: tarfile.TarFile) -> Manifest:
    try:
        member = tar.getmember(MANIFEST)
    except KeyError:
        raise ForeignArchiveError(
            f"no {MANIFEST}: not an innsight hub backup (make one with `innsight hub backup`)"
        ) from None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise CorruptArchiveError(f"the archive is damaged: {err}") from None
    handle = tar.extractfile(member)
    if handle is None:
        raise ForeignArchiveError(f"{MANIFEST} is not a file")
    return Manifest.from_json(handle.read(4 * _CHUNK))


def _safe_member(name: str) -> bool:
    path = PurePosixPath(name)
    return (
        not path.is_absolute()
        and ".." not in path.parts
        and bool(path.parts)
        and path.parts[0] in ("database", "objects", "secrets", "data")
    )


def _digest(handle: Any) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := handle.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return _digest(handle)[0]


# ---------------------------------------------------------------------------------------------
# PostgreSQL tools and S3
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PgTool:
    path: Path
    major: int


def pg_tool(name: str, server_major: int) -> PgTool:
    """The oldest installed ``name`` (pg_dump / pg_restore) whose major version is at least
    ``server_major`` (older ones refuse a newer server)."""
    candidates: list[Path] = [Path(p) for p in _glob_pg_bins(name)]
    found = shutil.which(name)
    if found:
        candidates.append(Path(found))
    tools: list[PgTool] = []
    for path in candidates:
        major = _tool_major(path)
        if major is not None:
            tools.append(PgTool(path, major))
    fitting = sorted((t for t in tools if t.major >= server_major), key=lambda t: t.major)
    if fitting:
        return fitting[0]
    have = ", ".join(f"{t.path} ({t.major})" for t in tools) or "none"
    raise DatabaseToolError(
        f"no {name} for PostgreSQL {server_major} or newer (found: {have}): install "
        f"postgresql-client-{server_major}"
    )


def _glob_pg_bins(name: str) -> list[str]:
    import glob

    return sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))


def _tool_major(path: Path) -> int | None:
    try:
        done = subprocess.run(  # noqa: S603 - a pg tool's absolute path
            [str(path), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    found = re.search(r"(\d+)(?:\.\d+)?", done.stdout)
    return int(found.group(1)) if done.returncode == 0 and found else None


def _run_tool(argv: list[str], env: dict[str, str]) -> None:
    try:
        done = subprocess.run(  # noqa: S603 - a pg tool's absolute path and our arguments
            argv, capture_output=True, text=True, env=env, timeout=3600, check=False
        )
    except OSError as err:
        raise DatabaseToolError(f"cannot run {argv[0]}: {err}") from None
    if done.returncode != 0:
        tool = Path(argv[0]).name
        raise DatabaseToolError(f"{tool} failed ({done.returncode}): {done.stderr.strip()[-800:]}")


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password (it goes in PGPASSWORD, not on the command line)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _pg_server_major(url: str) -> int:
    from sqlalchemy import create_engine, text

    from hub.schema import sync_url

    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            number = conn.execute(text("SHOW server_version_num")).scalar_one()
    finally:
        engine.dispose()
    return int(number) // 10000


def _pg_has_tables(url: str) -> bool:
    from sqlalchemy import create_engine, inspect

    from hub.schema import sync_url

    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return bool(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _s3_client(settings: HubSettings) -> tuple[Any, str]:
    from hub.storage import create_s3_store

    if settings.s3_endpoint is None:
        raise BackupError("no S3 endpoint configured")
    secret = settings.s3_secret_key
    store = create_s3_store(
        settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key=secret.get_secret_value() if secret is not None else None,
        bucket=settings.s3_bucket,
        region=settings.s3_region,
        secure=settings.s3_secure,
    )
    return store._client, store.bucket
