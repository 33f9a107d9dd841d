"""The systemd units of ``innsight hub|edge install-service`` (innsight/systemd_units.py).

Two checks: ``systemd-analyze verify`` (systemd's own parser: unknown keys, bad values, a
missing executable) where it can run here — proven first on a known-good control unit, so an
environment that cannot run it is reported as a skip with the reason, never as a pass — and,
always, our own line parser: every key is one systemd knows, and the restart, watchdog and
hardening options the issue asks for are there with the right values.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from innsight.systemd_units import UnitOptions, default_executable, render_unit

# Every key our units may use, per section (a typo or an invented option fails the test).
KNOWN_KEYS = {
    "Unit": {"Description", "Wants", "After", "Requires", "Documentation"},
    "Service": {
        "Type",
        "NotifyAccess",
        "User",
        "Group",
        "EnvironmentFile",
        "Environment",
        "ExecStart",
        "Restart",
        "RestartSec",
        "TimeoutStartSec",
        "TimeoutStopSec",
        "WatchdogSec",
        "StateDirectory",
        "StateDirectoryMode",
        "WorkingDirectory",
        "ReadWritePaths",
        "PrivateDevices",
        "NoNewPrivileges",
        "PrivateTmp",
        "ProtectSystem",
        "ProtectHome",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "ProtectClock",
        "ProtectHostname",
        "RestrictSUIDSGID",
        "RestrictRealtime",
        "RestrictNamespaces",
        "LockPersonality",
        "SystemCallArchitectures",
        "RestrictAddressFamilies",
        "CapabilityBoundingSet",
        "AmbientCapabilities",
        "UMask",
        "LimitNOFILE",
    },
    "Install": {"WantedBy"},
}
HARDENING = {
    "NoNewPrivileges": "yes",
    "PrivateTmp": "yes",
    "ProtectSystem": "strict",
    "ProtectKernelTunables": "yes",
    "ProtectControlGroups": "yes",
    "RestrictSUIDSGID": "yes",
    "CapabilityBoundingSet": "",
}


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """``{section: {key: [values...]}}``; raises on a line that is neither a section, a
    comment, blank, nor ``Key=value`` inside a section."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            name = stripped[1:-1]
            assert name not in sections, f"line {number}: section [{name}] twice"
            current = sections.setdefault(name, {})
            continue
        key, sep, value = stripped.partition("=")
        if not (sep and key and current is not None):
            raise AssertionError(f"line {number}: not Key=value in a section: {line!r}")
        if not key.isidentifier():
            raise AssertionError(f"line {number}: bad key {key!r}")
        current.setdefault(key, []).append(value)
    return sections


def _options(tmp_path: Path, component: str) -> UnitOptions:
    return UnitOptions(
        executable=default_executable(),
        user="innsight",
        data_dir=Path("/var/lib/innsight" + ("-edge" if component == "edge" else "")),
        env_file=Path(f"/etc/innsight/{component}.env"),
        config=tmp_path / "edge.yaml" if component == "edge" else None,
        watchdog_s=60,
    )


@pytest.fixture(params=["hub", "edge"])
def unit(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, UnitOptions]:
    component: str = request.param
    options = _options(tmp_path, component)
    return component, render_unit(component, options), options


def test_units_use_known_keys_and_carry_restart_and_hardening(
    unit: tuple[str, str, UnitOptions],
) -> None:
    component, text, options = unit
    sections = parse_unit(text)
    assert set(sections) == set(KNOWN_KEYS)
    for section, keys in sections.items():
        unknown = set(keys) - KNOWN_KEYS[section]
        assert not unknown, f"[{section}] unknown keys {unknown}"
    service = {key: values[-1] for key, values in sections["Service"].items()}
    assert service["Restart"] == "on-failure"
    for key, value in HARDENING.items():
        assert service[key] == value, key
    assert service["ReadWritePaths"] == str(options.data_dir)
    assert service["StateDirectory"] == options.data_dir.name
    exec_start = service["ExecStart"].split()
    assert Path(exec_start[0]).is_absolute()
    assert Path(exec_start[0]).is_file()
    assert sections["Install"]["WantedBy"] == ["multi-user.target"]
    if component == "edge":
        assert exec_start[1:] == ["edge", "run", "--config", str(options.config)]
        assert service["Type"] == "notify"
        assert service["NotifyAccess"] == "main"
        assert int(service["WatchdogSec"]) == 60
        # the GPU's device nodes must stay reachable
        assert "PrivateDevices" not in service
        assert "ProtectClock" not in service
    else:
        assert exec_start[1:] == ["hub", "serve"]
        assert f"INNSIGHT_DATA_DIR={options.data_dir}" in sections["Service"]["Environment"]
        assert service["PrivateDevices"] == "yes"


