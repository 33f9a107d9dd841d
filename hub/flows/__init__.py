"""Hub flows (DESIGN §5): per-event attendance in the ingest, Prefect flows for the multi-step
work (notifications, pricing, routing, lost & found, reports, hazards, maintenance)."""
