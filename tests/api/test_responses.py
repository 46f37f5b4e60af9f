"""runtype_provider.api.responses.

Response models: lenient parsing (unknown fields and values kept, only ids required)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from client.test_request import FAST
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from runtype_provider.api.responses import (
    BatchCancelResult,
    BatchCost,
    BatchRecordStep,
    BatchStatus,
    BatchSubmitted,
    BatchSummary,
    BatchSummaryItem,
    DeleteResult,
    RecordCost,
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


# ---- batches submitted directly, and costs --------------------------------------------------------------------

COST = {
    "batchExecutionId": "b1",
    "billedCostThousandthsCent": 1234,
    "billedCostUsd": 0.01234,
    "selfReportedCostUsd": 0,
    "totalCostUsd": 0.0421,
    "unpricedExecutions": 2,
    "newField": {"kept": True},
}


def test_batch_models_parse_the_documented_answers_and_keep_unknown_fields():
    assert BatchSubmitted.model_validate({"batchExecutionId": "b1", "status": "queued"}).status == "queued"
    cost = BatchCost.model_validate(COST)
    assert (cost.total_cost_usd, cost.billed_cost_thousandths_cent, cost.model_extra) == (
        0.0421, 1234, {"newField": {"kept": True}},
    )  # fmt: skip
    assert cost.to_api() == COST
    record = RecordCost.model_validate({**COST, "recordId": "r1"})
    assert (record.record_id, record.unpriced_executions) == ("r1", 2)
    summary = BatchSummary.model_validate(
        {"batches": [{"id": "b1", "progress": 37.5, "startedAt": "2025-01-11T08:00:00Z"}], "recent": []}
    )
    assert (summary.batches[0].progress, summary.batches[0].started_at, summary.recent) == (
        37.5, "2025-01-11T08:00:00Z", [],
    )  # fmt: skip
    steps = parse_answer(ENDPOINTS["list_batch_record_steps"], {"data": [{"id": "s1", "stepName": "Enrich"}]})
    assert [(type(s), s.step_name) for s in steps] == [(BatchRecordStep, "Enrich")]


def test_only_ids_are_required_in_batch_answers():
    assert BatchCost.model_validate({"batchExecutionId": "b1"}).total_cost_usd is None
    assert BatchSummary.model_validate({}).batches == []
    for model, answer in (
        (BatchSubmitted, {"status": "queued"}),
        (BatchCost, {"totalCostUsd": 1}),
        (RecordCost, {"batchExecutionId": "b1"}),
        (BatchRecordStep, {"stepName": "x"}),
    ):
        with pytest.raises(ValidationError):
            model.model_validate(answer)


@pytest.mark.parametrize("field", ["totalCostUsd", "billedCostUsd", "selfReportedCostUsd"])
@pytest.mark.parametrize("value", [-0.01, float("nan"), float("inf"), float("-inf"), "cheap", [1]])
def test_a_cost_that_is_negative_or_not_a_finite_number_is_malformed(field, value):
    with pytest.raises(ValidationError, match=field):
        BatchCost.model_validate({**COST, field: value})


@pytest.mark.parametrize(
    ("model", "answer"),
    [
        (BatchCost, {**COST, "unpricedExecutions": -1}),
        (BatchCost, {**COST, "billedCostThousandthsCent": -5}),
        (BatchSummaryItem, {"id": "b", "progress": float("nan")}),
        (BatchSummaryItem, {"id": "b", "failedRecords": -1}),
        (BatchRecordStep, {"id": "s", "totalTokens": -3}),
        (BatchSummary, {"batches": "none"}),
    ],
)
def test_negative_counts_and_wrong_types_in_batch_answers_are_malformed(model, answer):
    with pytest.raises(ValidationError):
        model.model_validate(answer)


finite_costs = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)
hostile = st.one_of(
    st.floats(), st.integers(), st.text(max_size=5), st.none(), st.booleans(), st.lists(st.integers(), max_size=2)
)


@FAST
@given(total=finite_costs, billed=finite_costs, unpriced=st.integers(0, 10**9))
def test_any_finite_non_negative_cost_parses(total, billed, unpriced):
    cost = BatchCost.model_validate(
        {"batchExecutionId": "b", "totalCostUsd": total, "billedCostUsd": billed, "unpricedExecutions": unpriced}
    )
    assert (cost.total_cost_usd, cost.billed_cost_usd, cost.unpriced_executions) == (total, billed, unpriced)


@FAST
@given(
    operation=st.sampled_from(
        ["submit_batch", "get_batch_summary", "get_batch_cost", "get_batch_record_cost", "list_batch_record_steps"]
    ),
    answer=st.dictionaries(
        st.sampled_from(
            ["batchExecutionId", "recordId", "totalCostUsd", "billedCostUsd", "unpricedExecutions", "batches",
             "recent", "data", "status", "progress"]
        ),
        hostile,
        max_size=6,
    ),
)  # fmt: skip
def test_a_hostile_batch_answer_is_a_model_or_a_typed_error(operation, answer):
    try:
        parsed = parse_answer(ENDPOINTS[operation], answer)
    except RuntypeResponseError:
        return
    costs = [getattr(parsed, name, None) for name in ("total_cost_usd", "billed_cost_usd")]
    assert all(c is None or (math.isfinite(c) and c >= 0) for c in costs)
