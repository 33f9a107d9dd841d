"""Edge agent: capture -> detect -> track -> embed -> match -> event -> outbox -> MQTT."""
