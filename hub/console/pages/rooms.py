"""Rooms board: rooms by floor and status, a room's last inspection with its photo and per-region
findings, and an inspection photo from a phone (housekeeping)."""

from hub.auth.scopes import Scope
from hub.console.registry import Page

PAGE = Page(id="rooms", order=40, scopes=(Scope.HOTEL_READ,), icon="▦")
