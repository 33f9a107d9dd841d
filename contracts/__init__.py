"""The wire contract shared by the edge agent and the hub (DESIGN §2): topics and messages."""
