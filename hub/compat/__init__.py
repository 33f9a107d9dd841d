"""Adapters that let tools written for other products talk to the hub (off by default)."""
