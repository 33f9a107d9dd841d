"""Shared by the console's browser tests (tests/e2e/test_console*.py): one hub with a user per
role per xdist worker, and one Chromium per test module, created only when a console test asks
for them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from testkit.browser import ConsoleHub, chromium, console_hub


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleHub]:
    """A running hub + real Mosquitto, users ada (admin), minh (manager), hana (staff),
    dung (dpo), vy (viewer); password testkit.browser.PASSWORD."""
    with console_hub(tmp_path_factory.mktemp("console")) as running:
        yield running


@pytest.fixture(scope="module")
def console_browser() -> Iterator[Browser]:
    """Per module, not per session: Playwright's sync API keeps an event loop running in the
    worker's main thread while it is open, so every later test's ``asyncio.run`` would fail;
    the module's end closes it before the worker moves on."""
    with chromium() as running:
        yield running
