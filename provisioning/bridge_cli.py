"""``innsight provision bridge``: bridge a site's broker to the chain broker (docs/chain.md).

    innsight provision bridge --site hotel-a --dir /srv/innsight/site \\
        --chain-dir /srv/innsight/chain --chain-host mqtt.chain.example --chain-ca chain-ca.crt

Writes the site's ``DIR/broker/bridge.d/chain.conf`` (0600: it holds the bridge's password),
copies the chain CA beside it, appends ``include_dir`` to ``DIR/mosquitto.conf`` once, and adds
the bridge user (password entry + ACL block) and, the first time, the chain hub's read-only user
to the chain broker's ``passwd`` and ``acl`` in ``--chain-dir``. Both brokers then need a reload
(SIGHUP). Standard library only at import time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_ERROR = 2


def _say(text: str, *, err: bool = False) -> None:
    print(text, file=sys.stderr if err else sys.stdout)


def _cmd_bridge(args: argparse.Namespace) -> int:
    from provisioning.bridge import (
        DAY_S,
        BridgeError,
        ChainPaths,
        QueueSizing,
        ensure_chain_hub,
        provision_bridge,
    )
    from provisioning.broker_auth import BrokerAuthError
    from provisioning.site import SitePaths

    try:
        sizing = QueueSizing(
            events_per_s=args.events_per_s,
            heartbeats_per_s=args.heartbeats_per_s,
            avg_message_bytes=args.avg_message_bytes,
            outage_s=args.outage_hours * 3600 if args.outage_hours else DAY_S,
        )
        site_dir = args.dir or Path("var") / "sites" / args.site
        paths = SitePaths(site_dir)
        chain = ChainPaths(args.chain_dir)
        chain.root.mkdir(parents=True, exist_ok=True)
        hub_password = ensure_chain_hub(chain)
        files = provision_bridge(
            args.site,
            paths.broker_dir,
            chain,
            chain_host=args.chain_host,
            chain_port=args.chain_port,
            chain_ca=args.chain_ca,
            sizing=sizing,
            mosquitto_conf=paths.mosquitto_conf if paths.mosquitto_conf.exists() else None,
            config_dir=args.broker_config_dir,
        )
    except (BridgeError, BrokerAuthError, OSError) as err:
        _say(f"innsight provision bridge: {err}", err=True)
        return EXIT_ERROR
    _say(f"bridge of site {args.site} written to {files.conf} (0600: it holds a password)")
    _say(
        f"  queue: max_queued_messages {sizing.messages}, max_queued_bytes {sizing.bytes} "
        f"({sizing.outage_s / 3600:g} h at {sizing.events_per_s:g} events/s)"
    )
    if files.include_added:
        _say(f"  {paths.mosquitto_conf}: include_dir added")
    _say(f"  chain broker: user bridge-{args.site} added to {chain.passwd} and {chain.acl}")
    if hub_password is not None:
        _say(f"  chain hub's broker credentials: {chain.hub_env} (0600)")
    _say("reload both brokers (SIGHUP) for the change to take effect")
    return EXIT_OK


def add_bridge_parser(commands: Any) -> None:
    """Register ``bridge`` on the ``provision`` subcommands."""
    bridge = commands.add_parser(
        "bridge", help="bridge this site's broker to the chain broker (docs/chain.md)"
    )
    bridge.add_argument("--site", required=True, help="site id")
    bridge.add_argument(
        "--dir", type=Path, default=None, help="the site's provisioning folder (var/sites/SITE)"
    )
    bridge.add_argument(
        "--chain-dir", type=Path, required=True, help="the chain broker's passwd/acl folder"
    )
    bridge.add_argument("--chain-host", required=True, help="the chain broker's TLS host name")
    bridge.add_argument("--chain-port", type=int, default=8883)
    bridge.add_argument(
        "--chain-ca", type=Path, required=True, help="the CA that signed the chain broker's cert"
    )
    bridge.add_argument(
        "--broker-config-dir",
        type=Path,
        default=None,
        help="where the site broker sees DIR/broker (compose: /mosquitto/config/site)",
    )
    bridge.add_argument("--events-per-s", type=float, default=10.0, help="event messages/s")
    bridge.add_argument("--heartbeats-per-s", type=float, default=4 / 30)
    bridge.add_argument("--avg-message-bytes", type=int, default=2048)
    bridge.add_argument("--outage-hours", type=float, default=24.0)
    bridge.set_defaults(provision_func=_cmd_bridge)
