"""What several API replicas of one hub share through the database (issue 21 item 3).

- :mod:`~hub.cluster.state_versions`: a version per named in-memory state (the face gallery,
  each image index), bumped by the replica that changed it;
- :mod:`~hub.cluster.watcher`: follows those versions (PostgreSQL LISTEN/NOTIFY, polling as the
  fallback and on SQLite) and calls back on a change, so the other replicas reload;
- :mod:`~hub.cluster.ratelimit_store`: rate limits in one table row per key (one upsert a check);
- :mod:`~hub.cluster.lease`: a lease row, so a background job runs once per deployment;
- :mod:`~hub.cluster.leader`: the replica holding the leader lease runs the background jobs;
- :mod:`~hub.cluster.slots`: a stable slot per ``hub serve --workers N`` process (its MQTT id).
"""
