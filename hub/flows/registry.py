"""The workflows the API can start, by name, and their default schedules (pure data: nothing
here imports Prefect)."""

from __future__ import annotations

from dataclasses import dataclass

DEFINITIONS_MODULE = "hub.flows.definitions"
DEFAULT_SCHEDULE_SLUG = "innsight-default"


@dataclass(frozen=True, slots=True)
class WorkflowSpec:
    name: str
    attribute: str
    description: str
    default_cron: str | None = None


WORKFLOWS: dict[str, WorkflowSpec] = {
    spec.name: spec
    for spec in (
        WorkflowSpec(
            "late_arrival_notification",
            "late_arrival_notification",
            "Notify the supervisor of a late check-in.",
        ),
        WorkflowSpec(
            "room_ready_notification",
            "room_ready_notification",
            "Tell the waiting guest the room is ready.",
        ),
        WorkflowSpec(
            "room_cleaning",
            "room_cleaning",
            "Room analysis -> room status -> waiting guest's message.",
        ),
        WorkflowSpec(
            "guest_request",
            "guest_request",
            "Classify a guest request, assign it, confirm to the guest.",
        ),
        WorkflowSpec(
            "lost_and_found",
            "lost_and_found",
            "A found object matched a lost item: update and notify the guest.",
        ),
        WorkflowSpec(
            "hazard_escalation", "hazard_escalation", "Alert the channels about anomaly events."
        ),
        WorkflowSpec(
            "hazard_realert",
            "hazard_realert",
            "Re-send unacknowledged hazard alerts.",
            "*/5 * * * *",
        ),
        WorkflowSpec(
            "daily_pricing",
            "daily_pricing",
            "Optimise, validate and publish room prices.",
            "0 3 * * *",
        ),
        WorkflowSpec(
            "daily_report", "daily_report", "Daily HTML report with charts.", "30 6 * * *"
        ),
        WorkflowSpec(
            "gallery_publish", "gallery_publish", "Publish a new face gallery version to the edges."
        ),
        WorkflowSpec(
            "nightly_retrain",
            "nightly_retrain",
            "Retrain the ML models (champion/challenger).",
            "0 2 * * *",
        ),
        WorkflowSpec(
            "retention_purge",
            "retention_purge",
            "Delete expired face snapshots (audited).",
            "0 4 * * *",
        ),
    )
}

# ETL pipelines of /pipeline/etl/{name}: names -> workflows; /pipeline/sync runs SYNC_WORKFLOW.
PIPELINES: dict[str, str] = {
    "daily_report": "daily_report",
    "pricing": "daily_pricing",
    "retrain": "nightly_retrain",
    "retention": "retention_purge",
}
SYNC_WORKFLOW = "gallery_publish"


class UnknownWorkflowError(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown workflow {name!r}; known: {', '.join(known)}")
        self.name = name


def spec_of(name: str) -> WorkflowSpec:
    spec = WORKFLOWS.get(name)
    if spec is None:
        raise UnknownWorkflowError(name, sorted(WORKFLOWS))
    return spec
