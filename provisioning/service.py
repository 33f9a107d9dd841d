"""Enrol, rotate, revoke and list devices: the hub registry and the broker's files together.

Each change runs as one unit: the hub rows are flushed first (an already enrolled or unknown
device fails before anything is written), then the password file, ACL file and bundle are
written, then the database commits. If any step fails, the files are put back as they were and
the session rolls back. Reloading the broker is the caller's step (:mod:`provisioning.reload`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_agent.index.sealed import load_or_create_key
from hub.db import SessionFactory
from hub.device_registry import (
    DeviceRecord,
    list_devices,
    register_device,
    revoke_device,
    rotate_device_token,
)
from provisioning.broker_auth import AclFile, PasswordFile, new_password
from provisioning.bundle import (
    BundleError,
    BundleSecrets,
    build_bundle,
    with_new_secrets,
    write_bundle,
)
from provisioning.ca import cert_pem
from provisioning.fs import PUBLIC_MODE, SECRET_MODE, write_atomic, write_public
from provisioning.site import SiteInfo, SitePaths

logger = logging.getLogger(__name__)


class ProvisioningError(RuntimeError):
    """A provisioning step that cannot be done; the message says why."""


@dataclass(frozen=True)
class EnrollRequest:
    device_id: str
    settings: Mapping[str, Any]
    bundle_path: Path
    hub_url: str
    csr_pem: bytes | None = None
    cert_path: Path | None = None
    attendance_cameras: frozenset[str] = frozenset()  # liveness require on these


@dataclass(frozen=True)
class EnrollResult:
    bundle_path: Path
    cert_path: Path | None


@dataclass(frozen=True)
class DeviceRow:
    """A device as the hub knows it, and whether the broker still has credentials for it."""

    record: DeviceRecord
    broker_credentials: bool


@contextmanager
def _restore_on_error(files: Sequence[tuple[Path, int]]) -> Iterator[None]:
    """Put ``files`` back (content and mode; removed if they did not exist) on any error."""
    saved = {path: (path.read_bytes() if path.exists() else None, mode) for path, mode in files}
    try:
        yield
    except BaseException:
        for path, (content, mode) in saved.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                write_atomic(path, content, mode=mode)
        raise


def _broker_files(paths: SitePaths, *extra: Path) -> list[tuple[Path, int]]:
    files = [(paths.passwd, SECRET_MODE), (paths.acl, PUBLIC_MODE)]
    return files + [(path, SECRET_MODE) for path in extra]


def _camera_ids(settings: Mapping[str, Any]) -> list[str]:
    cameras = settings.get("cameras")
    if not isinstance(cameras, list):
        raise BundleError("the device settings need a list of cameras")
    return [str(c.get("id")) if isinstance(c, dict) else "" for c in cameras]


def _ca_pem(paths: SitePaths) -> str:
    return paths.ca_cert.read_text(encoding="ascii")


def _gallery_key(paths: SitePaths) -> str:
    """The site's gallery key (made once, 0600), as the bundle carries it."""
    load_or_create_key(paths.gallery_key)
    return paths.gallery_key.read_text(encoding="ascii").strip()


async def enroll(
    session_factory: SessionFactory, paths: SitePaths, info: SiteInfo, request: EnrollRequest
) -> EnrollResult:
    device = request.device_id
    if device == info.hub_user:
        raise ProvisioningError(f"{device!r} is the hub's own broker user; pick another id")
    template = paths.acl_template()
    cert = None
    if request.csr_pem is not None:
        cert = paths.load_ca().sign_device_csr(request.csr_pem, device, info.site)
    password = new_password()
    async with session_factory() as session:
        token = await register_device(session, device, info.site, _camera_ids(request.settings))
        text = build_bundle(
            device_id=device,
            site=info.site,
            mqtt_host=info.broker_host,
            mqtt_port=info.tls_port,
            ca_pem=_ca_pem(paths),
            hub_url=request.hub_url,
            secrets=BundleSecrets(password, token),
            settings=request.settings,
            attendance_cameras=request.attendance_cameras,
            gallery_key=_gallery_key(paths),
        )
        with _restore_on_error(_broker_files(paths, request.bundle_path)):
            PasswordFile(paths.passwd).set(device, password)
            block = template.device_block(info.site, device)
            AclFile(paths.acl).set_block(info.site, device, block)
            write_bundle(request.bundle_path, text)
            await session.commit()
    cert_path = None
    if cert is not None:
        cert_path = request.cert_path or request.bundle_path.with_suffix(".crt")
        write_public(cert_path, cert_pem(cert))
    logger.info("device %s enrolled at site %s", device, info.site)
    return EnrollResult(request.bundle_path, cert_path)


def _rotated_bundle(
    paths: SitePaths,
    info: SiteInfo,
    device: str,
    bundle_path: Path,
    hub_url: str,
    settings: Mapping[str, Any] | None,
    secrets: BundleSecrets,
    attendance_cameras: Collection[str] = (),
) -> str:
    if settings is not None:
        return build_bundle(
            device_id=device,
            site=info.site,
            mqtt_host=info.broker_host,
            mqtt_port=info.tls_port,
            ca_pem=_ca_pem(paths),
            hub_url=hub_url,
            secrets=secrets,
            settings=settings,
            attendance_cameras=attendance_cameras,
            gallery_key=_gallery_key(paths),
        )
    if not bundle_path.is_file():
        raise BundleError(
            f"no bundle at {bundle_path} to update: pass --cameras FILE to write a new one"
        )
    return with_new_secrets(
        bundle_path, device, secrets, _ca_pem(paths), attendance_cameras, _gallery_key(paths)
    )


async def rotate(
    session_factory: SessionFactory,
    paths: SitePaths,
    info: SiteInfo,
    device: str,
    *,
    bundle_path: Path,
    hub_url: str,
    settings: Mapping[str, Any] | None = None,
    attendance_cameras: Collection[str] = (),
) -> Path:
    """New broker password and hub token for an enrolled device; writes its bundle (a new one
    from ``settings``, else the existing ``bundle_path`` with the secrets replaced)."""
    template = paths.acl_template()
    password = new_password()
    async with session_factory() as session:
        token = await rotate_device_token(session, device)
        text = _rotated_bundle(
            paths,
            info,
            device,
            bundle_path,
            hub_url,
            settings,
            BundleSecrets(password, token),
            attendance_cameras,
        )
        with _restore_on_error(_broker_files(paths, bundle_path)):
            PasswordFile(paths.passwd).set(device, password)
            block = template.device_block(info.site, device)
            AclFile(paths.acl).set_block(info.site, device, block)
            write_bundle(bundle_path, text)
            await session.commit()
    logger.info("device %s: broker password and hub token rotated", device)
    return bundle_path


async def revoke(
    session_factory: SessionFactory, paths: SitePaths, info: SiteInfo, device: str
) -> None:
    """Remove the device's password and ACL block and mark it revoked on the hub."""
    async with session_factory() as session:
        await revoke_device(session, device)
        with _restore_on_error(_broker_files(paths)):
            PasswordFile(paths.passwd).remove(device)
            AclFile(paths.acl).remove(info.site, device)
            await session.commit()
    logger.info("device %s revoked at site %s", device, info.site)


async def list_site_devices(
    session_factory: SessionFactory, paths: SitePaths, info: SiteInfo
) -> list[DeviceRow]:
    users = set(PasswordFile(paths.passwd).users())
    async with session_factory() as session:
        records = await list_devices(session, info.site)
    return [DeviceRow(r, r.device_id in users) for r in records]
