"""Builds the hub's notifier from its settings."""

from __future__ import annotations

from hub.db import SessionFactory
from hub.notify.base import Channel
from hub.notify.dispatch import Notifier
from hub.notify.mqtt import MqttTopicChannel, Publisher
from hub.notify.smtp import SmtpEmailChannel
from hub.notify.webhook import WebhookChannel
from hub.settings import HubSettings


def build_notifier(
    settings: HubSettings,
    session_factory: SessionFactory | None,
    publisher: Publisher | None = None,
) -> Notifier:
    channels: dict[str, Channel] = {}
    if settings.smtp_host:
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        channels["email"] = SmtpEmailChannel(
            settings.smtp_host,
            settings.smtp_port,
            sender=settings.smtp_sender,
            username=settings.smtp_username,
            password=password,
            starttls=settings.smtp_starttls,
            timeout_s=settings.smtp_timeout_s,
        )
    if settings.notify_webhook_url:
        secret = (
            settings.notify_webhook_secret.get_secret_value()
            if settings.notify_webhook_secret
            else None
        )
        channels["webhook"] = WebhookChannel(settings.notify_webhook_url, secret=secret)
    if publisher is not None:
        channels["mqtt"] = MqttTopicChannel(publisher, settings.site)
    return Notifier(channels, session_factory)
