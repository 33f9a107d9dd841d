"""The workflows the API can start, by name, and their default schedules (pure data: nothing
here imports Prefect)."""

from __future__ import annotations

from dataclasses import dataclass

DEFINITIONS_MODULE = "hub.flows.definitions"
DEFAULT_SCHEDULE_SLUG = "innsight-default"


# estimated_duration_minutes of a workflow with no finished run in workflow_logs yet
DEFAULT_ESTIMATE_MINUTES = 1.0
# how many of a workflow's latest completed runs the estimate is taken from
ESTIMATE_HISTORY = 20


@dataclass(frozen=True, slots=True)
class WorkflowSpec:
    name: str
    attribute: str
    description: str
    default_cron: str | None = None
    default_minutes: float = DEFAULT_ESTIMATE_MINUTES


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
            "Score a lost report against the open found items; store the proposed matches.",
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
            "gallery_backfill",
            "gallery_backfill_flow",
            "Templates of a face model new to the fleet, from the kept enrolment crops.",
        ),
        WorkflowSpec(
            "nightly_retrain",
            "nightly_retrain",
            "Retrain the ML models (champion/challenger).",
            "0 2 * * *",
            default_minutes=10.0,
        ),
        WorkflowSpec(
            "retention_purge",
            "retention_purge",
            "Delete what is past its retention, per data class (audited).",
            "0 4 * * *",
        ),
        # the seed documents' workflow names (issue 13): their own parameters
        WorkflowSpec(
            "daily_report_generation",
            "daily_report_generation",
            "The daily report of one date, limited to the report_types asked for.",
        ),
        WorkflowSpec(
            "ml_model_retrain",
            "ml_model_retrain",
            "Retrain one ML model (model_name, e.g. pricing_model) or all of them.",
            default_minutes=10.0,
        ),
        WorkflowSpec(
            "lost_found_return",
            "lost_found_return",
            "A confirmed lost & found match: status, guest notification, return task.",
        ),
        WorkflowSpec(
            "data_sync",
            "data_sync",
            "/pipeline/sync: export one data type to the warehouse, or the gallery to the edges.",
        ),
    )
}

# ETL pipelines of /pipeline/etl/{name}: names -> workflows; /pipeline/sync runs SYNC_WORKFLOW
# (which publishes the gallery through GALLERY_WORKFLOW when data_type is faces).
PIPELINES: dict[str, str] = {
    "daily_report": "daily_report",
    "pricing": "daily_pricing",
    "retrain": "nightly_retrain",
    "retention": "retention_purge",
    "gallery": "gallery_publish",
}
SYNC_WORKFLOW = "data_sync"
GALLERY_WORKFLOW = "gallery_publish"


class UnknownWorkflowError(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown workflow {name!r}; known: {', '.join(known)}")
        self.name = name


def spec_of(name: str) -> WorkflowSpec:
    spec = WORKFLOWS.get(name)
    if spec is None:
        raise UnknownWorkflowError(name, sorted(WORKFLOWS))
    return spec
