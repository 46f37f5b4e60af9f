"""Models: lenient parsing of responses, status classification, run references and strict request bodies."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeRunError
from runtype_provider.models.bodies import build_schedule_body, build_surface_schedule_body
from runtype_provider.models.conclusion import FailedRecordsPolicy, conclude_run
from runtype_provider.models.runs import RunProgress, RunReference
from runtype_provider.models.schemas import (
    BatchStatus,
    RecordResult,
    RunNowResult,
    Schedule,
    SchedulePage,
    ScheduleRun,
    SurfaceSchedule,
)
from runtype_provider.models.status import RunOutcome, classify_run_status, is_failed_record_status
from runtype_provider.version_compat import AirflowException

SCHEDULE = {
    "agentId": None,
    "createdAt": "2025-01-10T09:00:00Z",
    "cron": "0 8 * * *",
    "enabled": True,
    "executionOptions": {"chunkSize": 200, "recordConcurrency": 25},
    "flowId": "flow_123",
    "id": "sch_123",
    "inputs": None,
    "lastRunAt": "2025-01-11T08:00:00Z",
    "messages": None,
    "name": "Nightly enrichment",
    "nextRunAt": "2025-01-12T08:00:00Z",
    "organizationId": "org_1",
    "productSurfaceId": None,
    "recordFilter": None,
    "recordIds": None,
    "recordType": "company",
    "runAt": None,
    "timezone": "UTC",
    "triggerType": "recurring",
    "updatedAt": "2025-01-11T08:00:05Z",
    "userId": "user_1",
}
RUN = {
    "id": "run_001",
    "scheduleId": "sch_123",
    "status": "running",
    "batchExecutionId": "batch_abc",
    "totalRecords": 100,
    "processedRecords": 40,
    "failedRecords": 3,
    "createdAt": "2025-01-11T08:00:00Z",
}


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


# ---- status classification --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("completed", RunOutcome.SUCCESS),
        ("complete", RunOutcome.SUCCESS),
        ("success", RunOutcome.SUCCESS),
        ("succeeded", RunOutcome.SUCCESS),
        ("done", RunOutcome.SUCCESS),
        ("finished", RunOutcome.SUCCESS),
        ("failed", RunOutcome.FAILED),
        ("failure", RunOutcome.FAILED),
        ("error", RunOutcome.FAILED),
        ("errored", RunOutcome.FAILED),
        ("timed_out", RunOutcome.FAILED),
        ("timeout", RunOutcome.FAILED),
        ("interrupted", RunOutcome.FAILED),
        ("cancelled", RunOutcome.CANCELLED),
        ("canceled", RunOutcome.CANCELLED),
        ("aborted", RunOutcome.CANCELLED),
        ("cancelling", RunOutcome.CANCELLED),
        ("queued", RunOutcome.RUNNING),
        ("pending", RunOutcome.RUNNING),
        ("running", RunOutcome.RUNNING),
        ("in_progress", RunOutcome.RUNNING),
        ("processing", RunOutcome.RUNNING),
        ("started", RunOutcome.RUNNING),
        ("scheduled", RunOutcome.RUNNING),
        ("created", RunOutcome.RUNNING),
        ("paused", RunOutcome.RUNNING),
        ("retrying", RunOutcome.RUNNING),
        ("COMPLETED", RunOutcome.SUCCESS),
        ("  Failed ", RunOutcome.FAILED),
        ("Running", RunOutcome.RUNNING),
        ("hibernating", RunOutcome.UNKNOWN),
        ("", RunOutcome.UNKNOWN),
        (None, RunOutcome.UNKNOWN),
    ],
)
def test_classify_run_status(status, outcome):
    assert classify_run_status(status) is outcome


@pytest.mark.parametrize(
    ("outcome", "terminal"),
    [
        (RunOutcome.SUCCESS, True),
        (RunOutcome.FAILED, True),
        (RunOutcome.CANCELLED, True),
        (RunOutcome.RUNNING, False),
        (RunOutcome.UNKNOWN, False),
    ],
)
def test_terminal_outcomes(outcome, terminal):
    assert outcome.is_terminal is terminal


@pytest.mark.parametrize(
    ("status", "failed"),
    [("failed", True), ("ERROR", True), ("timeout", True), ("success", False), ("completed", False), (None, False)],
)
def test_is_failed_record_status(status, failed):
    assert is_failed_record_status(status) is failed


def test_run_progress_from_batch():
    batch = BatchStatus.model_validate(
        {"batchExecutionId": "b1", "status": "failed", "totalRecords": 10, "processedRecords": 4, "failedRecords": 4}
    )
    progress = RunProgress.from_batch(batch, RunReference(run_id="r1", batch_execution_id="b0"))
    assert (progress.outcome, progress.run_id, progress.batch_execution_id, progress.total_records) == (
        RunOutcome.FAILED,
        "r1",
        "b1",
        10,
    )


def test_run_progress_from_run():
    progress = RunProgress.from_run(ScheduleRun.model_validate(RUN))
    assert (progress.run_id, progress.outcome, progress.processed_records) == ("run_001", RunOutcome.RUNNING, 40)


def test_run_progress_describe():
    progress = RunProgress.from_run(ScheduleRun.model_validate(RUN))
    assert progress.describe() == "running: 40/100 records processed, 3 failed"
    assert RunProgress().describe() == "unknown: 0/? records processed, 0 failed"


def test_progress_from_run_list_finds_the_run_or_has_no_status_yet():
    runs = [ScheduleRun(id="a", status="failed"), ScheduleRun(id="b", status="completed")]
    found = RunProgress.from_run_list(runs, RunReference(schedule_id="s", run_id="b"))
    assert (found.run_id, found.status, found.outcome) == ("b", "completed", RunOutcome.SUCCESS)
    missing = RunProgress.from_run_list(runs, RunReference(schedule_id="s", run_id="c"))
    assert (missing.run_id, missing.status, missing.outcome) == ("c", None, RunOutcome.UNKNOWN)


# ---- run references ---------------------------------------------------------------------------------------

REFERENCE = {"schedule_id": "sch_123", "run_id": "run_001", "batch_execution_id": "batch_abc"}


def test_coerce_returns_a_reference_unchanged():
    reference = RunReference(**REFERENCE)
    assert RunReference.coerce(reference) is reference


def test_coerce_accepts_a_dict():
    assert RunReference.coerce(REFERENCE) == RunReference(**REFERENCE)


def test_coerce_accepts_a_json_string():
    assert RunReference.coerce(json.dumps(REFERENCE)) == RunReference(**REFERENCE)


def test_coerce_drops_what_is_not_a_reference_field():
    # A previous task's return value (reference + status + counts) must not ride along into the next task.
    reference = RunReference.coerce({**REFERENCE, "status": "queued", "failed_records": 3})
    assert set(reference.to_xcom()) == {
        "schedule_id",
        "run_id",
        "batch_execution_id",
        "product_id",
        "surface_id",
        "run_url",
    }


def test_reference_round_trips_through_xcom_json():
    reference = RunReference(**REFERENCE, product_id="p1", surface_id="s1", run_url="https://app.runtype.com/x")
    assert RunReference.coerce(json.dumps(reference.to_xcom())) == reference


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("{not json", "is not a valid Runtype run reference"),
        ("[1, 2]", "is not a valid Runtype run reference"),
        ({"run_id": 123}, "is not a valid Runtype run reference"),
        ({"schedule_id": ["a"]}, "is not a valid Runtype run reference"),
        (42, "must be a run reference dict"),
        (["run_001"], "must be a run reference dict"),
        (None, "must be a run reference dict"),
    ],
)
def test_coerce_refuses_what_is_not_a_reference(value, fragment):
    with pytest.raises(RuntypeConfigurationError, match=f"'run' {fragment}"):
        RunReference.coerce(value)


def test_coerce_errors_name_the_given_argument():
    with pytest.raises(RuntypeConfigurationError, match=r"^'upstream_run' must be a run reference dict"):
        RunReference.coerce(3.5, argument="upstream_run")


@pytest.mark.parametrize(
    "fields", [{"batch_execution_id": "b1"}, {"run_id": "r1", "schedule_id": "s1"}, REFERENCE], ids=str
)
def test_pollable_references(fields):
    RunReference(**fields).require_pollable()


@pytest.mark.parametrize("fields", [{}, {"run_id": "r1"}, {"schedule_id": "s1"}], ids=str)
def test_references_that_cannot_be_polled_are_refused(fields):
    with pytest.raises(RuntypeConfigurationError, match="'run' needs 'batch_execution_id', or both 'run_id'"):
        RunReference(**fields).require_pollable()


# ---- request bodies -----------------------------------------------------------------------------------------


def test_recurring_flow_schedule_body():
    body = build_schedule_body(
        flow_id="flow_1",
        record_type="company",
        record_ids=["rec_1", "rec_2"],
        cron="0   8 * * 1-5",
        timezone="Europe/Paris",
        name="Weekday sync",
        inputs={"lang": "fr"},
        record_filter={"type": "company"},
        execution_options={"chunk_size": 10, "maxRetries": 0, "customFlag": True},
    )
    assert body == {
        "target": {"flowId": "flow_1", "recordType": "company", "recordIds": ["rec_1", "rec_2"]},
        "trigger": {"type": "recurring", "cron": "0 8 * * 1-5", "timezone": "Europe/Paris"},
        "executionOptions": {"chunkSize": 10, "maxRetries": 0, "customFlag": True},
        "name": "Weekday sync",
        "inputs": {"lang": "fr"},
        "recordFilter": {"type": "company"},
    }


def test_one_time_schedule_body_from_an_aware_datetime():
    run_at = datetime(2025, 2, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    body = build_schedule_body(agent_id="agent_1", run_at=run_at, messages=[{"role": "user", "content": "go"}])
    assert body == {
        "target": {"agentId": "agent_1"},
        "trigger": {"type": "one_time", "runAt": "2025-02-01T09:30:00+02:00"},
        "messages": [{"role": "user", "content": "go"}],
    }


def test_one_time_schedule_body_from_an_iso_string():
    body = build_schedule_body(flow_id="f1", trigger_type="one_time", run_at="2025-02-01T09:00:00Z")
    assert body["trigger"] == {"type": "one_time", "runAt": "2025-02-01T09:00:00Z"}


def test_partial_update_sends_only_what_changes():
    assert build_schedule_body(partial=True, name="Renamed") == {"name": "Renamed"}


def test_surface_schedule_body_is_flat():
    body = build_surface_schedule_body(
        flow_id="flow_1",
        cron="*/15 * * * *",
        timezone="UTC",
        enabled=True,
        record_type="company",
        execution_options={"logging_policy": "on", "recordConcurrency": 5},
    )
    assert body == {
        "flowId": "flow_1",
        "triggerType": "recurring",
        "cron": "*/15 * * * *",
        "timezone": "UTC",
        "enabled": True,
        "executionOptions": {"loggingPolicy": "on", "recordConcurrency": 5},
        "recordType": "company",
    }


def test_surface_partial_update_keeps_false():
    assert build_surface_schedule_body(partial=True, enabled=False) == {"enabled": False}


@pytest.mark.parametrize(("rendered", "expected"), [("False", False), ("false ", False), ("True", True)])
def test_surface_enabled_rendered_by_a_template_becomes_a_bool(rendered, expected):
    assert build_surface_schedule_body(partial=True, enabled=rendered) == {"enabled": expected}


def test_json_text_rendered_by_a_template_is_decoded_for_dict_and_list_fields():
    body = build_schedule_body(
        flow_id="f1",
        cron="0 * * * *",
        record_ids='["r1", "r2"]',
        inputs='{"lang": "en"}',
        execution_options='{"chunkSize": 5}',
        record_filter='{"type": "company", "where": {"op": "or", "conditions": [{"field": "tier", "op": "in", '
        '"value": ["gold"]}, {"op": "and", "conditions": [{"field": "vip", "op": "isTrue"}]}]}}',
    )
    assert body["target"]["recordIds"] == ["r1", "r2"]
    assert body["inputs"] == {"lang": "en"}
    assert body["executionOptions"] == {"chunkSize": 5}
    assert body["recordFilter"]["where"]["conditions"][1]["conditions"][0] == {"field": "vip", "op": "isTrue"}


GLOBAL = build_schedule_body
SURFACE = build_surface_schedule_body
RECURRING = {"flow_id": "f1", "cron": "0 * * * *"}


@pytest.mark.parametrize(
    ("builder", "kwargs", "message"),
    [
        (GLOBAL, {"flow_id": "f1", "agent_id": "a1", "cron": "0 * * * *"}, "exactly one of 'flow_id' or 'agent_id'"),
        (GLOBAL, {"cron": "0 * * * *"}, "exactly one of 'flow_id' or 'agent_id'"),
        (GLOBAL, {"flow_id": "f1"}, "needs 'cron' (recurring) or 'run_at' (one_time)"),
        (GLOBAL, {**RECURRING, "run_at": "2025-02-01T09:00:00Z"}, "either 'cron' (recurring) or 'run_at'"),
        (SURFACE, {**RECURRING, "run_at": "2025-02-01T09:00:00Z"}, "either 'cron' (recurring) or 'run_at'"),
        (GLOBAL, {"flow_id": "f1", "trigger_type": "recurring"}, "'cron' is required"),
        (GLOBAL, {"flow_id": "f1", "trigger_type": "one_time"}, "'run_at' is required"),
        (GLOBAL, {"flow_id": "f1", "trigger_type": "weekly", "cron": "0 * * * *"}, "'trigger_type' must be"),
        (GLOBAL, {"flow_id": "f1", "cron": "* * * *"}, "'cron' must be a 5-field cron expression"),
        (GLOBAL, {"flow_id": "f1", "cron": "* * * * * *"}, "'cron' must be a 5-field cron expression"),
        (GLOBAL, {"flow_id": "f1", "cron": "every day"}, "'cron' must be a 5-field cron expression"),
        (SURFACE, {"flow_id": "f1", "cron": "0 8 * * $"}, "'cron' must be a 5-field cron expression"),
        (GLOBAL, {"flow_id": "f1", "run_at": datetime(2025, 2, 1, 9)}, "'run_at' must be timezone-aware"),
        (SURFACE, {"flow_id": "f1", "run_at": "2025-02-01T09:00:00"}, "'run_at' must include a timezone offset"),
        (GLOBAL, {"flow_id": "f1", "run_at": "tomorrow"}, "'run_at' must be an ISO-8601 datetime"),
        (GLOBAL, {**RECURRING, "execution_options": [("chunkSize", 1)]}, "'execution_options' must be a dict"),
        (GLOBAL, {**RECURRING, "execution_options": {"chunkSize": "10"}}, "'execution_options.chunkSize'"),
        (GLOBAL, {**RECURRING, "execution_options": {"chunk_size": 0}}, "'execution_options.chunk_size'"),
        (GLOBAL, {**RECURRING, "execution_options": {"recordConcurrency": True}}, "'execution_options.recordConc"),
        (GLOBAL, {**RECURRING, "execution_options": {"maxRetries": -1}}, "'execution_options.maxRetries'"),
        (GLOBAL, {**RECURRING, "execution_options": {"timeoutMs": 1.5}}, "'execution_options.timeoutMs'"),
        (GLOBAL, {**RECURRING, "execution_options": {"skipCacheWarm": "yes"}}, "'execution_options.skipCacheWarm'"),
        (GLOBAL, {**RECURRING, "execution_options": {"modelOverride": 5}}, "'execution_options.modelOverride'"),
        (SURFACE, {**RECURRING, "execution_options": {"loggingPolicy": "loud"}}, "'execution_options.loggingPolicy'"),
        (
            GLOBAL,
            {**RECURRING, "execution_options": {"loggingPolicy": "off"}},
            "'execution_options.loggingPolicy' is only accepted by product-surface schedules",
        ),
        (GLOBAL, {**RECURRING, "record_ids": "rec_1"}, "'record_ids' must be a list of non-empty strings"),
        (SURFACE, {**RECURRING, "record_ids": ["rec_1", ""]}, "'record_ids' must be a list of non-empty strings"),
        (GLOBAL, {**RECURRING, "record_ids": [1]}, "'record_ids' must be a list of non-empty strings"),
        (GLOBAL, {"partial": True, "timezone": "UTC"}, "'timezone' needs 'cron' or 'run_at'"),
        (GLOBAL, {"partial": True}, "an update needs at least one field to change"),
        (SURFACE, {"partial": True}, "an update needs at least one field to change"),
        (SURFACE, {"cron": "0 * * * *"}, "a product-surface schedule needs 'flow_id'"),
        (SURFACE, {"partial": True, "enabled": "no"}, "'enabled' must be True or False, got 'no'"),
        (SURFACE, {"partial": True, "enabled": 1}, "'enabled' must be True or False, got 1"),
        (GLOBAL, {**RECURRING, "record_filter": {"field": "tier", "op": "eq"}}, "'record_filter.type' (the record"),
        (GLOBAL, {**RECURRING, "record_filter": ["company"]}, "'record_filter' must be a dict, got ['company']"),
        (GLOBAL, {**RECURRING, "record_filter": "{not json"}, "'record_filter' must be a dict (or its JSON text)"),
        (
            SURFACE,
            {**RECURRING, "record_filter": {"type": "company", "where": {"field": "tier", "op": "like"}}},
            "'record_filter.where.op' must be one of between, contains,",
        ),
        (
            GLOBAL,
            {**RECURRING, "record_filter": {"type": "company", "where": {"op": "eq", "value": 1}}},
            "'record_filter.where.field' must be a non-empty string",
        ),
        (
            GLOBAL,
            {**RECURRING, "record_filter": {"type": "c", "where": {"op": "xor", "conditions": [{"field": "a"}]}}},
            "'record_filter.where.op' of a group must be 'and' or 'or', got 'xor'",
        ),
        (
            GLOBAL,
            {**RECURRING, "record_filter": {"type": "c", "where": {"op": "and", "conditions": []}}},
            "'record_filter.where.conditions' must be a non-empty list",
        ),
        (
            GLOBAL,
            {
                **RECURRING,
                "record_filter": {
                    "type": "c",
                    "where": {
                        "op": "and",
                        "conditions": [
                            {"op": "or", "conditions": [{"op": "and", "conditions": [{"field": "a", "op": "isSet"}]}]}
                        ],
                    },
                },
            },
            "'record_filter.where.conditions[0].conditions[0]': groups nest at most two levels deep",
        ),
        (
            GLOBAL,
            {**RECURRING, "record_filter": {"type": "c", "where": {"op": "and", "conditions": [{"field": "a"}]}}},
            "'record_filter.where.conditions[0].op' must be one of",
        ),
        (GLOBAL, {**RECURRING, "inputs": ["en"]}, "'inputs' must be a dict, got ['en']"),
        (GLOBAL, {**RECURRING, "messages": {"role": "user"}}, "'messages' must be a list, got {'role': 'user'}"),
        (GLOBAL, {**RECURRING, "record_type": ""}, "'record_type' must be a non-empty string"),
        (GLOBAL, {**RECURRING, "timezone": 2}, "'timezone' must be a non-empty string, got 2"),
        (GLOBAL, {"flow_id": 7, "cron": "0 * * * *"}, "'flow_id' must be a non-empty string, got 7"),
    ],
)
def test_body_builders_refuse_bad_arguments_by_name(builder, kwargs, message):
    with pytest.raises(RuntypeConfigurationError) as caught:
        builder(**kwargs)
    assert message in str(caught.value)


def test_configuration_errors_are_value_errors_and_airflow_exceptions():
    with pytest.raises(RuntypeConfigurationError) as caught:
        build_schedule_body(cron="0 * * * *")
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, AirflowException)


# ---- failed-records policy and the judgement of a finished run -------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, FailedRecordsPolicy()),
        (0, FailedRecordsPolicy(max_count=0)),
        (5, FailedRecordsPolicy(max_count=5)),
        ("7", FailedRecordsPolicy(max_count=7)),
        ("2.5%", FailedRecordsPolicy(max_percent=2.5)),
        (" 10 % ", FailedRecordsPolicy(max_percent=10.0)),
    ],
)
def test_failed_records_policy_parse(value, expected):
    assert FailedRecordsPolicy.parse(value) == expected


@pytest.mark.parametrize("value", [True, -1, "150%", "x%", "lots", 1.5, ["1"]])
def test_failed_records_policy_refuses_bad_values_by_name(value):
    with pytest.raises(RuntypeConfigurationError, match=r"^'allowed_failed_records'"):
        FailedRecordsPolicy.parse(value)


@pytest.mark.parametrize(
    ("policy", "failed", "total", "exceeded"),
    [
        (None, 100, 100, False),
        (0, 0, 100, False),
        (0, 1, 100, True),
        (3, 3, 100, False),
        (3, 4, 100, True),
        ("5%", 5, 100, False),
        ("5%", 6, 100, True),
        ("5%", 1, None, False),
        ("0%", 1, 1000, True),
    ],
)
def test_failed_records_policy_is_exceeded(policy, failed, total, exceeded):
    assert FailedRecordsPolicy.parse(policy).is_exceeded(failed, total) is exceeded


def progress(status: str, failed: int = 0, total: int = 10, error: str | None = None) -> RunProgress:
    return RunProgress(
        status=status,
        outcome=classify_run_status(status),
        total_records=total,
        processed_records=total,
        failed_records=failed,
        error=error,
    )


def test_conclude_run_returns_the_reference_with_status_and_counts():
    run = RunReference(**REFERENCE)
    result = conclude_run(progress("completed"), run, FailedRecordsPolicy(), logging.getLogger("t"))
    assert result == {
        **run.to_xcom(),
        "status": "completed",
        "outcome": "success",
        "total_records": 10,
        "processed_records": 10,
        "failed_records": 0,
    }


@pytest.mark.parametrize(
    ("state", "fragment"),
    [
        (progress("failed", error="Flow crashed"), "failed (status 'failed'): Flow crashed"),
        (progress("cancelled"), "was cancelled (status 'cancelled')"),
        (progress("completed", failed=2), "completed with 2 of 10 records failed; allowed: at most 1 failed records"),
    ],
)
def test_conclude_run_raises_for_bad_endings(state, fragment):
    run = RunReference(**REFERENCE, run_url="https://app.runtype.com/schedules/sch_123/runs/run_001")
    with pytest.raises(RuntypeRunError) as caught:
        conclude_run(state, run, FailedRecordsPolicy.parse(1), logging.getLogger("t"))
    message = str(caught.value)
    assert message.startswith("Runtype run run_001 of schedule sch_123 ")
    assert fragment in message
    assert message.endswith("See https://app.runtype.com/schedules/sch_123/runs/run_001")
    assert caught.value.run["status"] == state.status


def test_conclude_run_warns_about_tolerated_failed_records(caplog: Any):
    with caplog.at_level(logging.INFO, logger="conclude"):
        conclude_run(
            progress("completed", failed=2),
            RunReference(**REFERENCE),
            FailedRecordsPolicy(),
            logging.getLogger("conclude"),
        )
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "Runtype run run_001 completed with 2 of 10 records failed")
    ]
