"""hub/vision."""
