"""Two API replicas and two ingest workers on one PostgreSQL and one Mosquitto (issue 21 item 3).

Four real processes, started once for the module and together: ``innsight hub serve`` twice
(as behind a load balancer: separate data dirs, the same database, secrets and object store)
and ``innsight hub ingest`` twice; all four share the site's subscription
(``$share/innsight-ingest/...``). What one replica changes the other must serve: an employee
enrolled on A is recognised on B within a second; every event, whoever ingested it, is listed
by both; the sign-in rate limit counts the requests of both; the background jobs run on the
replica that holds the leader lease only.
"""

from __future__ import annotations

import base64
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import httpx
import pytest
from cryptography.fernet import Fernet

from hub.auth.local import issue_admin_token
from hub.face_templates import new_template_key
from hub.settings import HubSettings
from innsight.broker import MosquittoBroker, free_port, mosquitto_binary
from innsight.demo import photos
from testkit.consent import record_consent
from testkit.hub import SITE, bearer, make_event, mqtt_probe, wait_until
from testkit.ingest_workers import REPO_ROOT, IngestWorkers, worker_env
from testkit.postgres import PostgresServer, scratch_database

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

PERSON = "emp-0042"
DEVICE = "edge-replicas"
EVENTS = 24
LOGIN_BURST = 3
API_COMMAND = (sys.executable, "-m", "innsight", "--log-level", "info", "hub", "serve")


@dataclass
class Replica:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Deployment:
    a: Replica
    b: Replica
    broker: MosquittoBroker
    admin: dict[str, str]


