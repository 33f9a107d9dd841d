"""systemd units for hosts without containers: ``innsight hub|edge install-service``.

The units are rendered here (not copied from files) because ``ExecStart`` must name the
absolute path of the ``innsight`` that was installed, and the data dir is the operator's choice.
Both restart on failure and are hardened (read-only system, private /tmp, no new privileges,
no capabilities; the data dir is the only place they write). The edge is ``Type=notify``: it
says READY once its services run and pets a watchdog (``WatchdogSec``) from its main loop
(:mod:`edge_agent.sd_notify`), so a wedged agent is restarted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_EXISTS = 4

UNIT_NAMES = {"hub": "innsight-hub.service", "edge": "innsight-edge.service"}
ENV_FILES = {"hub": Path("/etc/innsight/hub.env"), "edge": Path("/etc/innsight/edge.env")}
_HOME_PREFIXES = (Path("/home"), Path("/root"), Path("/run/user"))

_HARDENING = """\
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=strict
ProtectHome={protect_home}
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
CapabilityBoundingSet=
AmbientCapabilities=
UMask=0077
"""


@dataclass(frozen=True, slots=True)
class UnitOptions:
    executable: Path
    user: str
    data_dir: Path
    env_file: Path
    config: Path | None = None  # edge only
    watchdog_s: int = 60  # edge only


def _under_home(path: Path) -> bool:
    return any(path == prefix or prefix in path.parents for prefix in _HOME_PREFIXES)


def _protect_home(options: UnitOptions) -> str:
    """``yes`` hides /home, /root and /run/user; ``read-only`` when the program or the data
    lives there (a venv in a home folder), so the unit still starts."""
    in_home = _under_home(options.executable) or _under_home(options.data_dir)
    return "read-only" if in_home else "yes"


def _state_lines(data_dir: Path) -> str:
    """``StateDirectory=`` makes /var/lib/NAME owned by the service user; any other data dir
    must exist and is opened with ``ReadWritePaths=`` alone."""
    lines = f"WorkingDirectory={data_dir}\nReadWritePaths={data_dir}\n"
    if data_dir.parent == Path("/var/lib"):
        lines = f"StateDirectory={data_dir.name}\nStateDirectoryMode=0750\n" + lines
    return lines


def render_hub_unit(options: UnitOptions) -> str:
    """The hub's unit: ``innsight hub serve`` as ``options.user``, settings from the env file."""
    return f"""\
# innsight hub: REST API + MQTT ingest. Written by `innsight hub install-service`.
# Settings: INNSIGHT_* in {options.env_file} (see `innsight hub serve --help`).
# First start: sudo -u {options.user} {options.executable} hub init --data-dir {options.data_dir}
[Unit]
Description=innsight hub (REST API and MQTT ingest)
Wants=network-online.target
After=network-online.target postgresql.service mosquitto.service

[Service]
Type=exec
User={options.user}
Group={options.user}
EnvironmentFile=-{options.env_file}
Environment=INNSIGHT_DATA_DIR={options.data_dir}
Environment=INNSIGHT_MODELS_DIR={options.data_dir}/models
Environment=HOME={options.data_dir}
ExecStart={options.executable} hub serve
Restart=on-failure
RestartSec=5
TimeoutStopSec=45
{_state_lines(options.data_dir)}PrivateDevices=yes
ProtectClock=yes
{_HARDENING.format(protect_home=_protect_home(options))}LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
"""


