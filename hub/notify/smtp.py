"""E-mail over SMTP (``smtplib`` in a worker thread): plain text with an HTML alternative."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from email.message import EmailMessage

from hub.notify.base import Notification, NotifyError

logger = logging.getLogger(__name__)


class SmtpEmailChannel:
    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username
        self._password = password
        self._starttls = starttls
        self._timeout_s = timeout_s

    def build(self, address: str, note: Notification) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = address
        message["Subject"] = note.subject
        message["X-Innsight-Kind"] = note.kind
        message.set_content(note.body)
        if note.html:
            message.add_alternative(note.html, subtype="html")
        return message

    def _send_sync(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout_s) as client:
            if self._starttls:
                client.starttls(context=ssl.create_default_context())
            if self._username and self._password:
                client.login(self._username, self._password)
            client.send_message(message)

    async def send(self, address: str, note: Notification) -> None:
        message = self.build(address, note)
        try:
            await asyncio.to_thread(self._send_sync, message)
        except (smtplib.SMTPException, OSError) as err:
            # the error's text may carry the recipient's address: name its type and code only
            code = getattr(err, "smtp_code", None) or getattr(err, "errno", None)
            raise NotifyError(
                f"SMTP {self._host}:{self._port} did not take the {note.kind} e-mail: "
                f"{type(err).__name__}{f' ({code})' if code else ''}"
            ) from err
        logger.info("sent a %s e-mail through %s:%d", note.kind, self._host, self._port)
