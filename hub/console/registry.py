"""The console's pages: each module of :mod:`hub.console.pages` declares one :class:`Page` as
``PAGE``; :func:`pages` finds them all (a new page is a new module, no list to edit)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

from hub.auth.scopes import grants

PAGE_ID_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"


@dataclass(frozen=True, slots=True)
class Page:
    """One console page.

    ``id``: the URL segment (``/console/<id>``), the i18n namespace and the file stem of its
    template (``templates/pages/<id>.html``) and script (``static/pages/<id>.js``).
    ``scopes``: the user must hold ALL of these to see the page in the navigation and open it
    (the API routes it calls check their own scopes again). ``any_scopes``: if given, the user
    must also hold at least one of them. ``order``: position in the navigation.
    ``icon``: one character or short text shown before the title (decorative, aria-hidden).
    """

    id: str
    order: int
    scopes: tuple[str, ...] = ()
    any_scopes: tuple[str, ...] = ()
    icon: str = ""
    nav: bool = True
    script: bool = True
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def title_key(self) -> str:
        return f"{self.id}.title"

    @property
    def template(self) -> str:
        return f"pages/{self.id}.html"

    def allowed(self, scopes: Iterable[str]) -> bool:
        held = frozenset(scopes)
        if not all(grants(held, s) for s in self.scopes):
            return False
        return not self.any_scopes or any(grants(held, s) for s in self.any_scopes)


@cache
def pages() -> tuple[Page, ...]:
    """Every page, in navigation order (ties by id)."""
    from hub.console import pages as package

    found: list[Page] = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        page = getattr(module, "PAGE", None)
        if isinstance(page, Page):
            found.append(page)
    ids = [p.id for p in found]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"console pages declared twice: {', '.join(duplicates)}")
    return tuple(sorted(found, key=lambda p: (p.order, p.id)))


def page_by_id(page_id: str) -> Page | None:
    return next((p for p in pages() if p.id == page_id), None)


def visible_pages(scopes: Iterable[str]) -> list[Page]:
    held = frozenset(scopes)
    return [p for p in pages() if p.nav and p.allowed(held)]
