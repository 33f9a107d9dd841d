"""Test helpers: real services started on free ports."""
