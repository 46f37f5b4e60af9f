"""runtype_provider.api.responses.

Response models: lenient parsing (unknown fields and values kept, only ids required)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from runtype_provider.api.responses import (
    BatchCancelResult,
    BatchStatus,
    DeleteResult,
    RecordResult,
    RecordResultPage,
    RunNowResult,
    Schedule,
    SchedulePage,
    ScheduleRun,
    ScheduleState,
    SurfaceRunNowResult,
    SurfaceSchedule,
)
from runtype_provider.api.spec import ENDPOINTS
from runtype_provider.client.request import parse_answer
from runtype_provider.exceptions import RuntypeResponseError

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


def test_unknown_fields_of_nested_models_are_kept():
    page = SchedulePage.model_validate(
        {"data": [{**SCHEDULE, "newThing": 1}], "pagination": {"hasMore": False, "cursorVersion": 2}}
    )
    assert page.data[0].model_extra == {"newThing": 1}
    assert page.to_api()["pagination"]["cursorVersion"] == 2


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


# ---- what is refused, what an empty or sparse answer means ---------------------------------------------


@pytest.mark.parametrize(
    ("model", "payload", "field"),
    [
        (BatchStatus, {"status": "running", "totalRecords": -1}, "totalRecords"),
        (BatchStatus, {"status": "running", "processedRecords": -5}, "processedRecords"),
        (BatchStatus, {"status": "completed", "failedRecords": -2}, "failedRecords"),
        (BatchStatus, {"status": "completed", "successCount": -1}, "successCount"),
        (ScheduleRun, {"id": "r1", "totalRecords": -10}, "totalRecords"),
        (ScheduleRun, {"id": "r1", "processedRecords": -1}, "processedRecords"),
        (ScheduleRun, {"id": "r1", "failedRecords": -1}, "failedRecords"),
        (SurfaceRunNowResult, {"batchExecutionId": "b1", "recordCount": -3}, "recordCount"),
        (RecordResultPage, {"data": [], "pagination": {"offset": -1}}, "pagination.offset"),
        (RecordResultPage, {"data": [], "pagination": {"hasMore": True, "total": -1}}, "pagination.total"),
        (SchedulePage, {"data": [], "pagination": {"totalCount": -1}}, "pagination.totalCount"),
    ],
)
def test_negative_counts_are_a_malformed_answer(model, payload, field):
    with pytest.raises(ValidationError) as caught:
        model.model_validate(payload)
    assert ".".join(str(p) for p in caught.value.errors()[0]["loc"]) == field


@pytest.mark.parametrize(
    ("operation", "payload", "where"),
    [
        ("get_batch_status", {"status": "running", "failedRecords": -1}, "failedRecords"),
        ("list_schedule_runs", {"data": [{"id": "r1", "totalRecords": -1}]}, "data.0.totalRecords"),
        ("get_batch_results", {"data": [], "pagination": {"offset": 0, "total": -4}}, "pagination.total"),
    ],
)
def test_negative_counts_are_a_typed_response_error_when_parsing(operation, payload, where):
    endpoint = ENDPOINTS[operation]
    with pytest.raises(RuntypeResponseError) as caught:
        parse_answer(endpoint, payload)
    assert str(caught.value).startswith(
        f"Runtype API {endpoint.method} {endpoint.path} returned an unexpected body: {where}: "
    )
    assert "greater than or equal to 0" in str(caught.value)


def test_batch_progress_may_be_fractional_and_counts_missing():
    status = BatchStatus.model_validate({"batchExecutionId": "b1", "status": "running", "progress": 42.5})
    assert (status.progress, status.total_records, status.processed_records, status.failed_records) == (
        42.5,
        None,
        None,
        None,
    )
    assert BatchStatus.model_validate({"progress": 100}).to_api()["progress"] == 100  # an integer stays one


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        ("delete_schedule", DeleteResult(success=True)),
        ("delete_surface_schedule", DeleteResult(success=True)),
        ("cancel_batch", BatchCancelResult(success=True, message=None)),
        ("pause_schedule", ScheduleState(status=None)),
        ("resume_surface_schedule", ScheduleState(status=None)),
    ],
)
def test_an_empty_answer_to_delete_pause_resume_or_cancel_is_a_success(operation, expected):
    assert parse_answer(ENDPOINTS[operation], {}) == expected


def test_an_explicit_failure_is_kept():
    assert parse_answer(ENDPOINTS["delete_schedule"], {"success": False}).success is False
    assert parse_answer(ENDPOINTS["cancel_batch"], {"success": False, "message": "already done"}).success is False
