"""The hub's Alembic migrations (env.py, script.py.mako, versions/); driven by hub/schema.py."""
