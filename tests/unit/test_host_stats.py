from __future__ import annotations

from pathlib import Path

from edge_agent.services.host_stats import cpu_load, rss_mb


def test_rss_reads_vmrss(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmRSS:\t  204800 kB\nThreads:\t4\n")
    assert rss_mb(status) == 200.0


def test_live_values_are_plausible() -> None:
    load = cpu_load()
    assert load is None or 0.0 <= load < 1000
    rss = rss_mb()
    assert rss is not None
    assert 10 < rss < 100_000  # a Python process with numpy loaded
