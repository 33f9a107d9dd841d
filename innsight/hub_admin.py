"""Handlers of ``innsight hub init | users ... | token`` (see :mod:`innsight.ops_cli`).

They act on the hub's own data dir and database (the settings come from ``INNSIGHT_*`` as for
``hub serve``; ``--data-dir`` overrides the data dir), as an operator on the hub machine does.
Passwords come from a hidden terminal prompt (asked twice), a file or an environment variable;
they are never printed, never defaulted, and checked by :mod:`hub.auth.password_policy`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import re
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.auth.keys import JWT_SECRET_FILE, SecretFileError, with_secrets
from hub.auth.password_policy import MIN_PASSWORD_CHARS, password_problems
from hub.auth.scopes import Role, ScopeError
from hub.settings import HubSettings, HubSettingsError

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_WEAK_PASSWORD = 3
EXIT_EXISTS = 4
EXIT_NO_SUCH_USER = 5
EXIT_NO_PASSWORD = 6

MAX_TOKEN_MINUTES = 24 * 60
# the same rule as POST /api/v1/admin/users
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")

T = TypeVar("T")


class CommandError(Exception):
    """Ends a command with ``message`` on stderr and ``code`` as the exit status."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def load_settings(data_dir: Path | None, environ: Mapping[str, str] = os.environ) -> HubSettings:
    """The hub's settings from ``INNSIGHT_*``, with ``data_dir`` (when given) instead of
    ``INNSIGHT_DATA_DIR`` (the database and objects defaults follow it)."""
    env = dict(environ)
    if data_dir is not None:
        env["INNSIGHT_DATA_DIR"] = str(data_dir)
    try:
        return HubSettings.from_env(env)
    except HubSettingsError as err:
        raise CommandError(EXIT_USAGE, f"invalid settings: {err}") from None


# -- passwords ------------------------------------------------------------------------------


