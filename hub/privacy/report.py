"""The record of processing (issue 17 item 7): what a data-protection impact assessment needs,
read from the live configuration and database, never typed by hand.

Which cameras do what (the device registry, the edges' heartbeats, the events each camera sent,
the attendance cameras in the settings), the retention of each data class, the models and their
licences (models/manifest.yaml), who holds which scope (roles, users, API keys), where the data
is (the database URL without its password, the object store), and how much biometric data there
is (enrolled people, templates, consent records). Counts and ids only: no personal field.
:func:`collect` reads, :func:`to_markdown` writes; the JSON form is the record itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import make_url
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.auth.scopes import ROLE_SCOPES, SCOPE_DESCRIPTIONS, Scope
from hub.privacy.retention import data_classes
from hub.settings import HubSettings
from hub.tables import ApiKey, ConsentRecord, Device, EmployeeFace, Event, User
from models.registry import Manifest

PURPOSES = {
    "face": "face recognition (employees enrolled with consent)",
    "anomaly": "hazard detection (fire, smoke, water, intrusion, fall)",
    "camera": "stream health",
}
ATTENDANCE = "attendance (live faces only; opt-in per camera)"


@dataclass(frozen=True, slots=True)
class CameraActivity:
    device_id: str
    camera_id: str
    kind: str
    events: int


def database_location(settings: HubSettings) -> str:
    """The database URL with any password masked."""
    return make_url(settings.database_url.get_secret_value()).render_as_string(hide_password=True)


def storage_location(settings: HubSettings) -> dict[str, Any]:
    if settings.s3_endpoint:
        return {
            "kind": "s3",
            "endpoint": settings.s3_endpoint,
            "bucket": settings.s3_bucket,
            "tls": settings.s3_secure,
        }
    return {"kind": "local folder", "path": str(settings.objects_dir)}


def cameras_section(
    settings: HubSettings, devices: Sequence[Device], activity: Sequence[CameraActivity]
) -> list[dict[str, Any]]:
    """One entry per camera the hub knows (registry, heartbeats, events, attendance list)."""
    cameras: dict[tuple[str, str], dict[str, Any]] = {}

    def entry(device_id: str, camera_id: str) -> dict[str, Any]:
        return cameras.setdefault(
            (device_id, camera_id),
            {"device_id": device_id, "camera_id": camera_id, "purposes": [], "events": {}},
        )

    for device in devices:
        beat = device.last_heartbeat or {}
        for camera_id in [*(device.cameras or []), *dict(beat.get("cameras") or {})]:
            entry(device.device_id, str(camera_id))
    for row in activity:
        item = entry(row.device_id, row.camera_id)
        item["events"][row.kind] = row.events
        purpose = PURPOSES.get(row.kind, row.kind)
        if purpose not in item["purposes"]:
            item["purposes"].append(purpose)
    attendance = set(settings.attendance_cameras)
    for item in cameras.values():
        if item["camera_id"] in attendance:
            item["purposes"].append(ATTENDANCE)
    known = {camera for _, camera in cameras}
    for camera_id in sorted(attendance - known):  # configured, not heard from yet
        cameras[("?", camera_id)] = {
            "device_id": None,
            "camera_id": camera_id,
            "purposes": [ATTENDANCE],
            "events": {},
        }
    return sorted(cameras.values(), key=lambda c: (c["device_id"] or "", c["camera_id"]))


def models_section(manifest: Manifest, devices: Sequence[Device]) -> list[dict[str, Any]]:
    reported: dict[str, list[str]] = {}
    for device in devices:
        models = dict((device.last_heartbeat or {}).get("models") or {})
        for text in (*models.keys(), *(str(v) for v in models.values())):
            reported.setdefault(str(text), []).append(device.device_id)
    out = []
    for model in manifest.models:
        used_by = sorted({d for text, ds in reported.items() if model.id in text for d in ds})
        out.append(
            {
                "id": model.id,
                "family": model.family,
                "version": model.version,
                "licence": model.licence.name,
                "commercial_use": model.licence.commercial.value,
                "licence_note": model.licence.note,
                "reported_by_edges": used_by,
            }
        )
    return out


def access_section(users: Sequence[User], keys: Sequence[ApiKey]) -> dict[str, Any]:
    roles = {role.value: sorted(str(s) for s in scopes) for role, scopes in ROLE_SCOPES.items()}
    return {
        "scopes": {str(scope): SCOPE_DESCRIPTIONS[scope] for scope in Scope},
        "roles": roles,
        "users": [
            {
                "username": u.username,
                "role": u.role,
                "disabled": u.disabled,
                "scopes": roles.get(u.role, []),
            }
            for u in sorted(users, key=lambda u: u.username)
        ],
        "api_keys": [
            {
                "name": k.name,
                "prefix": k.prefix,
                "scopes": sorted(k.scopes),
                "revoked": k.revoked_at is not None,
            }
            for k in sorted(keys, key=lambda k: k.id or 0)
        ],
    }


async def collect(
    session: AsyncSession, settings: HubSettings, manifest: Manifest, now: datetime
) -> dict[str, Any]:
    """The processing record of this hub (JSON-ready)."""
    devices = list((await session.exec(select(Device).order_by(col(Device.device_id)))).all())
    grouped = await session.exec(
        select(
            Event.device_id,
            Event.camera_id,
            Event.kind,
            func.count(),
        ).group_by(col(Event.device_id), col(Event.camera_id), col(Event.kind))
    )
    activity = [CameraActivity(d, c, k, int(n)) for d, c, k, n in grouped.all()]
    users = list((await session.exec(select(User))).all())
    keys = list((await session.exec(select(ApiKey))).all())
    people = await session.exec(select(func.count(func.distinct(EmployeeFace.employee_id))))
    templates = await session.exec(select(func.count()).select_from(EmployeeFace))
    consents = await session.exec(
        select(ConsentRecord.purpose, func.count())
        .where(col(ConsentRecord.withdrawn_at).is_(None))
        .group_by(col(ConsentRecord.purpose))
    )
    return {
        "generated_at": now.isoformat(),
        "site": settings.site,
        "controller_note": "fill in: the hotel (controller), its DPO, the legal basis per purpose",
        "cameras": cameras_section(settings, devices, activity),
        "devices": [
            {
                "device_id": d.device_id,
                "status": d.status,
                "enrolled": d.enrolled_at is not None,
                "revoked": d.revoked_at is not None,
            }
            for d in devices
        ],
        "biometrics": {
            "enrolled_people": int(people.one()),
            "templates": int(templates.one()),
            "active_consents": {purpose: int(n) for purpose, n in consents.all()},
            "face_match_threshold": settings.face_match_threshold,
            "protection": "templates and crops encrypted at rest, site-keyed transform",
        },
        "retention": [
            {"class": c.name, "days": c.days, "setting": c.setting, "holds": c.holds}
            for c in data_classes(settings)
        ],
        "models": models_section(manifest, devices),
        "access": access_section(users, keys),
        "storage": {
            "database": database_location(settings),
            "objects": storage_location(settings),
            "data_dir": str(settings.data_dir),
            "personal_fields": "encrypted at rest (Fernet, pii_key)",
        },
    }


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    def cell(value: Any) -> str:
        text = ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        return text.replace("|", "\\|").replace("\n", " ") or "-"

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def to_markdown(record: dict[str, Any]) -> str:
    """The record as a Markdown document."""
    access = record["access"]
    storage = record["storage"]
    bio = record["biometrics"]
    lines = [
        f"# Record of processing: site {record['site']}",
        "",
        f"Generated {record['generated_at']} from the hub's live configuration. "
        f"{record['controller_note']}.",
        "",
        "## Cameras and what they do",
        "",
        *_table(
            ["device", "camera", "purposes", "events"],
            [
                [
                    c["device_id"] or "(not heard from)",
                    c["camera_id"],
                    c["purposes"] or ["none seen yet"],
                    [f"{k}: {n}" for k, n in sorted(c["events"].items())],
                ]
                for c in record["cameras"]
            ],
        ),
        "",
        "## Biometric data",
        "",
        f"- enrolled people: {bio['enrolled_people']}, templates: {bio['templates']}",
        f"- active consents per purpose: {bio['active_consents'] or 'none'}",
        f"- protection: {bio['protection']}; match threshold {bio['face_match_threshold']}",
        "",
        "## Retention",
        "",
        *_table(
            ["data class", "days", "setting", "holds"],
            [[r["class"], r["days"], r["setting"], r["holds"]] for r in record["retention"]],
        ),
        "",
        "## Models and licences",
        "",
        *_table(
            ["model", "family", "version", "licence", "commercial use", "note"],
            [
                [
                    m["id"],
                    m["family"],
                    m["version"],
                    m["licence"],
                    m["commercial_use"],
                    m["licence_note"],
                ]
                for m in record["models"]
            ],
        ),
        "",
        "## Who has which scope",
        "",
        *_table(["role", "scopes"], [[r, s] for r, s in access["roles"].items()]),
        "",
        *_table(
            ["user", "role", "disabled", "scopes"],
            [[u["username"], u["role"], u["disabled"], u["scopes"]] for u in access["users"]],
        ),
        "",
        *_table(
            ["API key", "prefix", "revoked", "scopes"],
            [[k["name"], k["prefix"], k["revoked"], k["scopes"]] for k in access["api_keys"]],
        ),
        "",
        "## Where the data is stored",
        "",
        f"- database: `{storage['database']}`",
        f"- objects: {', '.join(f'{k}: {v}' for k, v in storage['objects'].items())}",
        f"- data dir: `{storage['data_dir']}`",
        f"- personal fields: {storage['personal_fields']}",
        "",
    ]
    return "\n".join(lines)
