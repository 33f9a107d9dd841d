"""edge_agent/index."""
