"""Attendance board: who is in, late, absent per shift; corrections; PIN/badge; CSV export."""

from hub.auth.scopes import Scope
from hub.console.registry import Page

PAGE = Page(id="attendance", order=30, scopes=(Scope.HOTEL_READ, Scope.HOTEL_PII), icon="◷")
