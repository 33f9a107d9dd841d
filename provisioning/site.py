"""A site's provisioning folder and ``init-site``.

::

    DIR/site.yaml           what was set up (no secrets)
    DIR/ca/ca.key           the site CA's private key (0600); never given to the broker
    DIR/broker/             mounted by the broker at /mosquitto/config/site (compose.hub.yml)
        ca.crt server.crt server.key(0600) passwd(0600) acl
    DIR/broker-data/        persistence and pid file when Mosquitto runs from DIR/mosquitto.conf
    DIR/mosquitto.conf      mosquitto/mosquitto.conf rendered for this folder
    DIR/hub.env             the hub's MQTT credentials as INNSIGHT_* variables (0600)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.ids import ID_PATTERN
from provisioning.broker_auth import AclFile, AclTemplate, PasswordFile, new_password
from provisioning.broker_config import (
    LOOPBACK,
    BrokerLayout,
    render_broker_config,
    templates_dir,
)
from provisioning.ca import CertificateAuthority, cert_pem, key_pem, san_entries
from provisioning.fs import write_public, write_secret

logger = logging.getLogger(__name__)

Port = Annotated[int, Field(ge=1, le=65535)]


class SiteError(RuntimeError):
    """The site folder is missing, already set up, or inconsistent."""


class SiteInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    site: Annotated[str, Field(pattern=ID_PATTERN)]
    broker_hosts: list[str] = Field(min_length=1)
    tls_port: Port = 8883
    local_port: Port = 1883
    hub_user: Annotated[str, Field(pattern=ID_PATTERN)]
    created_at: datetime

    @property
    def broker_host(self) -> str:
        """The name edges dial (the first one; every one is in the server certificate)."""
        return self.broker_hosts[0]


def hub_user_for(site: str) -> str:
    """The hub's broker user, also its client id (= HubSettings' default ``hub-{site}``)."""
    return f"hub-{site}"


@dataclass(frozen=True)
class SitePaths:
    root: Path

    @property
    def site_file(self) -> Path:
        return self.root / "site.yaml"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca" / "ca.key"

    @property
    def broker_dir(self) -> Path:
        return self.root / "broker"

    @property
    def ca_cert(self) -> Path:
        return self.broker_dir / "ca.crt"

    @property
    def server_cert(self) -> Path:
        return self.broker_dir / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.broker_dir / "server.key"

    @property
    def passwd(self) -> Path:
        return self.broker_dir / "passwd"

    @property
    def acl(self) -> Path:
        return self.broker_dir / "acl"

    @property
    def data_dir(self) -> Path:
        return self.root / "broker-data"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "mosquitto.pid"

    @property
    def mosquitto_conf(self) -> Path:
        return self.root / "mosquitto.conf"

    @property
    def hub_env(self) -> Path:
        return self.root / "hub.env"

    @property
    def gallery_key(self) -> Path:
        """The site's gallery key (0600): every device bundle of the site carries it, so the
        edges' saved galleries are sealed per site (edge_agent/index/sealed.py)."""
        return self.root / "gallery.key"

    def load_info(self) -> SiteInfo:
        try:
            data = yaml.safe_load(self.site_file.read_text(encoding="utf-8"))
            return SiteInfo.model_validate(data)
        except FileNotFoundError:
            raise SiteError(
                f"{self.site_file} not found: run `innsight provision init-site` first "
                "(or pass --dir)"
            ) from None
        except (yaml.YAMLError, ValidationError) as err:
            raise SiteError(f"{self.site_file} is not a valid site file: {err}") from None

    def load_ca(self) -> CertificateAuthority:
        return CertificateAuthority.load(self.ca_key, self.ca_cert)

    def acl_template(self, templates: Path | None = None) -> AclTemplate:
        return AclTemplate.load((templates or templates_dir()) / "acl.template")


def _hub_env(info: SiteInfo, password: str) -> str:
    return (
        f"# innsight hub: MQTT credentials of site {info.site}'s ingest. SECRET: keep 0600.\n"
        f"INNSIGHT_SITE={info.site}\n"
        f"INNSIGHT_MQTT_HOST={LOOPBACK}\n"
        f"INNSIGHT_MQTT_PORT={info.local_port}\n"
        f"INNSIGHT_MQTT_USERNAME={info.hub_user}\n"
        f"INNSIGHT_MQTT_PASSWORD={password}\n"
    )


def init_site(
    paths: SitePaths,
    site: str,
    broker_hosts: list[str],
    *,
    tls_port: int = 8883,
    local_port: int = 1883,
    tls_bind: str | None = None,
    templates: Path | None = None,
) -> SiteInfo:
    """Create the site's CA, broker certificate, password/ACL files (with the hub's own user),
    the rendered mosquitto.conf and hub.env. Refuses a folder that already holds a site: a new
    CA would orphan every enrolled device."""
    if paths.site_file.exists() or paths.ca_key.exists():
        raise SiteError(f"{paths.root} already holds a site; pick another --dir")
    templates = templates or templates_dir()
    info = SiteInfo(
        site=site,
        broker_hosts=broker_hosts,
        tls_port=tls_port,
        local_port=local_port,
        hub_user=hub_user_for(site),
        created_at=datetime.now(UTC),
    )
    san_entries(broker_hosts)  # fail on a bad host before anything is written
    acl_template = paths.acl_template(templates)
    conf = render_broker_config(
        (templates / "mosquitto.conf").read_text(encoding="utf-8"),
        BrokerLayout(paths.broker_dir, paths.data_dir, tls_port, local_port, tls_bind),
    )

    ca = CertificateAuthority.create(site)
    paths.ca_key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca.save(paths.ca_key, paths.ca_cert)
    server_key, server_cert = ca.issue_server(site, broker_hosts)
    write_secret(paths.server_key, key_pem(server_key))
    write_public(paths.server_cert, cert_pem(server_cert))

    hub_password = new_password()
    PasswordFile(paths.passwd).set(info.hub_user, hub_password)
    AclFile(paths.acl).set_block(site, info.hub_user, acl_template.hub_block(site, info.hub_user))
    write_secret(paths.hub_env, _hub_env(info, hub_password))

    paths.data_dir.mkdir(parents=True, exist_ok=True)
    write_public(paths.mosquitto_conf, conf)
    write_public(paths.site_file, yaml.safe_dump(info.model_dump(mode="json"), sort_keys=False))
    logger.info("site %s initialised in %s", site, paths.root)
    return info
