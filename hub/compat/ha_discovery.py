"""Pure mapping to Home Assistant MQTT discovery (device-based discovery).

One retained config per HA device on ``{discovery_prefix}/device/{object_id}/config``: the edge
box, and each of its cameras (``via_device`` the edge). An empty retained payload on the same
topic removes the device and its entities from Home Assistant.

- availability: the edge's own retained status topic (``innsight/{site}/{device}/status``),
  ``online`` is available, anything else (``offline`` last will, ``stopped``) is not;
- the edge: outbox depth, dropped events and CPU load, read from its heartbeat topic;
- a camera: people in view (``sensor``), frames per second (``sensor``, from the heartbeat),
  each hazard as a ``binary_sensor`` (fire and smoke: ``smoke``, water: ``moisture``,
  intrusion: ``occupancy``, fall: ``problem``), the stream lost (``binary_sensor``,
  ``problem``), and, only when enabled, the last recognised employee (``sensor``); these read
  the camera's retained state topic ``{state_prefix}/{site}/{device}/{camera}/state``, which
  :func:`camera_state` fills.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from contracts.topics import Channel, device_topic
from hub.compat.active import HAZARDS, PERSON, STREAM_LOST, ActiveObjects

MANUFACTURER = "innsight"
ORIGIN_URL = "https://github.com/innsight/innsight"
HAZARD_DEVICE_CLASS = {
    "fire": "smoke",
    "smoke": "smoke",
    "water": "moisture",
    "intrusion": "occupancy",
    "fall": "problem",
}
_OBJECT_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, slots=True)
class HaNaming:
    discovery_prefix: str
    state_prefix: str
    site: str
    sw_version: str
    last_employee: bool = False


def object_id(*parts: str) -> str:
    """A discovery object id (letters, digits, ``_`` and ``-`` only)."""
    return _OBJECT_ID_UNSAFE.sub("_", "_".join(("innsight", *parts)))


def config_topic(naming: HaNaming, node: str) -> str:
    return f"{naming.discovery_prefix}/device/{node}/config"


def edge_config_topic(naming: HaNaming, device: str) -> str:
    return config_topic(naming, object_id(naming.site, device))


def camera_config_topic(naming: HaNaming, device: str, camera: str) -> str:
    return config_topic(naming, object_id(naming.site, device, camera))


def camera_state_topic(naming: HaNaming, device: str, camera: str) -> str:
    return f"{naming.state_prefix}/{naming.site}/{device}/{camera}/state"


def birth_topic(naming: HaNaming) -> str:
    return f"{naming.discovery_prefix}/status"


def _availability(naming: HaNaming, device: str) -> list[dict[str, str]]:
    return [
        {
            "topic": device_topic(naming.site, device, Channel.STATUS),
            "payload_available": "online",
            "payload_not_available": "offline",
            "value_template": "{{ 'online' if value == 'online' else 'offline' }}",
        }
    ]


def _origin(naming: HaNaming) -> dict[str, str]:
    return {"name": MANUFACTURER, "sw_version": naming.sw_version, "support_url": ORIGIN_URL}


def edge_config(naming: HaNaming, device: str) -> dict[str, Any]:
    """The discovery config of an edge box."""
    node = object_id(naming.site, device)
    heartbeat = device_topic(naming.site, device, Channel.HEARTBEAT)

    def sensor(key: str, name: str, template: str, **extra: Any) -> dict[str, Any]:
        return {
            "platform": "sensor",
            "name": name,
            "unique_id": f"{node}_{key}",
            "state_topic": heartbeat,
            "value_template": template,
            "state_class": "measurement",
            "entity_category": "diagnostic",
            **extra,
        }

    return {
        "device": {
            "identifiers": [node],
            "name": f"innsight edge {device}",
            "manufacturer": MANUFACTURER,
            "model": "edge agent",
            "sw_version": naming.sw_version,
        },
        "origin": _origin(naming),
        "availability": _availability(naming, device),
        "components": {
            "outbox_depth": sensor(
                "outbox_depth",
                "Outbox depth",
                "{{ value_json.outbox_depth }}",
                unit_of_measurement="events",
            ),
            "dropped_events": sensor(
                "dropped_events",
                "Dropped events",
                "{{ value_json.dropped_events }}",
                unit_of_measurement="events",
            ),
            "cpu_load": sensor(
                "cpu_load", "CPU load", "{{ value_json.cpu_load | default(0, true) }}"
            ),
        },
        "qos": 1,
    }


def _fps_template(camera: str) -> str:
    """The camera's fps from the heartbeat; 0 while the heartbeat does not name it (camera ids
    are identifiers: no quote can break out of the string)."""
    return "{{ (value_json.cameras['" + camera + "'] | default({})).fps | default(0) }}"


def camera_config(naming: HaNaming, device: str, camera: str) -> dict[str, Any]:
    """The discovery config of one camera of an edge."""
    node = object_id(naming.site, device, camera)
    state = camera_state_topic(naming, device, camera)
    heartbeat = device_topic(naming.site, device, Channel.HEARTBEAT)
    components: dict[str, dict[str, Any]] = {
        "people": {
            "platform": "sensor",
            "name": "People",
            "unique_id": f"{node}_people",
            "state_topic": state,
            "value_template": "{{ value_json.people }}",
            "state_class": "measurement",
            "unit_of_measurement": "people",
        },
        "fps": {
            "platform": "sensor",
            "name": "Frames per second",
            "unique_id": f"{node}_fps",
            "state_topic": heartbeat,
            "value_template": _fps_template(camera),
            "state_class": "measurement",
            "unit_of_measurement": "fps",
            "entity_category": "diagnostic",
        },
        "stream_lost": {
            "platform": "binary_sensor",
            "name": "Stream lost",
            "unique_id": f"{node}_stream_lost",
            "device_class": "problem",
            "state_topic": state,
            "value_template": "{{ value_json.stream_lost }}",
            "payload_on": "ON",
            "payload_off": "OFF",
        },
    }
    for hazard in HAZARDS:
        components[hazard] = {
            "platform": "binary_sensor",
            "name": hazard.capitalize(),
            "unique_id": f"{node}_{hazard}",
            "device_class": HAZARD_DEVICE_CLASS[hazard],
            "state_topic": state,
            "value_template": f"{{{{ value_json.{hazard} }}}}",
            "payload_on": "ON",
            "payload_off": "OFF",
        }
    if naming.last_employee:
        components["last_employee"] = {
            "platform": "sensor",
            "name": "Last recognised employee",
            "unique_id": f"{node}_last_employee",
            "state_topic": state,
            "value_template": "{{ value_json.last_employee or 'none' }}",
            "json_attributes_topic": state,
            "json_attributes_template": "{{ {'at': value_json.last_employee_at} | tojson }}",
        }
    return {
        "device": {
            "identifiers": [node],
            "name": f"{camera} ({device})",
            "manufacturer": MANUFACTURER,
            "model": "camera",
            "via_device": object_id(naming.site, device),
        },
        "origin": _origin(naming),
        "availability": _availability(naming, device),
        "components": components,
        "qos": 1,
    }


def camera_state(
    active: ActiveObjects,
    device: str,
    camera: str,
    last_employee: tuple[str, str] | None,
) -> dict[str, Any]:
    """The retained state of a camera: people in view, each hazard and the stream ``ON`` /
    ``OFF``, and the last recognised employee (name, ISO time) that may be shown."""

    def on(label: str) -> str:
        return "ON" if active.count(device, camera, label) else "OFF"

    state: dict[str, Any] = {"people": active.count(device, camera, PERSON)}
    state.update({hazard: on(hazard) for hazard in HAZARDS})
    state["stream_lost"] = on(STREAM_LOST)
    state["last_employee"] = last_employee[0] if last_employee else None
    state["last_employee_at"] = last_employee[1] if last_employee else None
    return state


def device_configs(
    naming: HaNaming, device: str, cameras: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """Every config topic of an edge and its cameras, with its payload."""
    configs = {edge_config_topic(naming, device): edge_config(naming, device)}
    for camera in sorted(set(cameras)):
        configs[camera_config_topic(naming, device, camera)] = camera_config(naming, device, camera)
    return configs


def heartbeat_cameras(heartbeat: Mapping[str, Any] | None) -> set[str]:
    """The camera ids a stored heartbeat names."""
    cameras = (heartbeat or {}).get("cameras")
    return {str(c) for c in cameras} if isinstance(cameras, Mapping) else set()


def dumps(message: Mapping[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), sort_keys=True).encode()
