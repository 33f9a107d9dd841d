"""Credentials out of camera URLs before they reach a log line or an error message."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"

# Query keys that carry secrets in the camera URLs we see (vendor CGI, signed URLs).
_SECRET_KEYS = re.compile(r"pass|pwd|token|secret|key|auth|sig|credential", re.IGNORECASE)
# Fallback for strings urlsplit refuses (e.g. a malformed port): mask scheme://user:PASS@
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):[^\s]*@")


def redact_url(url: str) -> str:
    """``url`` with the password of its user info and secret query values masked.

    ``rtsp://user:pass@host/x`` becomes ``rtsp://user:***@host/x``: the user name stays (it
    tells an operator which account is configured), the password goes. A plain path is returned
    as it is.
    """
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return _USERINFO.sub(rf"\g<head>:{MASK}@", url)
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_KEYS.search(k) for k, _ in pairs):
            query = urlencode(
                [(k, MASK if _SECRET_KEYS.search(k) else v) for k, v in pairs], safe="*"
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
