"""`innsight demo --once --json` end to end: real broker, hub, edge agent and models, as a user
runs it. Scored against the clip's ground truth, not against what the detector happened to see."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from innsight.broker import mosquitto_binary

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

ENROLLED = "emp-astronaut"


@pytest.mark.parametrize("broker", ["mosquitto", "embedded"])
def test_demo_once_json(tmp_path: Path, broker: str) -> None:
    """Mosquitto, and the embedded amqtt broker used where Mosquitto is not installed."""
    if broker == "mosquitto" and mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    env = {**os.environ, "INNSIGHT_LOG_LEVEL": "warning"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "innsight",
            "demo",
            "--once",
            "--json",
            "--broker",
            broker,
            "--data-dir",
            str(tmp_path / "demo"),
        ],
        capture_output=True,
        text=True,
        timeout=400,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads(done.stdout)
    expected = summary["expected"]
    # one event per appearance (not per frame): the clip has 8 appearances over 46 frames
    assert expected["appearances"] == 8
    assert summary["events_stored"] == expected["appearances"]
    assert summary["frames"] > summary["events_stored"]
    # the enrolled person is recognised, and only her
    assert summary["recognized"] == [ENROLLED]
    # the six people of the group photo and Tom Hanks stay unknown, not the enrolled person
    assert summary["unknown_faces"] == expected["unknown_appearances"] == 7
    assert summary["lost"] == 0
    assert summary["outbox_depth"] == 0
