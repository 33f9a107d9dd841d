"""edge_agent/outbox."""
