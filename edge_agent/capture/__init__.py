"""edge_agent/capture."""
