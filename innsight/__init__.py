"""The innsight command: one console entry point over edge, hub, demo, models and provisioning."""
