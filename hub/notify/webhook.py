"""A JSON POST to a configured URL, signed with HMAC-SHA256 when a secret is set
(``X-Innsight-Signature: sha256=<hex>`` over the raw body)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from hub.notify.base import Notification, NotifyError

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Innsight-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel:
    name = "webhook"

    def __init__(self, url: str, *, secret: str | None = None, timeout_s: float = 10.0) -> None:
        self._url = url
        self._secret = secret
        self._timeout_s = timeout_s

    def payload(self, address: str, note: Notification) -> bytes:
        return json.dumps(
            {"kind": note.kind, "to": address, "subject": note.subject, "body": note.body},
            ensure_ascii=False,
        ).encode()

    async def send(self, address: str, note: Notification) -> None:
        body = self.payload(address, note)
        headers = {"Content-Type": "application/json"}
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, body)
        import httpx  # loaded on the first webhook, not with every hub process

        try:
            async with httpx.AsyncClient(timeout=self._timeout_s) as client:
                response = await client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as err:
            raise NotifyError(f"webhook unreachable: {type(err).__name__}") from err
        if response.status_code >= 300:
            raise NotifyError(f"webhook answered {response.status_code}")
        logger.info("sent a %s webhook", note.kind)
