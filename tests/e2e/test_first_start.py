"""A hotel's first start, as its IT team does it, every step a process: ``innsight hub init``
(password from a file), ``innsight hub serve``, a token from ``POST /api/v1/auth/token`` with
that password, a protected route; ``hub users`` and ``hub token``; and the refusals (wrong
password, an existing administrator, a weak password, no password), each with its message and
exit code and nothing overwritten. A hub started before ``init`` answers every 401 with the
command that creates the administrator, logs it once, and sees the administrator ``init``
makes while it runs."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from innsight.broker import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "tulip-marble-anchor-97"
HINT = "no administrator exists yet: on the hub machine run `innsight hub init --data-dir"
TOKEN_URL = "/api/v1/auth/token"
PROTECTED = "/api/v1/admin/api-keys"  # scope admin


def _env(data_dir: Path) -> dict[str, str]:
    """A fresh machine's environment: no INNSIGHT_* from the developer's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INNSIGHT_")}
    env.update(
        INNSIGHT_DATA_DIR=str(data_dir),
        INNSIGHT_SITE="hotel-first",
        INNSIGHT_MQTT_ENABLED="false",  # no broker on this machine yet
        # these tests sign in a dozen times within seconds from one address; the sign-in rate
        # limit (5 at once, 10 a minute) is tested in tests/integration/test_auth.py
        INNSIGHT_RATE_LIMIT_LOGIN_BURST="100",
    )
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "innsight", "--log-level", "warning", *args],
        env=env,
        stdin=subprocess.DEVNULL,  # not a terminal: no prompt can wait for input
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def _serve(env: dict[str, str], log: Path) -> Iterator[str]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "innsight", "hub", "serve", "--port", str(port)],
            env={**env, "INNSIGHT_PUBLIC_BASE_URL": base_url},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                assert process.poll() is None, log.read_text()
                try:
                    if httpx.get(f"{base_url}/api/v1/cv/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the hub did not answer within 90 s"
                time.sleep(0.3)
            yield base_url
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                assert process.wait(timeout=30) in (0, -signal.SIGTERM)
            finally:
                if process.poll() is None:
                    process.kill()


def _image_healthcheck(base_url: str) -> subprocess.CompletedProcess[str]:
    """Run the Dockerfile's ``HEALTHCHECK CMD`` (exec form) against ``base_url``."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    (line,) = [row for row in text.splitlines() if row.startswith("HEALTHCHECK ")]
    argv = json.loads(line[line.index("CMD") + 3 :])
    argv = [arg.replace("http://127.0.0.1:8000", base_url) for arg in argv]
    assert argv[0] == "python"
    assert any(f"{base_url}/api/v1/cv/health" in arg for arg in argv), argv
    return subprocess.run(
        [sys.executable, *argv[1:]], capture_output=True, text=True, timeout=30, check=False
    )


def _sign_in(base_url: str, username: str, password: str) -> httpx.Response:
    form = {"grant_type": "password", "username": username, "password": password}
    return httpx.post(f"{base_url}{TOKEN_URL}", data=form, timeout=30)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_fresh_machine_init_serve_sign_in(tmp_path: Path) -> None:
    env = _env(tmp_path / "hub")
    password_file = tmp_path / "admin.password"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)

    init = _cli(env, "hub", "init", "--password-file", str(password_file))
    assert init.returncode == 0, init.stderr
    assert "administrator 'admin' created" in init.stdout
    assert PASSWORD not in init.stdout + init.stderr  # never printed
    assert (tmp_path / "hub" / "jwt.secret").is_file()

    with _serve(env, tmp_path / "hub.log") as base_url:
        # the hub image's HEALTHCHECK command, as written in the Dockerfile, passes
        assert _image_healthcheck(base_url).returncode == 0

        signed_in = _sign_in(base_url, "admin", PASSWORD)
        assert signed_in.status_code == 200, signed_in.text
        body = signed_in.json()
        assert body["token_type"] == "bearer"
        assert body["scope"] == "admin"
        reached = httpx.get(f"{base_url}{PROTECTED}", headers=_bearer(body["access_token"]))
        assert reached.status_code == 200, reached.text

        # a wrong password: 401 naming the field, and no first-start hint any more
        wrong = _sign_in(base_url, "admin", PASSWORD + "x")
        assert wrong.status_code == 401
        assert wrong.json()["errors"] == [
            {"field": "password", "reason": "incorrect username or password, or a disabled user"}
        ]
        anonymous = httpx.get(f"{base_url}{PROTECTED}")
        assert anonymous.status_code == 401
        assert HINT not in anonymous.text

        # init again, with another password: refused, exit 4, nothing overwritten
        other = tmp_path / "other.password"
        other.write_text("violet-harbour-compass-31\n")
        again = _cli(env, "hub", "init", "--password-file", str(other))
        assert again.returncode == 4, again.stderr
        assert "an administrator exists already (admin): nothing changed" in again.stderr
        assert _sign_in(base_url, "admin", PASSWORD).status_code == 200
        assert _sign_in(base_url, "admin", "violet-harbour-compass-31").status_code == 401

        # users: add (password from an environment variable), list, disable, reset-password
        staff_env = {**env, "FRONTDESK_PW": "amber-kettle-violin-58"}
        added = _cli(staff_env, "hub", "users", "add", "lan", "--role", "staff",
                     "--password-env", "FRONTDESK_PW")  # fmt: skip
        assert added.returncode == 0, added.stderr
        exists = _cli(staff_env, "hub", "users", "add", "lan", "--role", "viewer",
                      "--password-env", "FRONTDESK_PW")  # fmt: skip
        assert exists.returncode == 4
        assert "exists already" in exists.stderr
        listed = _cli(env, "hub", "users", "list")
        assert listed.returncode == 0, listed.stderr
        rows = [line.split() for line in listed.stdout.splitlines()[1:]]
        assert [row[:3] for row in rows] == [["admin", "admin", "no"], ["lan", "staff", "no"]]
        staff_token = _sign_in(base_url, "lan", "amber-kettle-violin-58").json()["access_token"]
        events = httpx.get(f"{base_url}/api/v1/events", headers=_bearer(staff_token))
        assert events.status_code == 200, events.text

        disabled = _cli(env, "hub", "users", "disable", "lan")
        assert disabled.returncode == 0, disabled.stderr
        refused = httpx.get(f"{base_url}/api/v1/events", headers=_bearer(staff_token))
        assert refused.status_code == 401  # the token of a disabled user stops working
        assert _sign_in(base_url, "lan", "amber-kettle-violin-58").status_code == 401
        missing = _cli(env, "hub", "users", "disable", "nobody")
        assert missing.returncode == 5
        assert "no user 'nobody'" in missing.stderr

        new_file = tmp_path / "new.password"
        new_file.write_text("copper-lantern-meadow-12\n")
        weak_file = tmp_path / "weak.password"
        weak_file.write_text("Reception2026!\n")
        weak = _cli(
            env, "hub", "users", "reset-password", "admin", "--password-file", str(weak_file)
        )
        assert weak.returncode == 3
        assert "common password" in weak.stderr
        reset = _cli(
            env, "hub", "users", "reset-password", "admin", "--password-file", str(new_file)
        )
        assert reset.returncode == 0, reset.stderr
        assert _sign_in(base_url, "admin", PASSWORD).status_code == 401
        assert _sign_in(base_url, "admin", "copper-lantern-meadow-12").status_code == 200

        # hub token: an operator's short-lived token for scripts, from the hub's own secret
        minted = _cli(env, "hub", "token", "--scopes", "cv:read", "ml:read", "--minutes", "5")
        assert minted.returncode == 0, minted.stderr
        token = minted.stdout.strip()
        assert httpx.get(f"{base_url}/api/v1/events", headers=_bearer(token)).status_code == 200
        assert httpx.get(f"{base_url}{PROTECTED}", headers=_bearer(token)).status_code == 403
        bad_scope = _cli(env, "hub", "token", "--scopes", "everything", "--minutes", "5")
        assert bad_scope.returncode == 2
        assert "unknown scope 'everything'" in bad_scope.stderr
        too_long = _cli(env, "hub", "token", "--scopes", "admin", "--minutes", "100000")
        assert too_long.returncode == 2
        assert "--minutes" in too_long.stderr
    elsewhere = _cli(_env(tmp_path / "not-the-hub"), "hub", "token", "--scopes", "admin")
    assert elsewhere.returncode == 2
    assert "no signing secret" in elsewhere.stderr
    assert not (tmp_path / "not-the-hub" / "jwt.secret").exists()  # no secret made in vain


def test_a_hub_without_an_administrator_says_how_to_make_one(tmp_path: Path) -> None:
    data_dir = tmp_path / "hub"
    env = _env(data_dir)
    log = tmp_path / "hub.log"
    hint = f"{HINT} {data_dir.resolve()}` to create one, then sign in"
    with _serve(env, log) as base_url:
        answers = [
            httpx.get(f"{base_url}/api/v1/events"),
            httpx.get(f"{base_url}{PROTECTED}", headers=_bearer("not-a-token")),
            httpx.get(f"{base_url}/api/v1/devices", headers={"X-API-Key": "ik_unknown"}),
            _sign_in(base_url, "admin", PASSWORD),
        ]
        for answer in answers:
            assert answer.status_code == 401, answer.text
            assert hint in answer.json()["detail"], answer.text
        # the administrator made while the hub runs is seen without a restart
        password_file = tmp_path / "admin.password"
        password_file.write_text(PASSWORD + "\n")
        init = _cli(env, "hub", "init", "--password-file", str(password_file))
        assert init.returncode == 0, init.stderr
        signed_in = _sign_in(base_url, "admin", PASSWORD)
        assert signed_in.status_code == 200, signed_in.text
        after = httpx.get(f"{base_url}/api/v1/events")
        assert after.status_code == 401
        assert HINT not in after.text
    assert log.read_text().count(hint) == 1, log.read_text()


def test_init_refuses_weak_or_missing_passwords_and_changes_nothing(tmp_path: Path) -> None:
    env = _env(tmp_path / "hub")
    weak = tmp_path / "weak.password"
    for password, reason in (
        ("Hotel2024!", "too short"),
        ("password123456", "common password"),
        ("aaaaaaaaaaaaaaaa", "too repetitive"),
    ):
        weak.write_text(password + "\n")
        refused = _cli(env, "hub", "init", "--password-file", str(weak))
        assert refused.returncode == 3, refused.stderr
        assert "password refused, nothing changed" in refused.stderr
        assert reason in refused.stderr
        assert password not in refused.stdout + refused.stderr

    weak.write_text(PASSWORD + "\n")
    bad_name = _cli(env, "hub", "init", "--username", "front desk", "--password-file", str(weak))
    assert bad_name.returncode == 2
    assert "username 'front desk': 1-64 letters" in bad_name.stderr

    empty = tmp_path / "empty.password"
    empty.write_text("\n")
    for args, message in (
        ((), "no password given: run this on a terminal"),
        (("--password-env", "NO_SUCH_VARIABLE"), "the variable is unset or empty"),
        (("--password-file", str(empty)), "its first line is empty"),
        (("--password-file", str(tmp_path / "absent")), "cannot read it"),
    ):
        result = _cli(env, "hub", "init", *args)
        assert result.returncode == 6, result.stderr
        assert message in result.stderr

    listed = _cli(env, "hub", "users", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1:] == []  # no user was made by any refusal
    assert "no users yet" in listed.stderr


def _on_a_terminal(env: dict[str, str], answers: list[str], *args: str) -> tuple[int, str]:
    """Run ``innsight *args`` with a pseudo-terminal as its controlling terminal (as an operator's
    shell), answer each password prompt in turn; the exit status and everything the terminal
    showed."""
    pid, master = pty.fork()
    if pid == 0:  # the child: the pty is its stdin, stdout, stderr and /dev/tty
        try:
            os.execve(  # noqa: S606 - the test's own interpreter, no shell
                sys.executable,
                [sys.executable, "-m", "innsight", "--log-level", "warning", *args],
                env,
            )
        finally:
            os._exit(127)
    shown = b""
    pending = list(answers)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
            prompts = len(re.findall(rb"(?i)password[^\n]*: ", shown))
            while pending and len(answers) - len(pending) < prompts:  # one answer per prompt
                os.write(master, pending.pop(0).encode() + b"\n")
    finally:
        os.close(master)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def test_init_asks_twice_on_a_terminal_and_never_echoes(tmp_path: Path) -> None:
    env = _env(tmp_path / "hub")
    code, shown = _on_a_terminal(env, [PASSWORD, PASSWORD + "!"], "hub", "init")
    assert code == 6, shown
    assert "the two passwords differ: nothing changed" in shown
    code, shown = _on_a_terminal(env, [PASSWORD, PASSWORD], "hub", "init")
    assert code == 0, shown
    assert "New password (at least 12 characters):" in shown
    assert "The same password again:" in shown
    assert "administrator 'admin' created" in shown
    assert PASSWORD not in shown  # hidden input: the terminal never showed it
