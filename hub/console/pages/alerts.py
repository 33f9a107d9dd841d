"""Alerts inbox: hazard alerts live (server-sent events), acknowledge / assign / resolve."""

from hub.auth.scopes import Scope
from hub.console.registry import Page

PAGE = Page(id="alerts", order=20, scopes=(Scope.CV_READ,), icon="!")
