"""CompreFace-compatible REST over the hub's face services (docs/compreface.md)."""
