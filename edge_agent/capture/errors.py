"""Errors of the capture adapters (DESIGN convention 5: adapters raise our own errors)."""

from __future__ import annotations


class CaptureError(RuntimeError):
    """A camera or video file could not be opened or read.

    The message names the source with its credentials redacted (``redact_url``): it ends up in
    logs and on the heartbeat, where an RTSP password must never appear.
    """

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(message)
        self.source = source
        """The redacted URL or path of the source, when there is one."""
