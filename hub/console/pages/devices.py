"""Devices: edges with heartbeat, per-camera fps, outbox depth, gallery version, models."""

from hub.auth.scopes import Scope
from hub.console.registry import Page

PAGE = Page(id="devices", order=90, scopes=(Scope.CV_READ, Scope.METRICS_READ), icon="▣")
