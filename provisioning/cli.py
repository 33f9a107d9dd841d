"""``innsight provision``: init-site, enroll, list, rotate, revoke, reload.

The parser is built from the standard library alone; each handler imports what it needs
(``cryptography``, the hub's database layer) when it runs. The hub database comes from the hub's
own settings (``INNSIGHT_*`` / ``DATABASE_URL``, as ``innsight hub serve`` reads them). Secrets are
never printed: the bundle file (0600) is where they go, and the output says where it is.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from provisioning.bridge_cli import add_bridge_parser

if TYPE_CHECKING:
    from hub.db import SessionFactory
    from hub.settings import HubSettings
    from provisioning.site import SiteInfo, SitePaths

EXIT_OK = 0
EXIT_ERROR = 2
EXIT_NOT_RELOADED = 3  # the change is made, but the broker still runs the old files
SITE_DIR_ENV = "INNSIGHT_SITE_DIR"

T = TypeVar("T")


def _say(text: str, *, err: bool = False) -> None:
    print(text, file=sys.stderr if err else sys.stdout)


def _site_paths(args: argparse.Namespace, site: str) -> SitePaths:
    from provisioning.site import SitePaths

    root = args.dir or Path(os.environ.get(SITE_DIR_ENV) or Path("var") / "sites" / site)
    return SitePaths(root)


def _hub_settings() -> HubSettings:
    from hub.settings import HubSettings

    return HubSettings.from_env(os.environ)


def _load_site(args: argparse.Namespace, settings: HubSettings) -> tuple[SitePaths, SiteInfo]:
    from provisioning.service import ProvisioningError

    site = args.site or settings.site
    if site != settings.site:
        raise ProvisioningError(
            f"the hub is configured for site {settings.site!r} (INNSIGHT_SITE), not {site!r}: "
            "its ingest would never hear this device"
        )
    paths = _site_paths(args, site)
    info = paths.load_info()
    if info.site != site:
        raise ProvisioningError(f"{paths.site_file} is for site {info.site!r}, not {site!r}")
    return paths, info


def _with_hub_db(settings: HubSettings, work: Callable[[SessionFactory], Awaitable[T]]) -> T:
    import asyncio  # not at import: every `innsight` command builds this parser

    from hub.db import create_engine, create_session_factory, init_db

    async def run() -> T:
        engine = create_engine(settings.database_url.get_secret_value())
        try:
            await init_db(engine)
            return await work(create_session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _reload(args: argparse.Namespace, paths: SitePaths) -> int:
    from provisioning.reload import BrokerReloadError, reload_broker

    if args.no_reload:
        _say("broker not reloaded (--no-reload): send it SIGHUP before the change takes effect")
        return EXIT_OK
    try:
        pid = reload_broker(pid_file=paths.pid_file, pid=args.broker_pid)
    except BrokerReloadError as err:
        _say(f"the change is saved, but the broker was NOT reloaded: {err}", err=True)
        return EXIT_NOT_RELOADED
    _say(f"broker (pid {pid}) reloaded")
    return EXIT_OK


def _bundle_written(path: Path, device: str) -> None:
    _say(
        f"bundle for {device} written to {path} (mode 0600; it holds the device's secrets: "
        "copy it to the device, then delete this copy)"
    )


# -- handlers ------------------------------------------------------------------------------------


def _cmd_init_site(args: argparse.Namespace) -> int:
    from provisioning.site import init_site

    paths = _site_paths(args, args.site)
    info = init_site(
        paths,
        args.site,
        args.broker_host or ["localhost", "127.0.0.1"],
        tls_port=args.broker_port,
        local_port=args.local_port,
        tls_bind=args.listen_address,
        templates=args.templates,
    )
    _say(f"site {info.site} set up in {paths.root}")
    hosts = ", ".join(info.broker_hosts)
    _say(f"  broker config: {paths.mosquitto_conf} (TLS on {info.tls_port} for {hosts})")
    _say(f"  site CA: {paths.ca_cert} (its key {paths.ca_key} is 0600: back it up offline)")
    _say(f"  hub MQTT credentials: {paths.hub_env} (0600; the hub reads them as INNSIGHT_*)")
    return EXIT_OK


def _cmd_enroll(args: argparse.Namespace) -> int:
    from provisioning.bundle import load_device_settings
    from provisioning.service import EnrollRequest, enroll

    settings = _hub_settings()
    paths, info = _load_site(args, settings)
    request = EnrollRequest(
        device_id=args.device_id,
        settings=load_device_settings(args.cameras),
        bundle_path=args.out or Path(f"{args.device_id}.bundle.yaml"),
        hub_url=args.hub_url or settings.public_base_url,
        csr_pem=args.csr.read_bytes() if args.csr else None,
        cert_path=args.cert_out,
        attendance_cameras=frozenset(settings.attendance_cameras),
    )
    result = _with_hub_db(settings, lambda factory: enroll(factory, paths, info, request))
    _bundle_written(result.bundle_path, args.device_id)
    if result.cert_path is not None:
        _say(f"client certificate for {args.device_id} written to {result.cert_path}")
    return _reload(args, paths)


def _cmd_rotate(args: argparse.Namespace) -> int:
    from provisioning.bundle import load_device_settings
    from provisioning.service import rotate

    settings = _hub_settings()
    paths, info = _load_site(args, settings)
    device_settings = load_device_settings(args.cameras) if args.cameras else None
    bundle = args.out or Path(f"{args.device_id}.bundle.yaml")
    written = _with_hub_db(
        settings,
        lambda factory: rotate(
            factory,
            paths,
            info,
            args.device_id,
            bundle_path=bundle,
            hub_url=args.hub_url or settings.public_base_url,
            settings=device_settings,
            attendance_cameras=settings.attendance_cameras,
        ),
    )
    _bundle_written(written, args.device_id)
    return _reload(args, paths)


def _cmd_revoke(args: argparse.Namespace) -> int:
    from provisioning.service import revoke

    settings = _hub_settings()
    paths, info = _load_site(args, settings)
    _with_hub_db(settings, lambda factory: revoke(factory, paths, info, args.device_id))
    _say(f"device {args.device_id} revoked: broker password and ACL removed, hub token refused")
    return _reload(args, paths)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value is not None else "-"


def _cmd_list(args: argparse.Namespace) -> int:
    from provisioning.service import list_site_devices

    settings = _hub_settings()
    paths, info = _load_site(args, settings)
    rows = _with_hub_db(settings, lambda factory: list_site_devices(factory, paths, info))
    if args.json:
        items = [
            {
                "device_id": r.record.device_id,
                "status": r.record.status,
                "enrolled_at": r.record.enrolled_at.isoformat() if r.record.enrolled_at else None,
                "revoked": r.record.revoked,
                "revoked_at": r.record.revoked_at.isoformat() if r.record.revoked_at else None,
                "cameras": list(r.record.cameras),
                "broker_credentials": r.broker_credentials,
            }
            for r in rows
        ]
        _say(json.dumps({"site": info.site, "devices": items}, indent=2))
        return EXIT_OK
    _say(f"{'DEVICE':<24} {'STATUS':<9} {'ENROLLED':<21} {'REVOKED':<21} BROKER  CAMERAS")
    for r in rows:
        rec = r.record
        _say(
            f"{rec.device_id:<24} {rec.status:<9} {_when(rec.enrolled_at):<21} "
            f"{_when(rec.revoked_at):<21} {'yes' if r.broker_credentials else 'no':<7} "
            f"{','.join(rec.cameras) or '-'}"
        )
    return EXIT_OK


def _cmd_reload(args: argparse.Namespace) -> int:
    site = args.site or _hub_settings().site
    return _reload(args, _site_paths(args, site))


def run(args: argparse.Namespace) -> int:
    """Run a provision handler, turning the expected failures into one line and exit code 2."""
    from hub.device_registry import DeviceRegistryError
    from hub.settings import HubSettingsError
    from provisioning.broker_auth import BrokerAuthError
    from provisioning.broker_config import BrokerConfigError
    from provisioning.bundle import BundleError
    from provisioning.ca import CertificateError
    from provisioning.service import ProvisioningError
    from provisioning.site import SiteError

    handler: Callable[[argparse.Namespace], int] = args.provision_func
    try:
        return handler(args)
    except (
        DeviceRegistryError,
        HubSettingsError,
        BrokerAuthError,
        BrokerConfigError,
        BundleError,
        CertificateError,
        ProvisioningError,
        SiteError,
        OSError,
    ) as err:
        _say(f"innsight provision {args.provision_command}: {err}", err=True)
        return EXIT_ERROR


# -- parser --------------------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser, *, site_required: bool) -> None:
    parser.add_argument(
        "--site",
        required=site_required,
        default=None,
        help="site id" + ("" if site_required else " (default: INNSIGHT_SITE)"),
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help=f"the site's provisioning folder (default: ${SITE_DIR_ENV} or var/sites/SITE)",
    )


def _reload_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker-pid", type=int, default=None, help="SIGHUP this pid (default: the pid file)"
    )
    parser.add_argument("--no-reload", action="store_true", help="do not signal the broker")


def add_provision_parser(sub: Any) -> None:
    """Register ``provision`` and its subcommands on the ``innsight`` subparsers."""
    provision = sub.add_parser(
        "provision", help="enrol edge devices: site CA, broker credentials + ACL, bundles"
    )
    provision.set_defaults(func=run)
    commands = provision.add_subparsers(dest="provision_command", required=True)

    init = commands.add_parser("init-site", help="create the site CA, broker cert and config")
    _common(init, site_required=True)
    init.add_argument(
        "--broker-host",
        action="append",
        default=None,
        help="a name or IP edges use to reach the broker (repeat; first is used in bundles; "
        "default: localhost, 127.0.0.1)",
    )
    init.add_argument("--broker-port", type=int, default=8883, help="TLS listener port")
    init.add_argument("--local-port", type=int, default=1883, help="hub's loopback listener")
    init.add_argument(
        "--listen-address", default=None, help="bind the TLS listener here (default: all)"
    )
    init.add_argument("--templates", type=Path, default=None, help="folder with the templates")
    init.set_defaults(provision_func=_cmd_init_site)

    enroll = commands.add_parser("enroll", help="register a device; write its bundle")
    enroll.add_argument("device_id")
    _common(enroll, site_required=True)
    enroll.add_argument(
        "--cameras",
        type=Path,
        required=True,
        help="YAML: a list of cameras, or a mapping with 'cameras:' and other edge settings",
    )
    enroll.add_argument("--csr", type=Path, default=None, help="device CSR (PEM) to sign")
    enroll.add_argument("--cert-out", type=Path, default=None, help="where to write its cert")
    enroll.add_argument("--out", type=Path, default=None, help="bundle path (DEVICE.bundle.yaml)")
    enroll.add_argument("--hub-url", default=None, help="default: INNSIGHT_PUBLIC_BASE_URL")
    _reload_options(enroll)
    enroll.set_defaults(provision_func=_cmd_enroll)

    listing = commands.add_parser("list", help="devices with status, enrolment, revocation")
    _common(listing, site_required=False)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(provision_func=_cmd_list)

    rotate = commands.add_parser("rotate", help="new broker password and hub token")
    rotate.add_argument("device_id")
    _common(rotate, site_required=False)
    rotate.add_argument(
        "--out", type=Path, default=None, help="bundle to update or write (DEVICE.bundle.yaml)"
    )
    rotate.add_argument("--cameras", type=Path, default=None, help="write a new bundle from this")
    rotate.add_argument("--hub-url", default=None, help="default: INNSIGHT_PUBLIC_BASE_URL")
    _reload_options(rotate)
    rotate.set_defaults(provision_func=_cmd_rotate)

    revoke = commands.add_parser("revoke", help="remove a device's credentials and rights")
    revoke.add_argument("device_id")
    _common(revoke, site_required=False)
    _reload_options(revoke)
    revoke.set_defaults(provision_func=_cmd_revoke)

    reload = commands.add_parser("reload", help="SIGHUP the site's broker")
    _common(reload, site_required=False)
    reload.add_argument("--broker-pid", type=int, default=None)
    reload.set_defaults(provision_func=_cmd_reload, no_reload=False)

    add_bridge_parser(commands)  # `provision bridge` (docs/chain.md)
