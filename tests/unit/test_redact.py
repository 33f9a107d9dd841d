"""Camera URLs lose their passwords before they reach a log line or an error."""

from __future__ import annotations

import pytest

from edge_agent.capture.redact import redact_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://user:pass@host/x", "rtsp://user:***@host/x"),
        (
            "rtsp://admin:s3cr3t@10.0.0.7:554/Streaming/101",
            "rtsp://admin:***@10.0.0.7:554/Streaming/101",
        ),
        ("rtsp://user:p@ss:w0rd@cam.local/live", "rtsp://user:***@cam.local/live"),
        ("rtsp://:pass@host/x", "rtsp://:***@host/x"),
        (
            "http://cam/snap.cgi?user=admin&pwd=hunter2&ch=1",
            "http://cam/snap.cgi?user=admin&pwd=***&ch=1",
        ),
        ("rtsp://user:pass@host:notaport/x", "rtsp://user:***@host:notaport/x"),
    ],
)
def test_passwords_are_masked(url: str, expected: str) -> None:
    redacted = redact_url(url)
    assert redacted == expected
    assert "pass" not in redacted.replace("***", "")
    assert "hunter2" not in redacted


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://host/x",
        "rtsp://admin@host/x",
        "/var/lib/innsight/clips/lobby.mp4",
        "file:///var/clips/a.avi",
        "rtsp://host/x?channel=1&subtype=0",
    ],
)
def test_urls_without_a_secret_are_unchanged(url: str) -> None:
    assert redact_url(url) == url
