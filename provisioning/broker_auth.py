"""Mosquitto's password file and ACL file, written by us (no ``mosquitto_passwd`` subprocess:
``-b`` would put the password on a command line other users can read in ``/proc``).

Password entries are ``user:$7$<iterations>$<salt b64>$<hash b64>``, PBKDF2-HMAC-SHA512 with a
12-byte salt and a 64-byte hash: the format ``mosquitto_passwd`` writes (Mosquitto >= 2.0).
Passwords are 32 random bytes, so stretching adds nothing against guessing; 1,000 iterations
(``mosquitto_passwd`` uses 101) keep each CONNECT cheap for the broker.

The ACL file holds one block per user, rendered from ``mosquitto/acl.template`` (a ``[hub]`` and
a ``[device]`` section); see that file for why blocks and not ``%u`` patterns.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from contracts.ids import is_valid_id
from provisioning.fs import write_public, write_secret

PBKDF2_ITERATIONS = 1000
SALT_BYTES = 12
HASH_BYTES = 64
PASSWORD_BYTES = 32

_SECTION_RE = re.compile(r"^#\s*\[(\w+)\]\s*$")


class BrokerAuthError(ValueError):
    """A password or ACL file that cannot be read or changed as asked."""


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(
    password: str, *, iterations: int = PBKDF2_ITERATIONS, salt: bytes | None = None
) -> str:
    """The ``$7$`` hash Mosquitto checks ``password`` against."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, HASH_BYTES)
    return f"$7${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches a ``$7$`` hash (ours or ``mosquitto_passwd``'s)."""
    parts = encoded.split("$")
    if len(parts) != 5 or parts[1] != "7" or not parts[2].isdigit():
        return False
    try:
        salt, expected = base64.b64decode(parts[3]), base64.b64decode(parts[4])
    except binascii.Error:
        return False
    digest = hashlib.pbkdf2_hmac(
        "sha512", password.encode("utf-8"), salt, int(parts[2]), len(expected)
    )
    return hmac.compare_digest(digest, expected)


# First topic segments after the site that are not devices (the hub's staff notifications).
RESERVED_DEVICE_IDS = frozenset({"staff"})


def _check_user(user: str) -> None:
    # ids cannot hold ':' (the password file's separator), spaces, '+', '#' or '/'.
    if not is_valid_id(user):
        raise BrokerAuthError(f"invalid broker user name {user!r}")


class PasswordFile:
    """``user:hash`` lines; every write is atomic and leaves the file 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def entries(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        entries: dict[str, str] = {}
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            user, sep, encoded = line.partition(":")
            if not sep or not encoded.startswith("$"):
                raise BrokerAuthError(f"{self.path}:{number}: not a 'user:$hash' line")
            entries[user] = encoded
        return entries

    def users(self) -> list[str]:
        return list(self.entries())

    def set(self, user: str, password: str) -> None:
        """Add ``user`` or replace their password."""
        _check_user(user)
        entries = self.entries()
        entries[user] = hash_password(password)
        self._write(entries)

    def remove(self, user: str) -> bool:
        entries = self.entries()
        if entries.pop(user, None) is None:
            return False
        self._write(entries)
        return True

    def create_empty(self) -> None:
        self._write({})

    def _write(self, entries: dict[str, str]) -> None:
        write_secret(self.path, "".join(f"{u}:{h}\n" for u, h in entries.items()))


@dataclass(frozen=True)
class AclTemplate:
    """The ``[hub]`` and ``[device]`` blocks of ``acl.template`` (``string.Template`` text)."""

    hub: string.Template
    device: string.Template

    @classmethod
    def parse(cls, text: str) -> AclTemplate:
        sections: dict[str, list[str]] = {}
        current: list[str] | None = None
        for line in text.splitlines():
            match = _SECTION_RE.match(line)
            if match:
                current = sections.setdefault(match.group(1), [])
            elif current is not None and line.strip():
                current.append(line)
        missing = {"hub", "device"} - set(sections)
        if missing:
            raise BrokerAuthError(f"ACL template lacks the section(s) {sorted(missing)}")
        return cls(
            hub=string.Template("\n".join(sections["hub"])),
            device=string.Template("\n".join(sections["device"])),
        )

    @classmethod
    def load(cls, path: Path) -> AclTemplate:
        return cls.parse(path.read_text(encoding="utf-8"))

    def hub_block(self, site: str, hub_user: str) -> str:
        _check_user(site)
        _check_user(hub_user)
        return self.hub.substitute(site=site, hub_user=hub_user)

    def device_block(self, site: str, device: str) -> str:
        _check_user(site)
        _check_user(device)
        if device in RESERVED_DEVICE_IDS:
            raise BrokerAuthError(
                f"{device!r} cannot be a device id: innsight/{{site}}/{device}/... is reserved"
            )
        return self.device.substitute(site=site, device=device)


class AclFile:
    """The site's ACL: a header comment, then one ``user NAME`` block per user."""

    HEADER = (
        "# innsight broker ACL for site {site}: written by `innsight provision`; hand edits are\n"
        "# overwritten. One block per user, from mosquitto/acl.template.\n"
    )

    def __init__(self, path: Path) -> None:
        self.path = path

    def blocks(self) -> dict[str, str]:
        """``user -> block text`` (starting at its ``user`` line), in file order."""
        if not self.path.exists():
            return {}
        blocks: dict[str, list[str]] = {}
        current: list[str] | None = None
        for line in self.path.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if len(words) == 2 and words[0] == "user":
                current = blocks.setdefault(words[1], [])
            if current is not None and line.strip() and not line.startswith("#"):
                current.append(line)
        return {user: "\n".join(lines) for user, lines in blocks.items()}

    def users(self) -> list[str]:
        return list(self.blocks())

    def set_block(self, site: str, user: str, block: str) -> None:
        first = block.splitlines()[0].split() if block.strip() else []
        if first != ["user", user]:
            raise BrokerAuthError(f"an ACL block for {user!r} must start with 'user {user}'")
        blocks = self.blocks()
        blocks[user] = block
        self._write(site, blocks)

    def remove(self, site: str, user: str) -> bool:
        blocks = self.blocks()
        if blocks.pop(user, None) is None:
            return False
        self._write(site, blocks)
        return True

    def _write(self, site: str, blocks: dict[str, str]) -> None:
        body = "\n".join(f"{block}\n" for block in blocks.values())
        # No secrets in it, and the broker's own user must be able to read it.
        write_public(self.path, self.HEADER.format(site=site) + "\n" + body)
