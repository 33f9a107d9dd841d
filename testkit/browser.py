"""The staff console in a real browser: Debian's Chromium driven by Playwright, a running hub
with real Mosquitto, users of each role, and the checks every console test shares (axe-core,
screenshots). The pytest fixtures built on these live in tests/e2e/conftest.py."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, sync_playwright

from hub.auth.local import issue_local_token
from hub.auth.scopes import role_scopes
from hub.auth.tokens import TokenKind
from innsight.broker import MosquittoBroker
from testkit.hub import RunningHub, hub_settings, running_hub

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 360, "height": 740}
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}
READY_TIMEOUT_MS = 15_000
TOKEN_KEY = "innsight.console.token"  # sessionStorage key (static/js/session.js)
SCOPES_KEY = "innsight.console.scopes"
BLOCKING_IMPACTS = frozenset({"serious", "critical"})
# WCAG 2.1 A and AA rules; only violations are reported back (much less to serialise)
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}

# one user per role; a password that passes the hub's policy
PASSWORD = "Console-Test-Pass-2026!"  # a test account
ROLE_USERS = {
    "admin": "ada",
    "manager": "minh",
    "staff": "hana",  # housekeeping / front desk
    "dpo": "dung",
    "viewer": "vy",
}


def chromium_path() -> str:
    """Debian's Chromium (apt ``chromium``; Playwright's own download is not reachable)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise RuntimeError("chromium is not installed: apt-get install -y chromium")
    return found


def artifacts_dir() -> Path:
    """Where screenshots go: $INNSIGHT_ARTIFACTS/console (CI keeps it), else a tmp folder."""
    root = os.environ.get("INNSIGHT_ARTIFACTS")
    base = Path(root) if root else Path(tempfile.gettempdir()) / "innsight-artifacts"
    path = base / "console"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def chromium() -> Iterator[Browser]:
    """One headless Chromium for a whole test module or session."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            # root in containers needs --no-sandbox; the rest keep a loaded 2-core box quiet
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio"],
        )
        try:
            yield browser
        finally:
            browser.close()


class RoleUsers(Mapping[str, str]):
    """``users[role]`` -> the role's user name, the user created on the hub at first use (each
    creation hashes a password with Argon2: about a second on a loaded CI box)."""

    def __init__(self, hub: RunningHub) -> None:
        self._hub = hub
        self._created: set[str] = set()

    def __getitem__(self, role: str) -> str:
        username = ROLE_USERS[role]
        if role not in self._created:
            answer = self._hub.http.post(
                "/api/v1/admin/users",
                json={"username": username, "password": PASSWORD, "role": role},
            )
            if answer.status_code != 201:
                raise RuntimeError(f"creating user {username}: {answer.status_code} {answer.text}")
            self._created.add(role)
        return username

    def __iter__(self) -> Iterator[str]:
        return iter(ROLE_USERS)

    def __len__(self) -> int:
        return len(ROLE_USERS)


@dataclass
class ConsoleHub:
    """A running hub; ``users[role]`` names the role's user (password PASSWORD)."""

    hub: RunningHub
    broker: MosquittoBroker | None
    users: RoleUsers

    @property
    def base_url(self) -> str:
        return str(self.hub.http.base_url).rstrip("/")

    def token(self, role: str) -> tuple[str, str]:
        """(access token, scopes) of the role's user: the token the password flow would issue,
        signed here (no Argon2 verification per test; the sign-in test types the password)."""
        scopes = role_scopes(role)
        token = issue_local_token(
            self.hub.settings, scopes, subject=self.users[role], kind=TokenKind.USER
        )
        return token, " ".join(sorted(scopes))

    def http_as(self, role: str) -> httpx.Client:
        token, _ = self.token(role)
        return httpx.Client(
            base_url=self.base_url, timeout=30.0, headers={"Authorization": f"Bearer {token}"}
        )


@contextmanager
def console_hub(
    workdir: Path, *, with_broker: bool = True, **overrides: Any
) -> Iterator[ConsoleHub]:
    """A hub (real Mosquitto when ``with_broker``) with the role users, for console tests."""
    with ExitStack() as stack:
        broker = None
        if with_broker:
            broker = MosquittoBroker(workdir=workdir / "mosquitto")
            broker.start()
            stack.callback(broker.kill)
        settings = hub_settings(workdir / "hub", broker, **overrides)
        hub = stack.enter_context(running_hub(settings))
        yield ConsoleHub(hub, broker, RoleUsers(hub))


def new_context(
    browser: Browser, viewport: str = "desktop", *, axe: bool = False, **options: Any
) -> BrowserContext:
    """A fresh context (its own storage). ``axe``: axe-core is loaded into every page it opens
    (faster than injecting the 500 kB script at each check: :func:`blocking_violations`)."""
    context = browser.new_context(viewport=VIEWPORTS[viewport], **options)
    context.set_default_timeout(READY_TIMEOUT_MS)
    if axe:
        context.add_init_script(script=Axe().axe_script)
    return context


def wait_ready(page: Page) -> None:
    """Until the console shell says the page is interactive (``<body data-ready="1">``)."""
    page.wait_for_selector("body[data-ready='1']", state="attached", timeout=READY_TIMEOUT_MS)


def open_page(page: Page, base_url: str, page_id: str) -> None:
    page.goto(f"{base_url}/console/{page_id}")
    wait_ready(page)


def sign_in_with_token(page: Page, console: ConsoleHub, role: str) -> None:
    """Signs ``page``'s tab in as the role's user without typing (the token from the password
    flow put where the sign-in page puts it). Tests of the sign-in form itself type."""
    token, scopes = console.token(role)
    page.goto(f"{console.base_url}/console/signin")
    page.evaluate(
        "([k, t, s, v]) => { sessionStorage.setItem(k, t); sessionStorage.setItem(s, v); }",
        [TOKEN_KEY, token, SCOPES_KEY, scopes],
    )


def sign_in_with_form(page: Page, username: str, password: str = PASSWORD) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def blocking_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if page.evaluate("typeof window.axe === 'undefined'"):
        page.evaluate(Axe().axe_script)
    response = page.evaluate("options => window.axe.run(document, options)", AXE_OPTIONS)
    violations: list[dict[str, Any]] = response.get("violations", [])
    return [
        {
            "id": v["id"],
            "impact": v.get("impact"),
            "help": v.get("help"),
            "targets": [n.get("target") for n in v.get("nodes", [])][:5],
        }
        for v in violations
        if v.get("impact") in BLOCKING_IMPACTS
    ]


def screenshots(page: Page, name: str) -> list[Path]:
    """``<name>-desktop.png`` and ``<name>-phone.png`` of the page as it is, without reloading
    (the viewport is switched to 360x740 and back)."""
    size = page.viewport_size or DESKTOP
    paths = [screenshot(page, f"{name}-desktop")]
    page.set_viewport_size(PHONE)
    try:
        paths.append(screenshot(page, f"{name}-phone"))
    finally:
        page.set_viewport_size(size)
    return paths


def screenshot(page: Page, name: str) -> Path:
    """Saves a full-page PNG as ``<artifacts>/console/<name>.png``."""
    path = artifacts_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