def test_a_program_in_a_home_folder_keeps_home_readable(tmp_path: Path) -> None:
    options = UnitOptions(
        executable=Path("/home/ops/venv/bin/innsight"),
        user="innsight",
        data_dir=Path("/srv/innsight"),
        env_file=Path("/etc/innsight/hub.env"),
    )
    service = parse_unit(render_unit("hub", options))["Service"]
    assert service["ProtectHome"] == ["read-only"]
    assert "StateDirectory" not in service  # only for /var/lib/NAME
    assert service["ReadWritePaths"] == ["/srv/innsight"]


def _analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed (apt: systemd; scripts/install.sh --dev)")
    return found


def _verify(analyze: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [analyze, "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=path.parent,
        check=False,
    )


def test_units_pass_systemd_analyze_verify(
    unit: tuple[str, str, UnitOptions], tmp_path: Path
) -> None:
    component, text, _ = unit
    analyze = _analyze()
    control = tmp_path / "innsight-control.service"
    control.write_text(
        f"[Unit]\nDescription=control\n[Service]\nExecStart={sys.executable} -V\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )
    checked = _verify(analyze, control)
    if checked.returncode != 0 or checked.stdout.strip() or checked.stderr.strip():
        pytest.skip(f"systemd-analyze cannot verify here: {checked.stderr.strip()[:300]}")
    # and it does catch a bad unit: an unknown key and a bad restart value
    bad = tmp_path / "innsight-bad.service"
    bad.write_text(control.read_text().replace("[Service]\n", "[Service]\nRestart=sometimes\n"))
    assert "restart" in _verify(analyze, bad).stderr.lower()
    path = tmp_path / f"innsight-{component}.service"
    path.write_text(text)
    result = _verify(analyze, path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""
    assert result.stdout.strip() == ""


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "innsight", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_install_service_writes_once_refuses_to_clobber_and_dry_runs(tmp_path: Path) -> None:
    target = tmp_path / "units"
    dry = _cli("hub", "install-service", "--target-dir", str(target), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "ExecStart=" in dry.stdout
    assert "ProtectSystem=strict" in dry.stdout
    assert not target.exists()

    first = _cli("hub", "install-service", "--target-dir", str(target))
    assert first.returncode == 0, first.stderr
    unit = target / "innsight-hub.service"
    assert unit.read_text() == dry.stdout
    assert oct(unit.stat().st_mode & 0o777) == "0o644"
    again = _cli("hub", "install-service", "--target-dir", str(target))
    assert again.returncode == 0
    assert "unchanged" in again.stdout

    other = _cli("hub", "install-service", "--target-dir", str(target), "--user", "hotel")
    assert other.returncode == 4
    assert "exists and differs" in other.stderr
    assert unit.read_text() == dry.stdout  # nothing overwritten
    forced = _cli(
        "hub", "install-service", "--target-dir", str(target), "--user", "hotel", "--force"
    )
    assert forced.returncode == 0
    assert "User=hotel" in unit.read_text()

    edge = _cli(
        "edge", "install-service", "--target-dir", str(target), "--config", "/etc/x/edge.yaml"
    )
    assert edge.returncode == 0, edge.stderr
    text = (target / "innsight-edge.service").read_text()
    assert "ExecStart=" in text
    assert "edge run --config /etc/x/edge.yaml" in text
    bad = _cli("edge", "install-service", "--target-dir", str(target), "--watchdog-s", "1")
    assert bad.returncode == 2
    assert "--watchdog-s" in bad.stderr


def test_version_comes_from_the_package_metadata() -> None:
    from importlib import metadata

    result = _cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"innsight {metadata.version('innsight')}"
