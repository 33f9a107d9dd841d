"""Perception models shared by the edge agent and the hub (DESIGN §3)."""
