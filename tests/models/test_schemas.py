"""Response models: lenient parsing (unknown fields and values kept, only ids required)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from runtype_provider.models.schemas import (
    BatchStatus,
    RecordResult,
    RunNowResult,
    Schedule,
    SchedulePage,
    ScheduleRun,
    SurfaceSchedule,
)

EXAMPLES = json.loads((Path(__file__).resolve().parents[1] / "data" / "runtype_api_examples.json").read_text())
SCHEDULE = EXAMPLES["schedule"]
RUN = {**EXAMPLES["run"], "status": "running", "processedRecords": 40, "failedRecords": 3}


# ---- lenient responses ------------------------------------------------------------------------------------


def test_documented_schedule_round_trips_through_to_api():
    assert Schedule.model_validate(SCHEDULE).to_api() == SCHEDULE


def test_attributes_are_snake_case():
    schedule = Schedule.model_validate(SCHEDULE)
    assert (schedule.flow_id, schedule.next_run_at, schedule.execution_options["chunkSize"]) == (
        "flow_123",
        "2025-01-12T08:00:00Z",
        200,
    )


def test_models_accept_snake_case_names_too():
    assert Schedule(id="s1", flow_id="f1").to_api()["flowId"] == "f1"


def test_unknown_fields_are_kept_in_model_extra():
    schedule = Schedule.model_validate({**SCHEDULE, "ownerTeam": "growth", "quota": {"max": 3}})
    assert schedule.model_extra == {"ownerTeam": "growth", "quota": {"max": 3}}


def test_unknown_fields_are_kept_in_to_api():
    api = Schedule.model_validate({**SCHEDULE, "ownerTeam": "growth"}).to_api()
    assert api["ownerTeam"] == "growth"
    assert api["flowId"] == "flow_123"


def test_unknown_fields_of_nested_models_are_kept():
    page = SchedulePage.model_validate(
        {"data": [{**SCHEDULE, "newThing": 1}], "pagination": {"hasMore": False, "cursorVersion": 2}}
    )
    assert page.data[0].model_extra == {"newThing": 1}
    assert page.to_api()["pagination"]["cursorVersion"] == 2


def test_to_api_is_json_serializable():
    row = RecordResult.model_validate(
        {"recordId": "r1", "status": "success", "record": {"id": "r1", "name": "Acme", "type": "company", "x": 1}}
    )
    assert json.loads(json.dumps(row.to_api()))["record"] == {"id": "r1", "name": "Acme", "type": "company", "x": 1}


@pytest.mark.parametrize(
    ("model", "payload", "attribute", "value"),
    [
        (ScheduleRun, {"id": "r1", "status": "hibernating"}, "status", "hibernating"),
        (BatchStatus, {"batchExecutionId": "b1", "status": "paused_for_review"}, "status", "paused_for_review"),
        (RunNowResult, {"status": "deferred", "runId": "r1"}, "status", "deferred"),
        (RecordResult, {"recordId": "r1", "status": "skipped"}, "status", "skipped"),
        (RecordResult, {"recordId": "r1", "executionEngine": "quantum"}, "execution_engine", "quantum"),
        (BatchStatus, {"executionEngineSummary": "hybrid"}, "execution_engine_summary", "hybrid"),
        (Schedule, {"id": "s1", "triggerType": "cron"}, "trigger_type", "cron"),
    ],
)
def test_unknown_enum_values_are_accepted(model, payload, attribute, value):
    assert getattr(model.model_validate(payload), attribute) == value


def test_identifiers_are_required():
    with pytest.raises(ValidationError, match="id"):
        ScheduleRun.model_validate({"status": "running"})


def test_surface_schedule_without_details_has_no_recent_runs():
    assert SurfaceSchedule.model_validate({"id": "s1"}).recent_runs == []