def _start_api(name: str, env: dict[str, str], workdir: Path) -> Replica:
    port = free_port()
    log = workdir / f"api-{name}.log"
    env = {
        **env,
        "INNSIGHT_DATA_DIR": str(workdir / f"api-{name}"),
        "INNSIGHT_MQTT_CLIENT_ID": f"hub-{SITE}-{name}",
        "INNSIGHT_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*API_COMMAND, "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Replica(f"http://127.0.0.1:{port}", process, log)


def _wait_healthy(replica: Replica, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if replica.process.poll() is not None:
            raise AssertionError(f"replica exited:\n{replica.log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{replica.url}/api/v1/cv/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"replica did not start:\n{replica.log.read_text()}"
        time.sleep(0.1)


def _stop(replica: Replica) -> None:
    if replica.process.poll() is None:
        replica.process.send_signal(signal.SIGTERM)
    try:
        replica.process.wait(30)
    except subprocess.TimeoutExpired:
        replica.process.kill()
        replica.process.wait(5)


@pytest.fixture(scope="module")
def deployment(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    workdir = tmp_path_factory.mktemp("replicas")
    broker = MosquittoBroker(workdir=workdir / "mosquitto")
    broker.start()
    secrets_env = {  # what replicas must share besides the database (docs/scale-out.md)
        "INNSIGHT_JWT_SECRET": secrets.token_urlsafe(48),
        "INNSIGHT_PII_KEY": Fernet.generate_key().decode("ascii"),
        "INNSIGHT_TEMPLATE_KEY": new_template_key(),
        "INNSIGHT_OBJECTS_DIR": str(workdir / "objects"),  # MinIO in production
        "INNSIGHT_INGEST_SHARED_GROUP": "innsight-ingest",
        "INNSIGHT_RATE_LIMIT_LOGIN_BURST": str(LOGIN_BURST),
        "INNSIGHT_RATE_LIMIT_LOGIN_PER_MINUTE": "1",
        "INNSIGHT_INGEST_MAX_BATCH_DELAY_S": "0.02",
    }
    replicas: list[Replica] = []
    with scratch_database(postgres_server, "replicas") as url:
        env = worker_env(
            workdir / "workers",
            site=SITE,
            mqtt_host=broker.host,
            mqtt_port=broker.port,
            database_url=url,
            extra=secrets_env,
        )
        try:
            with IngestWorkers(workdir / "workers", env) as workers:
                try:
                    replicas += [_start_api("a", env, workdir), _start_api("b", env, workdir)]
                    workers.start("1", "2")
                    for replica in replicas:
                        _wait_healthy(replica)
                    admin = bearer(
                        issue_admin_token(
                            HubSettings(
                                data_dir=workdir / "api-a",
                                site=SITE,
                                jwt_secret=secrets_env["INNSIGHT_JWT_SECRET"],
                            )
                        )
                    )
                    yield Deployment(replicas[0], replicas[1], broker, admin)
                finally:  # all four stop together
                    for replica in replicas:
                        if replica.process.poll() is None:
                            replica.process.send_signal(signal.SIGTERM)
        finally:
            for replica in replicas:
                _stop(replica)
            broker.kill()


def _cluster(replica: Replica, admin: dict[str, str]) -> dict[str, Any]:
    response = httpx.get(f"{replica.url}/api/v1/admin/cluster", headers=admin, timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _recognise(replica: Replica, admin: dict[str, str], image_b64: str) -> dict[str, Any]:
    response = httpx.post(
        f"{replica.url}/api/v1/cv/face/recognize",
        headers=admin,
        json={"image": image_b64},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_enrolled_on_one_replica_recognised_on_the_other(deployment: Deployment) -> None:
    a, b, admin = deployment.a, deployment.b, deployment.admin
    ok, jpeg = cv2.imencode(".jpg", photos.astronaut_portrait())
    assert ok
    image = base64.b64encode(jpeg.tobytes()).decode()
    assert _recognise(b, admin, image)["status"] == "face_not_found"  # (B's model loads here)
    with httpx.Client(base_url=a.url, headers=admin, timeout=60) as http:
        record_consent(http, PERSON)
        enrolled = http.post(
            "/api/v1/cv/face/enroll",
            json={"employee_id": PERSON, "name": "R. Replica", "images": [image]},
        )
    assert enrolled.status_code == 200, enrolled.text
    # the very first recognition on B after the enrolment on A names her: no wait, no retry
    # (how fast is a benchmark's question, not this test's)
    seen = _recognise(b, admin, image)
    assert (seen["status"], seen["employee_id"]) == ("success", PERSON)
    # B followed the gallery's version (LISTEN/NOTIFY on PostgreSQL) and reloaded it
    version_a = _cluster(a, admin)["versions"]["gallery"]
    follower = wait_until(
        lambda: ((s := _cluster(b, admin))["versions"].get("gallery") == version_a and s) or None,
        what="replica B to follow the gallery version",
    )
    assert follower["listening"] is True


def _stored_by_api(replica: Replica) -> float:
    text = httpx.get(f"{replica.url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("innsight_ingest_messages_stored_total")
    )


def test_events_ingested_by_any_worker_show_on_both_replicas(deployment: Deployment) -> None:
    a, b, admin = deployment.a, deployment.b, deployment.admin
    envelopes = [make_event(seq, device=DEVICE) for seq in range(1, EVENTS + 1)]
    with mqtt_probe(deployment.broker, "edge-replicas-probe") as edge:
        for envelope in envelopes:
            edge.publish_event(envelope)
    expected = {str(e.event_id) for e in envelopes}
    for replica in (a, b):

        def listed(replica: Replica = replica) -> set[str] | None:
            response = httpx.get(
                f"{replica.url}/api/v1/events",
                headers=admin,
                params={"device_id": DEVICE, "limit": 100},
                timeout=10,
            )
            assert response.status_code == 200, response.text
            ids = [item["event_id"] for item in response.json()["items"]]
            assert len(ids) == len(set(ids)), "an event is listed twice"
            return set(ids) if set(ids) == expected else None

        wait_until(listed, what=f"all {EVENTS} events on {replica.url}")
    # the four consumers share the subscription: the APIs stored some, the workers the rest
    by_apis = _stored_by_api(a) + _stored_by_api(b)
    assert by_apis < EVENTS, "the ingest workers stored none of the events"


def test_the_rate_limit_holds_across_replicas(deployment: Deployment) -> None:
    a, b = deployment.a, deployment.b

    def sign_in(replica: Replica) -> httpx.Response:
        return httpx.post(
            f"{replica.url}/api/v1/auth/token",
            data={"username": "nobody", "password": "wrong"},
            timeout=30,
        )

    answers = [sign_in(r).status_code for r in (a, b, a)]
    assert answers == [401] * LOGIN_BURST
    refused = sign_in(b)  # the fourth, on the other replica: over the shared limit
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["Retry-After"]) >= 1
    assert sign_in(a).status_code == 429


def test_background_jobs_run_on_one_replica_only(deployment: Deployment) -> None:
    views = [_cluster(r, deployment.admin) for r in (deployment.a, deployment.b)]
    leaders = [v for v in views if v["leader"]]
    assert len(leaders) == 1, views
    leader = leaders[0]
    follower = next(v for v in views if not v["leader"])
    assert leader["lease"]["holder"] == leader["holder"] == follower["lease"]["holder"]
    assert leader["jobs_run"] == {"attendance_catch_up": 1}
    assert follower["jobs_run"] == {"attendance_catch_up": 0}
