"""edge_agent/transport."""
