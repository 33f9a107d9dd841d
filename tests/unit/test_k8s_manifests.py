"""deploy/k8s/, checked without a cluster: every object against the Kubernetes JSON schemas that
the ``kubernetes-validate`` package ships (strict: unknown fields refused), the references
between the objects, and agreement with compose.hub.yml (image, command, ports, health route,
environment names, data mount) so the two stacks cannot drift apart silently."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from hub.settings import HubSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
COMPOSE = ROOT / "compose.hub.yml"
DOCS = ROOT / "docs" / "deploy-kubernetes.md"
KUBERNETES_VERSION = "1.32.0"

# compose service -> (Deployment, container) running the same program
COUNTERPART = {
    "hub": ("innsight-hub", "hub"),
    "prefect-worker": ("innsight-prefect-worker", "prefect-worker"),
    "ingest": ("innsight-ingest", "ingest"),
}
# variables only the Kubernetes manifests set, and why
K8S_ONLY = {
    "INNSIGHT_MQTT_HOST": "hub.env names the broker on loopback; in a cluster it is a Service",
    "INNSIGHT_MQTT_PORT": "as INNSIGHT_MQTT_HOST",
    "INNSIGHT_MQTT_CLIENT_ID": "one broker session per API replica (the pod's name)",
    "INNSIGHT_INGEST_SHARED_GROUP": "the API replicas join the ingest workers' shared group",
    "INNSIGHT_LOG_FORMAT": "JSON log lines for the cluster's log collector",
    "POD_NAME": "the ingest worker's name (--worker)",
}
# literal values that differ on purpose, and why
VALUE_DIFFERS = {
    "INNSIGHT_HUB_URL": "compose reaches the API through the broker's network namespace",
}
# read by the programs themselves, not HubSettings fields
NOT_SETTINGS = {"INNSIGHT_LOG_FORMAT", "INNSIGHT_LOG_LEVEL", "INNSIGHT_HUB_URL"}
_DEFAULTED = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}")
_URL_PORT_PATH = re.compile(r"http://127\.0\.0\.1:(\d+)(/[^'\"]*)")


def _objects() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                yield path.name, doc


@pytest.fixture(scope="module")
def objects() -> list[tuple[str, dict[str, Any]]]:
    found = list(_objects())
    assert found, f"no manifests under {K8S}"
    return found


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _of_kind(objects: list[tuple[str, dict[str, Any]]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for _, o in objects if o["kind"] == kind}


def _container(objects: list[tuple[str, dict[str, Any]]], deployment: str, name: str) -> Any:
    found = _of_kind(objects, "Deployment").get(deployment)
    assert found is not None, f"deploy/k8s has no Deployment {deployment!r}"
    containers = {c["name"]: c for c in found["spec"]["template"]["spec"]["containers"]}
    assert name in containers, f"Deployment {deployment} has no container {name!r}"
    return containers[name]


def _innsight_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The compose services that run this repository's image."""
    hub_image = compose["services"]["hub"]["image"]
    return {n: s for n, s in compose["services"].items() if s.get("image") == hub_image}


def _resolved(text: str) -> str:
    return _DEFAULTED.sub(lambda m: m.group(1), text)


def _listening(service: dict[str, Any]) -> tuple[int, str] | None:
    """The port and path of a compose service's HTTP health check (``None``: it has none)."""
    test = service.get("healthcheck", {}).get("test", [])
    found = _URL_PORT_PATH.search(test if isinstance(test, str) else " ".join(test))
    return None if found is None else (int(found.group(1)), found.group(2))


def test_every_object_is_valid_for_kubernetes(objects: list[tuple[str, dict[str, Any]]]) -> None:
    problems = []
    for filename, obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            where = "/".join(str(p) for p in err.path)
            problems.append(
                f"{filename}: {obj['kind']} {obj['metadata']['name']}: {where}: {err.message}"
            )
    assert not problems, "\n".join(problems)
    kinds = {o["kind"] for _, o in objects}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap"} <= kinds


