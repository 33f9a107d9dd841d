"""Search: lost & found and image search by photo; face search (admin only, with an audited
purpose)."""

from hub.auth.scopes import Scope
from hub.console.registry import Page

PAGE = Page(id="search", order=60, scopes=(Scope.CV_READ,), icon="⌕")