def render_edge_unit(options: UnitOptions) -> str:
    """The edge agent's unit: ``Type=notify`` with a watchdog the agent pets."""
    if options.config is None:
        raise ValueError("the edge unit needs the agent's config file")
    return f"""\
# innsight edge agent. Written by `innsight edge install-service`.
# Check the config first: {options.executable} edge check-config {options.config}
[Unit]
Description=innsight edge agent (cameras, recognition, outbox)
Wants=network-online.target
After=network-online.target

[Service]
Type=notify
NotifyAccess=main
User={options.user}
Group={options.user}
EnvironmentFile=-{options.env_file}
Environment=INNSIGHT_MODELS_DIR={options.data_dir}/models
Environment=HOME={options.data_dir}
ExecStart={options.executable} edge run --config {options.config}
Restart=on-failure
RestartSec=5
# READY comes once the agent's services run (a first gallery may take a while)
TimeoutStartSec=300
# the agent pets the watchdog from its main loop; silent for this long: killed and restarted
WatchdogSec={options.watchdog_s}
TimeoutStopSec=60
# no PrivateDevices, no ProtectClock (it implies a device allow-list): the agent needs the
# GPU's and cameras' device nodes (/dev/nvidia*, /dev/nvhost-*, /dev/video*)
{_state_lines(options.data_dir)}{_HARDENING.format(protect_home=_protect_home(options))}
[Install]
WantedBy=multi-user.target
"""


def render_unit(component: str, options: UnitOptions) -> str:
    return render_hub_unit(options) if component == "hub" else render_edge_unit(options)


def default_executable() -> Path:
    """The ``innsight`` beside the running Python (its venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "innsight"
    if beside.is_file():
        return beside.absolute()
    found = shutil.which("innsight")
    return Path(found).absolute() if found else beside.absolute()


def write_unit(text: str, path: Path, *, force: bool) -> str:
    """Write ``text`` to ``path`` atomically (mode 0644): ``written`` or ``unchanged``; raises
    FileExistsError when a different unit is there and ``force`` is false."""
    if path.exists():
        if path.read_text(encoding="utf-8") == text:
            return "unchanged"
        if not force:
            raise FileExistsError(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    os.chmod(temp, 0o644)
    os.replace(temp, path)
    return "written"


def _options(args: argparse.Namespace) -> UnitOptions:
    executable = args.executable or default_executable()
    return UnitOptions(
        executable=Path(executable).absolute(),
        user=args.user,
        data_dir=Path(args.data_dir).absolute(),
        env_file=ENV_FILES[args.component],
        config=Path(args.config).absolute() if args.component == "edge" else None,
        watchdog_s=getattr(args, "watchdog_s", 60),
    )


def cmd_install_service(args: argparse.Namespace) -> int:
    """``innsight hub|edge install-service [--target-dir DIR] [--dry-run] ...``."""
    if getattr(args, "watchdog_s", 60) < 2:
        sys.stderr.write("--watchdog-s: give 2 seconds or more\n")
        return EXIT_USAGE
    options = _options(args)
    text = render_unit(args.component, options)
    if args.dry_run:
        sys.stdout.write(text)
        return EXIT_OK
    name = UNIT_NAMES[args.component]
    path = Path(args.target_dir) / name
    try:
        outcome = write_unit(text, path, force=args.force)
    except FileExistsError:
        sys.stderr.write(
            f"{path} exists and differs: nothing written (compare with --dry-run; "
            "--force replaces it)\n"
        )
        return EXIT_EXISTS
    except OSError as err:
        sys.stderr.write(f"cannot write {path}: {err} (as root, or another --target-dir)\n")
        return EXIT_FAILED
    service = name.removesuffix(".service")
    sys.stdout.write(
        f"{path}: {outcome}\nnext, as root:\n"
        f"  id {options.user} >/dev/null 2>&1 || useradd --system --create-home "
        f"--home-dir {options.data_dir} --shell /usr/sbin/nologin {options.user}\n"
        + (
            f"  sudo -u {options.user} sh -c 'set -a; [ -r {options.env_file} ] && . "
            f"{options.env_file}; {options.executable} hub init --data-dir {options.data_dir}'\n"
            if args.component == "hub"
            else ""
        )
        + f"  systemctl daemon-reload && systemctl enable --now {service}\n"
        f"  journalctl -u {service} -f\n"
    )
    return EXIT_OK
