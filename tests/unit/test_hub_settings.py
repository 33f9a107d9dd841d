from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.settings import HubSettings, HubSettingsError


def test_defaults_are_derived_from_data_dir_and_site() -> None:
    settings = HubSettings(data_dir=Path("/srv/hub"), site="hotel-1")
    assert settings.database_url.get_secret_value() == "sqlite+aiosqlite:////srv/hub/hub.db"
    assert settings.objects_dir == Path("/srv/hub/objects")
    assert settings.mqtt_client_id == "hub-hotel-1"
    assert settings.public_base_url == "http://127.0.0.1:8000"
    assert settings.max_upload_bytes == 10 * 1024 * 1024


def test_plain_defaults() -> None:
    settings = HubSettings()
    assert settings.site == "demo"
    assert settings.mqtt_client_id == "hub-demo"
    assert settings.database_url.get_secret_value() == "sqlite+aiosqlite:///var/hub/hub.db"


def test_frozen_and_extra_forbidden() -> None:
    settings = HubSettings()
    with pytest.raises(ValidationError):
        settings.site = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        HubSettings(unknown_option=1)  # type: ignore[call-arg]


def test_secrets_are_not_shown() -> None:
    settings = HubSettings(
        database_url="postgresql+asyncpg://hub:hunter2@db/innsight", mqtt_password="s3cret"
    )
    text = repr(settings) + str(settings) + settings.model_dump_json()
    assert "hunter2" not in text
    assert "s3cret" not in text


def test_from_env_reads_prefixed_variables_and_database_url() -> None:
    env = {
        "DATABASE_URL": "postgresql+asyncpg://hub@db:5432/innsight",
        "INNSIGHT_SITE": "hotel-2",
        "INNSIGHT_MQTT_PORT": "8883",
        "INNSIGHT_MQTT_ENABLED": "false",
        "INNSIGHT_MQTT_PASSWORD": "pw",
        "INNSIGHT_PUBLIC_BASE_URL": "https://hub.example/",
        "INNSIGHT_INGEST_BATCH_SIZE": "250",
        "INNSIGHT_MQTT_USERNAME": "",  # empty counts as unset
        "INNSIGHT_SOMETHING_ELSE": "ignored",
        "HOME": "/root",
    }
    settings = HubSettings.from_env(env)
    assert settings.site == "hotel-2"
    assert settings.mqtt_client_id == "hub-hotel-2"
    assert settings.mqtt_port == 8883
    assert settings.mqtt_enabled is False
    assert settings.mqtt_username is None
    assert settings.mqtt_password is not None
    assert settings.mqtt_password.get_secret_value() == "pw"
    assert settings.public_base_url == "https://hub.example"
    assert settings.ingest_batch_size == 250
    assert settings.database_url.get_secret_value().startswith("postgresql+asyncpg://")


def test_innsight_database_url_wins_over_database_url() -> None:
    settings = HubSettings.from_env(
        {
            "DATABASE_URL": "postgresql+asyncpg://a@x/db",
            "INNSIGHT_DATABASE_URL": "sqlite+aiosqlite:///tmp/x.db",
        }
    )
    assert settings.database_url.get_secret_value() == "sqlite+aiosqlite:///tmp/x.db"


def test_from_env_names_the_bad_variable() -> None:
    with pytest.raises(HubSettingsError, match="INNSIGHT_API_PORT"):
        HubSettings.from_env({"INNSIGHT_API_PORT": "eighty"})
    with pytest.raises(HubSettingsError, match="DATABASE_URL"):
        HubSettings.from_env({"DATABASE_URL": "mysql://root@db/x"})


def test_from_env_does_not_echo_secret_values() -> None:
    with pytest.raises(HubSettingsError) as info:
        HubSettings.from_env({"DATABASE_URL": "mysql://root:topsecret@db/x"})
    assert "topsecret" not in str(info.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("site", "bad/site"),
        ("mqtt_port", 0),
        ("public_base_url", "ftp://hub"),
        ("face_match_threshold", 1.5),
        ("ingest_batch_size", 0),
        ("max_upload_bytes", 10),
    ],
)
def test_invalid_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        HubSettings.model_validate({field: value})


def test_backoff_bounds_are_ordered() -> None:
    with pytest.raises(ValidationError, match="reconnect"):
        HubSettings(mqtt_reconnect_min_s=10, mqtt_reconnect_max_s=1)