def test_a_broken_object_is_refused() -> None:
    """The validator in use does refuse what a cluster would (the test above can fail)."""
    bad = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {},
            "template": {"spec": {"containers": [{"name": "c", "prots": []}]}},
        },
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def test_references_between_objects_resolve(objects: list[tuple[str, dict[str, Any]]]) -> None:
    deployments = _of_kind(objects, "Deployment")
    config_maps = _of_kind(objects, "ConfigMap")
    claims = _of_kind(objects, "PersistentVolumeClaim")
    problems = []
    for name, hpa in _of_kind(objects, "HorizontalPodAutoscaler").items():
        if hpa["spec"]["scaleTargetRef"]["name"] not in deployments:
            problems.append(f"HPA {name} scales a Deployment that is not here")
    for name, dep in deployments.items():
        template = dep["spec"]["template"]
        selector = dep["spec"]["selector"]["matchLabels"]
        if not selector.items() <= template["metadata"]["labels"].items():
            problems.append(f"Deployment {name}: its selector does not match its pods")
        for volume in template["spec"].get("volumes", []):
            claim = volume.get("persistentVolumeClaim", {}).get("claimName")
            if claim is not None and claim not in claims:
                problems.append(f"Deployment {name}: no PersistentVolumeClaim {claim}")
        for container in template["spec"]["containers"]:
            env_names = {e["name"] for e in container.get("env", [])}
            for ref in re.findall(r"\$\(([A-Z_]+)\)", " ".join(container.get("command", []))):
                if ref not in env_names:
                    problems.append(f"{name}/{container['name']}: $({ref}) is not in its env")
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("configMapKeyRef")
                if ref and ref["key"] not in config_maps.get(ref["name"], {}).get("data", {}):
                    problems.append(
                        f"{name}: {env['name']} reads {ref['name']}/{ref['key']}, "
                        "which is not in deploy/k8s"
                    )
            ports = {p["name"] for p in container.get("ports", [])}
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                port = container.get(probe, {}).get("httpGet", {}).get("port")
                if isinstance(port, str) and port not in ports:
                    problems.append(f"{name}: {probe} names no port of the container ({port})")
    for name, svc in _of_kind(objects, "Service").items():
        if svc["spec"].get("type") == "ExternalName":
            continue
        pods = [
            d
            for d in deployments.values()
            if svc["spec"]["selector"].items()
            <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        if not pods:
            problems.append(f"Service {name} selects no Deployment's pods")
    assert not problems, "\n".join(problems)


def test_every_secret_key_is_documented(objects: list[tuple[str, dict[str, Any]]]) -> None:
    """The Secrets are not in the repository: docs/deploy-kubernetes.md says how to make each."""
    docs = DOCS.read_text()
    missing = set()
    for _, obj in objects:
        if obj["kind"] != "Deployment":
            continue
        for container in obj["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref and (ref["name"] not in docs or f"--from-literal={ref['key']}=" not in docs):
                    missing.add(f"{ref['name']}/{ref['key']}")
            for source in container.get("envFrom", []):
                if "secretRef" in source and source["secretRef"]["name"] not in docs:
                    missing.add(source["secretRef"]["name"])
    assert not missing, f"secrets not explained in {DOCS.name}: {sorted(missing)}"


def test_compose_services_have_a_counterpart(compose: dict[str, Any]) -> None:
    missing = sorted(set(_innsight_services(compose)) - set(COUNTERPART))
    assert not missing, f"compose services of the hub image with no Deployment: {missing}"


# every compose service of the hub image that has a counterpart (an `ingest` one joins here)
_COMPOSED = sorted(set(yaml.safe_load(COMPOSE.read_text())["services"]) & set(COUNTERPART))


@pytest.mark.parametrize("service", _COMPOSED)
def test_compose_and_manifests_agree(
    objects: list[tuple[str, dict[str, Any]]], compose: dict[str, Any], service: str
) -> None:
    spec = compose["services"][service]
    deployment, name = COUNTERPART[service]
    container = _container(objects, deployment, name)
    where = f"compose service {service!r} vs Deployment {deployment}/{name}"

    image = _resolved(spec["image"])
    assert container["image"] == image, f"{where}: image {container['image']} != {image}"
    assert container["command"] == spec["command"], (
        f"{where}: command {container['command']} != {spec['command']}"
    )

    ports = {p["containerPort"] for p in container.get("ports", [])}
    listening = _listening(spec)
    if listening is None:  # no HTTP server (an ingest worker)
        assert not ports, f"{where}: container ports {sorted(ports)}, compose serves no HTTP"
    else:
        port, path = listening
        assert ports == {port}, f"{where}: container ports {sorted(ports)} != compose's {port}"
        probe = container["readinessProbe"]["httpGet"]
        assert probe["path"] == path, f"{where}: readiness path {probe['path']} != {path}"

    compose_env = dict(spec.get("environment") or {})
    k8s_env = {e["name"]: e for e in container.get("env", [])}
    missing = sorted(set(compose_env) - set(k8s_env))
    assert not missing, f"{where}: variables only compose sets: {missing}"
    extra = sorted(set(k8s_env) - set(compose_env) - set(K8S_ONLY))
    assert not extra, f"{where}: variables only the manifests set (add to K8S_ONLY?): {extra}"
    for key, value in compose_env.items():
        literal = k8s_env[key].get("value")
        if "$" in str(value) or literal is None or key in VALUE_DIFFERS:
            continue
        assert literal == str(value), f"{where}: {key}={literal!r} but compose says {value!r}"

    if spec.get("env_file"):
        sources = [s for s in container.get("envFrom", []) if "secretRef" in s]
        assert sources, f"{where}: compose reads hub.env (env_file), the container no Secret"

    mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
    for volume in spec.get("volumes", []):
        target = str(volume).split(":")[1]
        assert target in mounts, f"{where}: compose mounts {target}, the container does not"


def test_the_ingest_workers_share_one_group(objects: list[tuple[str, dict[str, Any]]]) -> None:
    container = _container(objects, "innsight-ingest", "ingest")
    command = container["command"]
    assert command[:3] == ["innsight", "hub", "ingest"]
    api = _container(objects, "innsight-hub", "hub")
    group = {e["name"]: e.get("value") for e in api["env"]}["INNSIGHT_INGEST_SHARED_GROUP"]
    assert command[command.index("--group") + 1] == group
    assert api["image"] == container["image"]


def test_innsight_variables_name_real_settings(objects: list[tuple[str, dict[str, Any]]]) -> None:
    fields = {HubSettings.env_var(name) for name in HubSettings.model_fields}
    unknown = sorted(
        {
            env["name"]
            for _, obj in objects
            if obj["kind"] == "Deployment"
            for c in obj["spec"]["template"]["spec"]["containers"]
            for env in c.get("env", [])
            if env["name"].startswith("INNSIGHT_")
        }
        - fields
        - NOT_SETTINGS
    )
    assert not unknown, f"INNSIGHT_* variables no setting reads: {unknown}"


def test_resources_and_probes_are_set(objects: list[tuple[str, dict[str, Any]]]) -> None:
    for name, dep in _of_kind(objects, "Deployment").items():
        for container in dep["spec"]["template"]["spec"]["containers"]:
            resources = container.get("resources", {})
            assert {"cpu", "memory"} <= set(resources.get("requests", {})), name
            assert {"cpu", "memory"} <= set(resources.get("limits", {})), name
            if container.get("ports"):
                assert "livenessProbe" in container, f"{name}: an HTTP server with no probe"
