"""Notification channels (adapters): SMTP e-mail, webhook, and an MQTT topic for staff apps."""
