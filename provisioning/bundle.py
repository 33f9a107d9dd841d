"""The device bundle: ONE YAML file that ``innsight edge run --config BUNDLE`` takes as it is.

It is an :class:`edge_agent.config.EdgeConfig` with the device's identity, its broker
credentials (username = device id, password), the site CA inline (``mqtt.tls_ca_pem``) and its hub
token (``hub.token``), plus the device's own settings (cameras, data_dir, ...) from the operator's
settings file. It holds secrets: written 0600, shown nowhere else.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from edge_agent.config import ConfigError, EdgeConfig, parse_config
from provisioning.fs import write_secret

# Set by enrolment; a settings file that sets them is refused rather than silently overridden.
ENROLMENT_KEYS = frozenset({"device_id", "site", "mqtt", "hub"})


class BundleError(ValueError):
    """The device settings or an existing bundle cannot make a valid edge config."""


@dataclass(frozen=True)
class BundleSecrets:
    mqtt_password: str
    hub_token: str


class _BundleDumper(yaml.SafeDumper):
    """Multi-line strings (the CA PEM) as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BundleDumper.add_representer(str, _str)


def load_device_settings(path: Path) -> dict[str, Any]:
    """The operator's file: a list of cameras, or a mapping with ``cameras`` and any other
    edge settings (``data_dir``, ``recognition``, ``gallery`` ...) except the enrolment keys."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise BundleError(f"{path}: cannot read the device settings: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise BundleError(f"{path}: not valid YAML: {err}") from None
    if isinstance(data, list):
        data = {"cameras": data}
    if not isinstance(data, dict) or not data.get("cameras"):
        raise BundleError(f"{path}: needs a list of cameras (or a mapping with 'cameras:')")
    clash = sorted(ENROLMENT_KEYS & set(data))
    if clash:
        raise BundleError(f"{path}: {', '.join(clash)} are set by enrolment; remove them")
    return dict(data)


def with_attendance_liveness(
    settings: Mapping[str, Any], attendance_cameras: Collection[str]
) -> dict[str, Any]:
    """``settings`` with liveness mode ``require`` on every camera the hub counts attendance
    from (INNSIGHT_ATTENDANCE_CAMERAS): there a face counts only when it is live, so the edge
    must not name a face before liveness has decided. Other cameras keep the edge's global
    mode. A weaker mode set on an attendance camera is refused, not silently overridden."""
    wanted = set(attendance_cameras)
    data = dict(settings)
    cameras = data.get("cameras")
    if not wanted or not isinstance(cameras, list):
        return data
    out: list[Any] = []
    for camera in cameras:
        if isinstance(camera, Mapping) and camera.get("id") in wanted:
            mode = camera.get("liveness")
            if mode is not None and mode != "require":
                raise BundleError(
                    f"camera {camera.get('id')!r} counts attendance on the hub: its liveness "
                    f"must be require, not {mode!r} (or leave it unset)"
                )
            camera = {**camera, "liveness": "require"}
        out.append(camera)
    data["cameras"] = out
    return data


def with_gallery_key(data: Mapping[str, Any], gallery_key: str | None) -> dict[str, Any]:
    """``data`` with ``gallery.key`` set (other gallery settings kept); unchanged for None."""
    out = dict(data)
    if gallery_key is not None:
        out["gallery"] = {**(out.get("gallery") or {}), "key": gallery_key}
    return out


def _validated(text: str, source: str) -> EdgeConfig:
    try:
        return parse_config(text, source)
    except ConfigError as err:
        # The problems name fields and lines, never values: safe to show.
        raise BundleError("the bundle would not be a valid edge config:\n" + str(err)) from None


def _header(device_id: str, site: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"# innsight device bundle: {device_id} at site {site}, written {stamp}.\n"
        "# SECRET: holds the device's broker password and hub token. Copy it to the device,\n"
        "# keep it 0600 there, delete this copy. Run: innsight edge run --config THIS_FILE\n"
    )


def build_bundle(
    *,
    device_id: str,
    site: str,
    mqtt_host: str,
    mqtt_port: int,
    ca_pem: str,
    hub_url: str,
    secrets: BundleSecrets,
    settings: Mapping[str, Any],
    attendance_cameras: Collection[str] = (),
    gallery_key: str | None = None,
) -> str:
    """The bundle's YAML text, checked against :class:`EdgeConfig`; liveness ``require`` on
    the ``attendance_cameras`` (:func:`with_attendance_liveness`); the site's ``gallery_key``."""
    data: dict[str, Any] = {
        "device_id": device_id,
        "site": site,
        "mqtt": {
            "host": mqtt_host,
            "port": mqtt_port,
            "username": device_id,
            "password": secrets.mqtt_password,
            "tls_ca_pem": ca_pem,
        },
        "hub": {"url": hub_url, "token": secrets.hub_token},
        **with_attendance_liveness(settings, attendance_cameras),
    }
    data = with_gallery_key(data, gallery_key)
    text = _header(device_id, site) + yaml.dump(data, Dumper=_BundleDumper, sort_keys=False)
    _validated(text, "<bundle>")
    return text


def with_new_secrets(
    path: Path,
    device_id: str,
    secrets: BundleSecrets,
    ca_pem: str,
    attendance_cameras: Collection[str] = (),
    gallery_key: str | None = None,
) -> str:
    """``device_id``'s existing bundle with its password, token and CA replaced (cameras and
    other settings kept; liveness ``require`` on the ``attendance_cameras``; the site's
    ``gallery_key`` added where the bundle has none)."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise BundleError(f"{path}: cannot read the bundle: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("mqtt"), dict):
        raise BundleError(f"{path}: not a device bundle")
    if data.get("device_id") != device_id:
        raise BundleError(f"{path} is not the bundle of {device_id!r}")
    data["mqtt"]["password"] = secrets.mqtt_password
    data["mqtt"]["tls_ca_pem"] = ca_pem
    data["mqtt"].pop("tls_ca", None)
    data["hub"] = {**(data.get("hub") or {}), "token": secrets.hub_token}
    data = with_attendance_liveness(data, attendance_cameras)
    if not (data.get("gallery") or {}).get("key"):  # a key already there seals its gallery
        data = with_gallery_key(data, gallery_key)
    text = _header(str(data.get("device_id")), str(data.get("site"))) + yaml.dump(
        data, Dumper=_BundleDumper, sort_keys=False
    )
    _validated(text, str(path))
    return text


def write_bundle(path: Path, text: str) -> None:
    write_secret(path, text)
