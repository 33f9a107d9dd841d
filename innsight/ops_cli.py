"""Operator commands: ``hub init``, ``hub users``, ``hub token``, ``hub|edge install-service``
and ``innsight --version``.

The parsers are standard library only; the handlers (:mod:`innsight.hub_admin`,
:mod:`innsight.systemd_units`) import the hub's database and auth stack when they run.

Exit codes of ``hub init`` / ``hub users`` / ``hub token`` (:mod:`innsight.hub_admin`):
0 done; 1 failed (database, secrets); 2 bad arguments or settings; 3 weak password refused;
4 exists already (an administrator for ``init``, the user for ``users add``); 5 no such user;
6 no usable password given (no terminal, the two entries differ, empty file, unset variable).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_UNIT_DIR = Path("/etc/systemd/system")
ROLES = ("admin", "manager", "staff", "viewer", "dpo")


def package_version() -> str:
    """The installed ``innsight`` distribution's version (its package metadata)."""
    from importlib import metadata  # read for --version only, not by every command

    try:
        return metadata.version("innsight")
    except metadata.PackageNotFoundError:  # running from a tree that was never installed
        return "0+unknown"


class _VersionAction(argparse.Action):
    """``--version``, reading the package metadata only when it is asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS) -> None:
        super().__init__(
            option_strings,
            dest,
            default=argparse.SUPPRESS,
            nargs=0,
            help="show program's version number and exit",
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        _namespace: argparse.Namespace,
        _values: str | Sequence[Any] | None,
        _option_string: str | None = None,
    ) -> None:
        sys.stdout.write(f"{parser.prog} {package_version()}\n")
        parser.exit()


def _hub(args: argparse.Namespace) -> int:
    from innsight import hub_admin

    handler: Any = getattr(hub_admin, args.admin_handler)
    result: int = handler(args)
    return result


def _install_service(args: argparse.Namespace) -> int:
    from innsight.systemd_units import cmd_install_service

    return cmd_install_service(args)


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="the hub's data dir (default: $INNSIGHT_DATA_DIR, else ./var/hub); the other "
        "settings come from INNSIGHT_* as for `hub serve`",
    )


def _add_password_source(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--password-file",
        type=Path,
        metavar="FILE",
        help="read the password from the first line of FILE (default: ask twice on the terminal)",
    )
    group.add_argument(
        "--password-env",
        metavar="VAR",
        help="read the password from the environment variable VAR",
    )


def _add_hub_parsers(hub: Any) -> None:
    init = hub.add_parser(
        "init",
        help="prepare the data dir and database and create the first administrator",
        description="Idempotent: makes the data dir, the secrets and the schema when missing, "
        "then creates the first administrator; when one exists it changes nothing (exit 4).",
    )
    _add_data_dir(init)
    init.add_argument("--username", default="admin", help="the administrator's name (admin)")
    _add_password_source(init)
    init.set_defaults(func=_hub, admin_handler="cmd_init")

    users = hub.add_parser("users", help="add, list, disable, enable users; reset a password")
    commands = users.add_subparsers(dest="users_command", required=True)
    add = commands.add_parser("add", help="create a user (the password as for `hub init`)")
    add.add_argument("username")
    add.add_argument("--role", choices=ROLES, required=True)
    _add_password_source(add)
    _add_data_dir(add)
    add.set_defaults(func=_hub, admin_handler="cmd_users_add")
    listing = commands.add_parser("list", help="every user: name, role, disabled, created")
    _add_data_dir(listing)
    listing.set_defaults(func=_hub, admin_handler="cmd_users_list")
    for name, help_text in (
        ("disable", "refuse the user's sign-ins and tokens from now on"),
        ("enable", "let a disabled user sign in again"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("username")
        _add_data_dir(command)
        command.set_defaults(func=_hub, admin_handler=f"cmd_users_{name}")
    reset = commands.add_parser("reset-password", help="set a new password for a user")
    reset.add_argument("username")
    _add_password_source(reset)
    _add_data_dir(reset)
    reset.set_defaults(func=_hub, admin_handler="cmd_users_reset_password")

    token = hub.add_parser(
        "token",
        help="print a short-lived access token signed with this hub's secret (for scripts)",
        description="For an operator on the hub machine who can read its data dir: no user "
        "or password is involved. The token is the only thing printed on stdout.",
    )
    token.add_argument(
        "--scopes",
        nargs="+",
        required=True,
        metavar="SCOPE",
        help="e.g. cv:read ml:read (or admin); commas also separate",
    )
    token.add_argument("--minutes", type=int, default=15, help="lifetime, 1..1440 (15)")
    token.add_argument("--subject", default="operator", help="who the token names (operator)")
    _add_data_dir(token)
    token.set_defaults(func=_hub, admin_handler="cmd_token")

    service = hub.add_parser("install-service", help="write the hub's systemd unit")
    _add_service_args(service, "hub")


def _add_service_args(parser: argparse.ArgumentParser, component: str) -> None:
    parser.add_argument(
        "--target-dir",
        type=Path,
        default=DEFAULT_UNIT_DIR,
        help=f"where the unit file goes ({DEFAULT_UNIT_DIR})",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the unit, write nothing")
    parser.add_argument("--user", default="innsight", help="the service's user (innsight)")
    parser.add_argument(
        "--exec",
        dest="executable",
        type=Path,
        default=None,
        help="the innsight executable (default: the one running this command)",
    )
    if component == "edge":
        parser.add_argument(
            "--config", type=Path, default=Path("/etc/innsight/edge.yaml"), help="edge config"
        )
        parser.add_argument(
            "--watchdog-s", type=int, default=60, help="WatchdogSec: restart when silent (60)"
        )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(f"/var/lib/innsight{'-edge' if component == 'edge' else ''}"),
        help="the only folder the service may write",
    )
    parser.add_argument("--force", action="store_true", help="overwrite a different unit file")
    parser.set_defaults(func=_install_service, component=component)


def add_ops_parsers(parser: argparse.ArgumentParser, *, hub: Any, edge: Any) -> None:
    """Add ``--version`` to ``parser`` and the operator commands to the ``hub`` and ``edge``
    sub-parser groups of ``innsight``."""
    parser.add_argument("--version", action=_VersionAction)
    _add_hub_parsers(hub)
    edge_service = edge.add_parser("install-service", help="write the edge agent's systemd unit")
    _add_service_args(edge_service, "edge")