def read_password(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str] = os.environ,
    prompt: Callable[[str], str] = getpass.getpass,
    interactive: bool | None = None,
) -> str:
    """The new password from ``--password-file``, ``--password-env`` or the terminal (twice)."""
    if args.password_file is not None:
        try:
            text = Path(args.password_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise CommandError(
                EXIT_NO_PASSWORD, f"--password-file {args.password_file}: cannot read it ({err})"
            ) from None
        lines = text.splitlines()
        password = lines[0] if lines else ""
        if not password:
            raise CommandError(
                EXIT_NO_PASSWORD, f"--password-file {args.password_file}: its first line is empty"
            )
        return password
    if args.password_env is not None:
        password = environ.get(args.password_env, "")
        if not password:
            raise CommandError(
                EXIT_NO_PASSWORD,
                f"--password-env {args.password_env}: the variable is unset or empty",
            )
        return password
    if not (sys.stdin.isatty() if interactive is None else interactive):
        raise CommandError(
            EXIT_NO_PASSWORD,
            "no password given: run this on a terminal (it asks twice, hidden), or pass "
            "--password-file FILE or --password-env VAR",
        )
    first = prompt(f"New password (at least {MIN_PASSWORD_CHARS} characters): ")
    second = prompt("The same password again: ")
    if first != second:
        raise CommandError(EXIT_NO_PASSWORD, "the two passwords differ: nothing changed")
    return first


def check_username(username: str) -> None:
    if not USERNAME.fullmatch(username):
        raise CommandError(
            EXIT_USAGE,
            f"username {username!r}: 1-64 letters, digits or . _ @ -, starting with a letter "
            "or digit",
        )


def check_new_password(password: str, username: str) -> None:
    problems = password_problems(password, username=username)
    if problems:
        reasons = "\n".join(f"  - {problem}" for problem in problems)
        raise CommandError(EXIT_WEAK_PASSWORD, f"password refused, nothing changed:\n{reasons}")


# -- the database ---------------------------------------------------------------------------


async def _with_session(settings: HubSettings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Prepare the schema (as the hub does at start), run ``work`` in one transaction, commit."""
    from hub.crypto import PiiCipher, bind_pii_cipher
    from hub.db import create_engine, create_session_factory, init_db

    engine = create_engine(settings.database_url.get_secret_value())
    bind_pii_cipher(engine, PiiCipher.from_secret(settings.pii_key))
    try:
        await init_db(engine)
        async with create_session_factory(engine)() as session:
            result = await work(session)
            await session.commit()
            return result
    finally:
        await engine.dispose()


def _run(settings: HubSettings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    try:
        return asyncio.run(_with_session(settings, work))
    except (SQLAlchemyError, OSError, RuntimeError) as err:
        raise CommandError(EXIT_FAILED, f"the database could not be used: {err}") from None


def _prepared_settings(data_dir: Path | None) -> HubSettings:
    """Settings with the data dir, the objects dir and the two secrets in place."""
    settings = load_settings(data_dir)
    try:
        settings.data_dir.mkdir(mode=0o750, parents=True, exist_ok=True)  # secrets live here
        settings.objects_dir.mkdir(parents=True, exist_ok=True)
        return with_secrets(settings)
    except (OSError, SecretFileError) as err:
        raise CommandError(EXIT_FAILED, f"cannot prepare {settings.data_dir}: {err}") from None


def _guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except CommandError as err:
            _err(err.message)
            return err.code
        except KeyboardInterrupt:
            _err("interrupted: nothing changed")
            return EXIT_FAILED

    run.__doc__ = command.__doc__
    return run


# -- commands -------------------------------------------------------------------------------


@_guarded
def cmd_init(args: argparse.Namespace) -> int:
    """``hub init``: data dir, secrets, schema, then the first administrator (once)."""
    from hub.auth.store import UserExistsError, create_user, list_users

    check_username(args.username)
    settings = _prepared_settings(args.data_dir)
    admins = [u.username for u in _run(settings, list_users) if u.role == Role.ADMIN.value]
    if admins:
        raise CommandError(
            EXIT_EXISTS,
            f"an administrator exists already ({', '.join(admins)}): nothing changed. "
            "Add users with `innsight hub users add NAME --role ROLE`, or set a new password "
            "with `innsight hub users reset-password NAME`.",
        )
    password = read_password(args)
    check_new_password(password, args.username)

    async def create(session: AsyncSession) -> None:
        await create_user(session, args.username, password, Role.ADMIN)

    try:
        _run(settings, create)
    except UserExistsError:
        raise CommandError(
            EXIT_EXISTS,
            f"a user {args.username!r} exists already (not an administrator): nothing "
            "changed; choose another --username",
        ) from None
    _say(f"data dir {settings.data_dir.resolve()}: ready")
    _say(f"administrator {args.username!r} created. Start the hub with `innsight hub serve`,")
    _say("then sign in at http://<hub>:8000/docs (Authorize) with this name and password.")
    return EXIT_OK


@_guarded
def cmd_users_add(args: argparse.Namespace) -> int:
    from hub.auth.store import UserExistsError, create_user, find_user

    check_username(args.username)
    settings = _prepared_settings(args.data_dir)
    if _run(settings, lambda s: find_user(s, args.username)) is not None:
        raise CommandError(EXIT_EXISTS, f"user {args.username!r} exists already: nothing changed")
    password = read_password(args)
    check_new_password(password, args.username)

    async def create(session: AsyncSession) -> None:
        await create_user(session, args.username, password, Role(args.role))

    try:
        _run(settings, create)
    except UserExistsError as err:
        raise CommandError(EXIT_EXISTS, f"{err}: nothing changed") from None
    _say(f"user {args.username!r} ({args.role}) created")
    return EXIT_OK


@_guarded
def cmd_users_list(args: argparse.Namespace) -> int:
    from hub.auth.store import list_users

    settings = _prepared_settings(args.data_dir)
    users = _run(settings, list_users)
    rows = [("username", "role", "disabled", "created")]
    rows += [
        (u.username, u.role, "yes" if u.disabled else "no", f"{u.created_at:%Y-%m-%d %H:%M}")
        for u in users
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        _say("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    if not users:
        _err("no users yet: create the first administrator with `innsight hub init`")
    return EXIT_OK


def _set_disabled(args: argparse.Namespace, disabled: bool) -> int:
    from hub.auth.store import UnknownUserError, set_user_disabled

    settings = _prepared_settings(args.data_dir)

    async def change(session: AsyncSession) -> None:
        await set_user_disabled(session, args.username, disabled)

    try:
        _run(settings, change)
    except UnknownUserError as err:
        raise CommandError(EXIT_NO_SUCH_USER, f"{err}: see `innsight hub users list`") from None
    _say(f"user {args.username!r} {'disabled' if disabled else 'enabled'}")
    return EXIT_OK


@_guarded
def cmd_users_disable(args: argparse.Namespace) -> int:
    return _set_disabled(args, True)


@_guarded
def cmd_users_enable(args: argparse.Namespace) -> int:
    return _set_disabled(args, False)


@_guarded
def cmd_users_reset_password(args: argparse.Namespace) -> int:
    from hub.auth.store import UnknownUserError, find_user, set_user_password

    settings = _prepared_settings(args.data_dir)
    if _run(settings, lambda s: find_user(s, args.username)) is None:
        raise CommandError(
            EXIT_NO_SUCH_USER, f"no user {args.username!r}: see `innsight hub users list`"
        )
    password = read_password(args)
    check_new_password(password, args.username)

    async def change(session: AsyncSession) -> None:
        await set_user_password(session, args.username, password)

    try:
        _run(settings, change)
    except UnknownUserError as err:
        raise CommandError(EXIT_NO_SUCH_USER, str(err)) from None
    _say(f"password of {args.username!r} changed")
    return EXIT_OK


@_guarded
def cmd_token(args: argparse.Namespace) -> int:
    """``hub token``: a short-lived token signed with the hub's existing secret."""
    from hub.auth.local import issue_local_token
    from hub.auth.tokens import TokenKind

    if not 1 <= args.minutes <= MAX_TOKEN_MINUTES:
        raise CommandError(EXIT_USAGE, f"--minutes: give 1..{MAX_TOKEN_MINUTES}")
    scopes = [part for item in args.scopes for part in item.replace(",", " ").split()]
    settings = load_settings(args.data_dir)
    secret_file = settings.data_dir / JWT_SECRET_FILE
    if settings.jwt_secret is None and not secret_file.is_file():
        # never make a new secret here: a token signed with it would be useless to the hub
        raise CommandError(
            EXIT_USAGE,
            f"no signing secret at {secret_file}: is {settings.data_dir} this hub's data dir "
            "(--data-dir or INNSIGHT_DATA_DIR)? A new hub makes it at `innsight hub init`.",
        )
    try:
        token = issue_local_token(
            settings, scopes, subject=args.subject, kind=TokenKind.LOCAL, minutes=args.minutes
        )
    except ScopeError as err:
        raise CommandError(EXIT_USAGE, f"--scopes: {err}") from None
    except (OSError, SecretFileError) as err:
        raise CommandError(EXIT_FAILED, f"cannot read the hub's secret: {err}") from None
    _say(token)
    return EXIT_OK
