"""compose.hub.yml, checked without Docker: against the Compose Specification JSON schema
(tests/fixtures/compose/compose_spec.json, see its NOTICE.md) after interpolating .env.example,
and structurally (health checks, dependency order, variables, volumes, secrets)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.hub.yml"
ENV_EXAMPLE = ROOT / ".env.example"
SCHEMA = ROOT / "tests" / "fixtures" / "compose" / "compose_spec.json"
SERVICES = {"hub", "postgres", "mosquitto", "prefect-server", "prefect-worker", "minio", "ollama"}
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def _env_example() -> dict[str, str]:
    env = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: not KEY=VALUE: {line!r}"
            env[key.strip()] = value.strip()
    return env


def _interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} and $$, over a parsed document."""
    if isinstance(value, dict):
        return {k: _interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.groups()
        found = env.get(name, "")
        if op in (":?", "?") and not found:
            raise AssertionError(f"{name} is required: {arg}")
        return found or (arg if op in (":-", "-") else "")

    return _VAR.sub(replace, value)


def _variables(text: str) -> set[str]:
    return {m.group(1) for m in _VAR.finditer(text) if m.group(1)}


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    resolved: dict[str, Any] = _interpolate(raw, _env_example())
    return resolved


def test_valid_against_the_compose_spec_schema(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    # its $schema ends in '#', which jsonschema does not recognise: name the draft
    assert schema["$schema"].startswith("http://json-schema.org/draft/2019-09/")
    jsonschema.Draft201909Validator.check_schema(schema)
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_every_service_has_an_image_and_a_healthcheck(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        assert service.get("image") or service.get("build"), name
        test = service.get("healthcheck", {}).get("test")
        assert test, f"{name}: no healthcheck"
        assert not service["healthcheck"].get("disable"), f"{name}: healthcheck disabled"


def test_dependencies_wait_for_healthy_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on must name conditions"
        for target, rule in depends.items():
            assert target in services, f"{name} depends on unknown {target}"
            assert rule == {"condition": "service_healthy"}, f"{name} -> {target}"
        mode = service.get("network_mode", "")
        if mode.startswith("service:"):
            assert mode.removeprefix("service:") in depends, f"{name}: {mode} not awaited"
    assert set(services["hub"]["depends_on"]) >= {"postgres", "mosquitto", "minio"}


def test_every_variable_is_in_env_example() -> None:
    missing = _variables(COMPOSE.read_text()) - set(_env_example())
    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_secrets_come_from_the_environment(raw: dict[str, Any]) -> None:
    for name, service in raw["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if re.search("PASSWORD|SECRET|TOKEN", key):
                assert "${" in str(value), f"{name}.{key} is hard-coded"
        for key, value in (service.get("environment") or {}).items():
            if "DATABASE_URL" in key:
                assert "${POSTGRES_PASSWORD" in value, f"{name}.{key} embeds a password"


def test_named_volumes_are_declared_and_used(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used = set()
    for service in compose["services"].values():
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if not source.startswith((".", "/")):
                used.add(source)
    assert used == declared


def test_broker_mounts_the_repo_config_and_the_site_read_only(compose: dict[str, Any]) -> None:
    mounts = compose["services"]["mosquitto"]["volumes"]
    assert "./mosquitto/mosquitto.conf:/mosquitto/config/mosquitto.conf:ro" in mounts
    assert (ROOT / "mosquitto" / "mosquitto.conf").is_file()
    site = [m for m in mounts if m.endswith(":/mosquitto/config/site:ro")]
    assert len(site) == 1
    ports = compose["services"]["mosquitto"]["ports"]
    assert not any(p.split(":")[-1] == "1883" for p in ports)  # plaintext MQTT stays inside
    for name in ("prefect-server", "minio"):  # admin UIs: loopback only
        assert all(p.startswith("127.0.0.1:") for p in compose["services"][name]["ports"])
