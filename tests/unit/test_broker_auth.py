"""Mosquitto password entries and ACL blocks as ``innsight provision`` writes them."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from provisioning.broker_auth import (
    AclFile,
    AclTemplate,
    BrokerAuthError,
    PasswordFile,
    hash_password,
    new_password,
    verify_password,
)
from provisioning.broker_config import templates_dir

SITE = "hotel-a"


def test_hash_is_mosquittos_pbkdf2_sha512_format() -> None:
    encoded = hash_password("s3cret", iterations=101, salt=b"0123456789ab")
    _, algo, iterations, salt, digest = encoded.split("$")
    assert (algo, iterations, salt) == ("7", "101", "MDEyMzQ1Njc4OWFi")
    assert len(digest) == 88  # 64 bytes, base64
    assert verify_password("s3cret", encoded)
    assert not verify_password("S3cret", encoded)
    assert not verify_password("s3cret", "$6$not$ours")


def test_same_hash_as_mosquitto_passwd(tmp_path: Path) -> None:
    # scripts/install.sh installs mosquitto (which ships mosquitto_passwd): never skipped
    assert shutil.which("mosquitto_passwd"), "mosquitto_passwd missing: run scripts/install.sh"
    path = tmp_path / "passwd"
    path.touch(mode=0o600)
    subprocess.run(["mosquitto_passwd", "-b", str(path), "alice", "pw"], check=True, timeout=30)
    encoded = path.read_text().strip().split(":", 1)[1]
    _, _, iterations, salt, _ = encoded.split("$")
    import base64

    ours = hash_password("pw", iterations=int(iterations), salt=base64.b64decode(salt))
    assert ours == encoded


def test_password_file_is_0600_and_keeps_other_users(tmp_path: Path) -> None:
    passwords = PasswordFile(tmp_path / "passwd")
    first, second = new_password(), new_password()
    passwords.set("hub-hotel-a", first)
    passwords.set("edge-01", second)
    assert stat.S_IMODE((tmp_path / "passwd").stat().st_mode) == 0o600
    assert passwords.users() == ["hub-hotel-a", "edge-01"]
    assert first not in (tmp_path / "passwd").read_text()
    assert verify_password(second, passwords.entries()["edge-01"])

    passwords.set("edge-01", "rotated")
    assert not verify_password(second, passwords.entries()["edge-01"])
    assert passwords.remove("edge-01")
    assert not passwords.remove("edge-01")
    assert passwords.users() == ["hub-hotel-a"]


def test_password_file_refuses_user_names_mosquitto_would_misread(tmp_path: Path) -> None:
    with pytest.raises(BrokerAuthError):
        PasswordFile(tmp_path / "passwd").set("evil:user", "pw")


def test_acl_template_renders_least_privilege_blocks() -> None:
    template = AclTemplate.load(templates_dir() / "acl.template")
    device = template.device_block(SITE, "edge-01").splitlines()
    assert device[0] == "user edge-01"
    writes = {line.split()[2] for line in device if line.startswith("topic write")}
    reads = {line.split()[2] for line in device if line.startswith("topic read")}
    prefix = f"innsight/{SITE}/edge-01/"
    assert writes == {prefix + "status", prefix + "events/+", prefix + "heartbeat"}
    assert reads == {prefix + "acks", prefix + "gallery/version", prefix + "commands"}
    assert all("#" not in topic for topic in writes | reads)

    hub = template.hub_block(SITE, "hub-hotel-a").splitlines()
    assert hub[0] == "user hub-hotel-a"
    assert f"topic read innsight/{SITE}/+/#" in hub
    hub_writes = {line.split()[2] for line in hub if line.startswith("topic write")}
    assert hub_writes == {
        *(f"innsight/{SITE}/+/{c}" for c in ("acks", "gallery/version", "commands")),
        f"innsight/{SITE}/staff/+/notifications",  # staff apps (hub/notify/mqtt.py)
    }


def test_acl_template_refuses_ids_that_would_widen_a_rule() -> None:
    template = AclTemplate.load(templates_dir() / "acl.template")
    for bad in ("+", "#", "a/b", "a b"):
        with pytest.raises(BrokerAuthError):
            template.device_block(SITE, bad)
    # "staff" would let a device write the staff apps' notification topics
    with pytest.raises(BrokerAuthError, match="reserved"):
        template.device_block(SITE, "staff")


def test_acl_file_adds_and_removes_blocks(tmp_path: Path) -> None:
    template = AclTemplate.load(templates_dir() / "acl.template")
    acl = AclFile(tmp_path / "acl")
    acl.set_block(SITE, "hub-hotel-a", template.hub_block(SITE, "hub-hotel-a"))
    acl.set_block(SITE, "edge-01", template.device_block(SITE, "edge-01"))
    acl.set_block(SITE, "edge-02", template.device_block(SITE, "edge-02"))
    assert acl.users() == ["hub-hotel-a", "edge-01", "edge-02"]
    assert acl.remove(SITE, "edge-01")
    assert acl.users() == ["hub-hotel-a", "edge-02"]
    text = (tmp_path / "acl").read_text()
    assert "edge-01" not in text
    assert acl.blocks()["edge-02"] == template.device_block(SITE, "edge-02")
    with pytest.raises(BrokerAuthError):
        acl.set_block(SITE, "edge-03", template.device_block(SITE, "edge-04"))
