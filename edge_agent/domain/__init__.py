"""edge_agent/domain."""
