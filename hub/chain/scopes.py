"""Per-site scopes on the chain hub: which hotels a caller may read.

A token or API key holds ``cv:read`` (to read events at all) and one ``site:{site}`` scope per
hotel it may see; ``admin`` sees every hotel. A caller with no site scope sees no hotel.
"""

from __future__ import annotations

from collections.abc import Iterable

from hub.auth.scopes import SITE_SCOPE_PREFIX, Scope, is_site_scope


class SiteAccess:
    """The hotels one caller may read: ``every`` (admin) or the named ``sites``."""

    __slots__ = ("every", "sites")

    def __init__(self, *, every: bool, sites: frozenset[str]) -> None:
        self.every = every
        self.sites = sites

    @classmethod
    def of(cls, scopes: Iterable[str]) -> SiteAccess:
        held = frozenset(scopes)
        sites = frozenset(s.removeprefix(SITE_SCOPE_PREFIX) for s in held if is_site_scope(s))
        return cls(every=Scope.ADMIN in held, sites=sites)

    def allows(self, site: str) -> bool:
        return self.every or site in self.sites

    def narrowed(self, site: str | None) -> SiteAccess:
        """Only ``site`` (when given and allowed; the caller checks :meth:`allows` first)."""
        if site is None:
            return self
        return SiteAccess(every=False, sites=frozenset({site}))


def site_scope(site: str) -> str:
    return f"{SITE_SCOPE_PREFIX}{site}"
