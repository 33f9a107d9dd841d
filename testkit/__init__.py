"""What the tests and the benchmarks both need, owned by neither (issue 20 item 7).

Real services started on free ports (Mosquitto, PostgreSQL, an S3 server, SMTP, RTSP), hub
apps and tokens, the edge harness, real photos and documents built from what packages ship,
the seed-document reader. Tests and benchmarks import from here and never from each other;
the product (hub, edge_agent, models, ...) never imports this package
(tests/unit/test_import_layers.py).
"""
