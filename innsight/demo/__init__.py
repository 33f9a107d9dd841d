"""`innsight demo`: the whole system on one machine, on a clip built from real photos."""
