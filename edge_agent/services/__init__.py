"""edge_agent/services."""
