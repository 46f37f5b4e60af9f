"""Contract test: the official ``runtype-sdk`` 5.5.0 parses every local Runtype response with its own models.

The SDK (Fern-generated from Runtype's API definition) is pointed at the local Runtype through
``RuntypeClient(api_key=..., base_url=server.url).api``; a response the SDK cannot parse raises
``ParsingError``, so each call below proves paths, field names, required fields and types match.

SDK calls made (all 14 global, all 8 surface, and the 7 batch endpoints but the WebSocket):

* ``api.schedules``: ``create_a_schedule``, ``get_a_schedule``, ``list_schedules`` (``limit``,
  ``cursor``, ``search``, ``status``, ``view``), ``update_a_schedule``, ``pause_a_schedule``,
  ``resume_a_schedule``, ``run_a_schedule_immediately``, ``list_runs_for_a_schedule``,
  ``list_all_schedule_runs`` (``limit``, ``cursor``, ``direction``), ``get_results_for_a_scheduled_run``,
  ``get_results_for_a_batch_execution`` (``limit``, ``offset``, ``status``), ``get_schedule_sparklines``
  (``ids``), ``get_schedule_statistics``, ``delete_a_schedule``;
* ``api.products``: ``create_schedule_for_surface``, ``list_schedules_for_surface``,
  ``get_schedule_details``, ``update_schedule``, ``pause_schedule``, ``resume_schedule``,
  ``run_schedule_immediately``, ``delete_schedule``;
* ``api.batch``: ``get_batch_execution_status``, ``cancel_a_batch_execution``, ``submit_a_batch_flow_execution``,
  ``get_batch_summary``, ``get_batch_execution_total_cost``, ``get_per_record_cost_for_a_batch``,
  ``get_step_results_for_a_batch_record``;
* error mapping: 404 -> ``NotFoundError``, 402 -> ``PaymentRequiredError`` (body parsed as the
  SDK's ``ScheduleEntitlementError`` type), 400 -> ``BadRequestError``; the daily record limit -> 429
  ``TooManyRequestsError``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from runtype import RuntypeClient
from runtype._generated.errors.bad_request_error import BadRequestError
from runtype._generated.errors.not_found_error import NotFoundError
from runtype._generated.errors.payment_required_error import PaymentRequiredError
from runtype._generated.errors.too_many_requests_error import TooManyRequestsError
from runtype._generated.types.schedule_entitlement_error import ScheduleEntitlementError

pytestmark = pytest.mark.runtype(queued_seconds=0, running_seconds=0)


@pytest.fixture
def sdk(runtype_server) -> Iterator[Any]:
    with RuntypeClient(api_key=runtype_server.api_key, base_url=runtype_server.url) as client:
        yield client.api


def test_global_schedule_endpoints(sdk, runtype_server):
    body = {
        "target": {"flowId": "flow_sdk", "recordIds": ["r1", "r2", "r3"]},
        "trigger": {"type": "recurring", "cron": "0 8 * * *", "timezone": "UTC"},
        "name": "SDK contract",
        "executionOptions": {"recordConcurrency": 2},
    }
    created = sdk.schedules.create_a_schedule(request=body)
    assert created.status == "created"
    schedule_id = created.id
    runtype_server.configure_schedule(schedule_id, failing_record_ids=["r2"])

    schedule = sdk.schedules.get_a_schedule(schedule_id)
    assert (schedule.id, schedule.flow_id, schedule.record_ids, schedule.enabled) == (
        schedule_id,
        "flow_sdk",
        ["r1", "r2", "r3"],
        True,
    )
    assert (schedule.trigger_type, schedule.cron, schedule.execution_options) == (
        "recurring",
        "0 8 * * *",
        {"recordConcurrency": 2},
    )

    other_id = runtype_server.seed_schedule(name="Other")["id"]
    page = sdk.schedules.list_schedules(limit="1", search="contract", status="active", view="compact")
    assert [item.id for item in page.data] == [schedule_id]
    assert (page.pagination.has_more, page.pagination.total_count) == (False, 1)
    first = sdk.schedules.list_schedules(limit="1")
    second = sdk.schedules.list_schedules(limit="1", cursor=first.pagination.next_cursor)
    assert first.pagination.has_more and second.pagination.has_prev
    assert [first.data[0].id, second.data[0].id] == [other_id, schedule_id]  # newest first

    updated = sdk.schedules.update_a_schedule(schedule_id, request={"name": "SDK contract v2"})
    assert (updated.id, updated.status) == (schedule_id, "updated")
    assert sdk.schedules.get_a_schedule(schedule_id).name == "SDK contract v2"

    assert sdk.schedules.pause_a_schedule(schedule_id).status == "paused"
    assert sdk.schedules.get_a_schedule(schedule_id).enabled is False
    assert sdk.schedules.resume_a_schedule(schedule_id).status == "resumed"

    started = sdk.schedules.run_a_schedule_immediately(schedule_id)
    assert started.status == "queued" and started.error is None
    run_id, batch_id = started.run_id, started.batch_execution_id

    runs = sdk.schedules.list_runs_for_a_schedule(schedule_id)
    assert [(run.id, run.batch_execution_id, run.status) for run in runs.data] == [(run_id, batch_id, "completed")]
    assert (runs.data[0].total_records, runs.data[0].failed_records) == (3, 1)

    all_runs = sdk.schedules.list_all_schedule_runs(limit="10", direction="next")
    assert run_id in [run.id for run in all_runs.data]
    assert all_runs.pagination.limit == 10

    run_results = sdk.schedules.get_results_for_a_scheduled_run(run_id)
    assert [(row.record_id, row.status) for row in run_results.data] == [
        ("r1", "success"),
        ("r2", "failed"),
        ("r3", "success"),
    ]
    assert run_results.data[0].record.id == "r1" and run_results.data[0].execution_engine == "runtime"
    assert run_results.summary.records_with_failed_steps == 1

    batch_results = sdk.schedules.get_results_for_a_batch_execution(batch_id, limit="1", offset="0", status="failed")
    assert [row.record_id for row in batch_results.data] == ["r2"]
    assert (batch_results.pagination.total, batch_results.pagination.has_more) == (1, False)

    sparklines = sdk.schedules.get_schedule_sparklines(ids=schedule_id)
    assert [item.schedule_id for item in sparklines.data] == [schedule_id]
    assert sum(day.runs for day in sparklines.data[0].last7days) == 1

    stats = sdk.schedules.get_schedule_statistics(schedule_id)
    assert (stats.total, stats.completed, stats.failed, stats.success_rate) == (1, 1, 0, 1.0)
    assert len(stats.last7days) == 7

    assert sdk.schedules.delete_a_schedule(schedule_id).success is True
    with pytest.raises(NotFoundError):
        sdk.schedules.get_a_schedule(schedule_id)


def test_surface_schedule_endpoints(sdk, runtype_server):
    runtype_server.add_surface("prod_sdk", "surf_sdk")
    created = sdk.products.create_schedule_for_surface(
        "prod_sdk",
        "surf_sdk",
        flow_id="flow_sdk",
        trigger_type="one_time",
        run_at=dt.datetime(2031, 2, 1, 9, 0, tzinfo=dt.timezone.utc),
        record_type="company",
        execution_options={"recordConcurrency": 10, "loggingPolicy": "off"},
        record_filter={"type": "company", "where": {"field": "tier", "op": "eq", "value": "gold"}},
    )
    schedule_id = created.id
    assert (created.product_surface_id, created.trigger_type, created.run_at) == (
        "surf_sdk",
        "one_time",
        "2031-02-01T09:00:00.000Z",
    )
    assert created.record_filter == {"type": "company", "where": {"field": "tier", "op": "eq", "value": "gold"}}

    listed = sdk.products.list_schedules_for_surface("prod_sdk", "surf_sdk")
    assert [(item.id, item.flow_name) for item in listed.data] == [(schedule_id, "Flow flow_sdk")]

    updated = sdk.products.update_schedule(
        "prod_sdk", "surf_sdk", schedule_id, trigger_type="recurring", cron="0 9 * * 1", timezone="UTC"
    )
    assert (updated.trigger_type, updated.cron, updated.run_at) == ("recurring", "0 9 * * 1", None)

    assert sdk.products.pause_schedule("prod_sdk", "surf_sdk", schedule_id).status == "paused"
    assert sdk.products.resume_schedule("prod_sdk", "surf_sdk", schedule_id).status == "resumed"

    started = sdk.products.run_schedule_immediately("prod_sdk", "surf_sdk", schedule_id)
    assert (started.record_count, started.status) == (10, "queued")

    details = sdk.products.get_schedule_details("prod_sdk", "surf_sdk", schedule_id)
    assert [(run.batch_execution_id, run.status) for run in details.recent_runs] == [
        (started.batch_execution_id, "completed")
    ]
    assert details.flow_name == "Flow flow_sdk" and details.enabled is True

    status = sdk.batch.get_batch_execution_status(started.batch_execution_id)
    assert (status.status, status.processed_records, status.total_records, status.progress) == (
        "completed",
        10,
        10,
        100,
    )
    assert status.flow_id == "flow_sdk" and status.execution_engine_summary == "runtime"

    assert sdk.products.delete_schedule("prod_sdk", "surf_sdk", schedule_id).success is True
    with pytest.raises(NotFoundError):
        sdk.products.get_schedule_details("prod_sdk", "surf_sdk", schedule_id)


def test_batch_cancel(sdk, runtype_server):
    schedule_id = runtype_server.seed_schedule(record_type="company", record_count=5, running_seconds=30)["id"]
    started = sdk.schedules.run_a_schedule_immediately(schedule_id)
    cancelled = sdk.batch.cancel_a_batch_execution(started.batch_execution_id)
    assert (cancelled.success, cancelled.message) == (True, "Batch execution cancelled")
    assert sdk.batch.get_batch_execution_status(started.batch_execution_id).status == "cancelled"
    assert sdk.batch.cancel_a_batch_execution(started.batch_execution_id).success is False
    runs = sdk.schedules.list_runs_for_a_schedule(schedule_id)
    assert [(run.id, run.status) for run in runs.data] == [(started.run_id, "cancelled")]


@pytest.mark.runtype(queued_seconds=0, running_seconds=0, max_active_schedules=0)
def test_error_bodies_map_to_sdk_errors(sdk):
    with pytest.raises(PaymentRequiredError) as payment:
        sdk.schedules.create_a_schedule(
            request={"target": {"flowId": "f"}, "trigger": {"type": "recurring", "cron": "0 8 * * *"}}
        )
    entitlement = ScheduleEntitlementError.model_validate(payment.value.body)
    assert (entitlement.code, entitlement.upgrade_url) == ("ACTIVE_SCHEDULE_LIMIT", "/settings/billing")
    with pytest.raises(BadRequestError) as bad:
        sdk.schedules.create_a_schedule(request={"target": {"flowId": "f"}})
    assert bad.value.body["details"][0]["code"] == "MISSING_REQUIRED_FIELD"
    with pytest.raises(NotFoundError):
        sdk.batch.get_batch_execution_status("batch_missing")


@pytest.mark.runtype(queued_seconds=0, running_seconds=0, cost_per_record_usd=0.25, billed_cost_share=0.5)
def test_batch_submission_cost_and_steps(sdk, runtype_server):
    runtype_server.configure(failing_record_ids=["r2"])
    submitted = sdk.batch.submit_a_batch_flow_execution(
        flow_definition={"name": "Inline flow", "steps": [{"type": "prompt"}]},
        record_ids=["r1", "r2"],
        records=[{"name": "Acme", "type": "company", "metadata": {"tier": "gold"}}],
        options={"recordConcurrency": 2},
    )
    batch_id = submitted.batch_execution_id
    assert submitted.status == "queued"
    status = sdk.batch.get_batch_execution_status(batch_id)
    assert (status.status, status.total_records, status.failed_records) == ("completed", 3, 1)
    results = sdk.schedules.get_results_for_a_batch_execution(batch_id)
    assert [(row.record_id, row.record.name, row.status) for row in results.data][:2] == [
        ("r1", "Record r1", "completed"),
        ("r2", "Record r2", "failed"),
    ]
    inline_id = results.data[2].record_id
    assert (results.data[2].record.name, results.data[2].record.type) == ("Acme", "company")

    cost = sdk.batch.get_batch_execution_total_cost(batch_id)
    assert (cost.total_cost_usd, cost.billed_cost_usd, cost.billed_cost_thousandths_cent) == (0.75, 0.375, 37500)
    assert (cost.self_reported_cost_usd, cost.unpriced_executions) == (0, 0)
    record = sdk.batch.get_per_record_cost_for_a_batch(batch_id, inline_id)
    assert (record.record_id, record.total_cost_usd) == (inline_id, 0.25)
    steps = sdk.batch.get_step_results_for_a_batch_record(batch_id, "r2")
    assert [(step.order, step.status) for step in steps.data] == [(0, "completed"), (1, "completed"), (2, "failed")]
    assert steps.data[2].error_message == "Simulated record failure"

    summary = sdk.batch.get_batch_summary()
    assert (summary.active_batches, summary.batches) == (0, [])
    assert [(item.id, item.flow_name, item.progress) for item in summary.recent] == [(batch_id, "Inline flow", 100)]


@pytest.mark.runtype(queued_seconds=0, running_seconds=0, daily_record_limit=2)
def test_the_daily_record_limit_is_a_429_the_sdk_reads(sdk):
    sdk.batch.submit_a_batch_flow_execution(flow_id="f", record_ids=["a", "b"])
    with pytest.raises(TooManyRequestsError) as limited:  # no SDK retries: they would sleep 2 x 60 s on its hint
        sdk.batch.submit_a_batch_flow_execution(flow_id="f", record_ids=["c"], request_options={"max_retries": 0})
    assert limited.value.body["code"] == "DAILY_LIMIT_EXCEEDED"
    assert limited.value.headers["x-quota-remaining"] == "0"
    with pytest.raises(BadRequestError) as bad:
        sdk.batch.submit_a_batch_flow_execution(flow_id="f", agent_id="a", record_ids=["x"])
    assert bad.value.body["details"][0]["code"] == "CONFLICTING_FIELDS"
