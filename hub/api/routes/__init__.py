"""hub/api/routes."""
