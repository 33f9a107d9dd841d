"""The chain hub (``innsight hub serve --role chain``, issue 21 item 4, docs/chain.md).

Every hotel keeps its own broker and hub; each hotel's Mosquitto bridges its events, device
status and heartbeats to a chain broker under the same ``innsight/{site}/...`` topics. The chain
hub reads them all, read-only: :mod:`~hub.chain.ingest` stores them with the hub's ingest
(exactly once per ``(device, seq)`` and ``event_id``) under site-qualified device ids
(:mod:`~hub.chain.keys`), never acks (the hotel's hub does) and never publishes;
:mod:`~hub.chain.views` answers the cross-site views (events, alerts, device health, occupancy)
for the sites a caller's scopes name (:mod:`~hub.chain.scopes`).
"""
