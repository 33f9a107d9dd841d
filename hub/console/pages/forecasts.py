"""Forecasts & pricing: occupancy and revenue forecasts with their bands, published prices with
their reasons, approve or override (ml:write)."""

from hub.auth.scopes import Scope
from hub.console.registry import Page

PAGE = Page(id="forecasts", order=70, scopes=(Scope.ML_READ,), icon="↗")
