"""Today: occupancy tonight, arrivals and departures, open alerts, staff on shift, edge health."""

from hub.auth.scopes import Scope
from hub.console.registry import Page

PAGE = Page(id="today", order=10, scopes=(Scope.HOTEL_READ,), icon="◎")
