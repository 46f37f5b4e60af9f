"""runtype_provider.testing.fake.batches: checking a submitted batch, its records and failures, and the cost, steps
and summary answers of any batch execution, in process (the HTTP side: test_handlers.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtype_provider.api.spec import MAX_BATCH_RECORDS
from runtype_provider.testing.fake.batches import (
    batch_failures,
    batch_records,
    checked_batch,
    cost_body,
    daily_limit_error,
    payment_required_error,
    record_cost_body,
    record_index,
    steps_body,
    summary_item,
)
from runtype_provider.testing.fake.simulation import Record
from runtype_provider.testing.fake.wire import ApiError

INLINE = {"name": "Acme", "type": "company", "metadata": {}}


def submit(state, body):
    return state.submit_batch(body)["batchExecutionId"]


def test_a_checked_batch_keeps_its_target_and_records():
    request = checked_batch(
        {"flowDefinition": {"name": "Inline", "steps": []}, "recordIds": ["r1"], "records": [INLINE]}
    )
    assert (request.count, request.flow_name(), request.record_ids) == (2, "Inline", ("r1",))
    assert checked_batch({"agentId": "a", "recordIds": ["r"]}).flow_name() == "Agent a"
    assert checked_batch({"flowId": "f", "recordIds": ["r"]}).flow_name() == "Flow f"


def test_a_bad_body_lists_every_problem_and_at_most_twenty_record_problems():
    with pytest.raises(ApiError) as caught:
        checked_batch({"flowId": 5, "recordIds": [""] * 100, "inputs": 3})
    codes = [(d["path"], d["code"]) for d in caught.value.details]
    assert codes[0] == ("flowId", "INVALID_TYPE") and codes[-1] == ("inputs", "INVALID_TYPE")
    assert len([c for c in codes if c[0].startswith("recordIds[")]) == 20
    assert caught.value.status == 400


def test_the_record_cap_is_counted_over_ids_and_inline_records():
    body = {"flowId": "f", "recordIds": ["r"] * (MAX_BATCH_RECORDS - 1), "records": [INLINE]}
    assert checked_batch(body).count == MAX_BATCH_RECORDS
    with pytest.raises(ApiError, match="400"):
        checked_batch({**body, "records": [INLINE, INLINE]})


def test_inline_records_get_synthetic_ids_for_the_batch_and_fail_by_name_or_share():
    request = checked_batch({"flowId": "f", "recordIds": ["r1"], "records": [INLINE, {**INLINE, "name": "Beta"}]})
    records = batch_records(request, "batch_abc")
    assert records == (
        Record("r1", "Record r1", "record"),
        Record("inline_abc_1", "Acme", "company"),
        Record("inline_abc_2", "Beta", "company"),
    )
    assert batch_failures(records, ["Beta"], 0.0) == (False, False, True)
    assert batch_failures(records, ["r1"], 0.0) == (True, False, False)
    assert batch_failures(records, (), 1.0) == (True, True, True)


@settings(max_examples=100, deadline=None, database=None)
@given(n=st.integers(0, 200), share=st.floats(0, 1), failing=st.sets(st.integers(0, 200).map(lambda i: f"r{i}")))
def test_failures_are_deterministic_and_include_every_named_record(n, share, failing):
    records = tuple(Record(f"r{i}", f"n{i}", "t") for i in range(n))
    mask = batch_failures(records, failing, share)
    assert mask == batch_failures(records, failing, share)
    assert all(mask[i] for i, r in enumerate(records) if r.id in failing)


def test_cost_steps_and_summary_follow_the_processed_records(state, clock):
    state.configure(cost_per_record_usd=0.1, billed_cost_share=0.25, failing_record_ids=["b"])
    batch_id = submit(state, {"flowId": "f", "recordIds": ["a", "b", "c", "d"]})
    run = state._batches[batch_id]
    queued = run.view(clock())
    assert cost_body(run, queued)["totalCostUsd"] == 0.0
    assert summary_item(run, queued)["status"] == "queued"
    clock.advance(1 + 5)  # queued 1 s, then half of the 10 s running time: 2 of 4 records processed
    view = run.view(clock())
    assert cost_body(run, view) == {
        "batchExecutionId": batch_id, "billedCostThousandthsCent": 5000, "billedCostUsd": 0.05,
        "selfReportedCostUsd": 0.0, "totalCostUsd": 0.2, "unpricedExecutions": 0,
    }  # fmt: skip
    assert record_index(run, "c") == 2 and record_index(run, "zz") is None
    assert record_cost_body(run, view, 1)["totalCostUsd"] == 0.1
    assert record_cost_body(run, view, 2)["totalCostUsd"] == 0.0
    failed_steps = steps_body(run, view, 1, "user_x")["data"]
    assert [(s["stepName"], s["status"], s["errorMessage"]) for s in failed_steps][-1] == (
        "Save", "failed", "Simulated record failure",
    )  # fmt: skip
    assert {s["userId"] for s in failed_steps} == {"user_x"}
    assert steps_body(run, view, 2, "user_x") == {"data": []}
    assert summary_item(run, view) | {"startedAt": None} == {
        "failedRecords": 1, "flowName": "Flow f", "id": batch_id, "processedRecords": 2, "progress": 50,
        "startedAt": None, "status": "running", "totalRecords": 4,
    }  # fmt: skip


def test_a_schedule_runs_batch_has_a_cost_too(state, clock):
    schedule = state.seed_schedule(record_ids=["a", "b"])
    batch_id = state.run_schedule_now(schedule["id"])["batchExecutionId"]
    clock.advance(60)
    assert state.get_batch_cost(batch_id)["totalCostUsd"] == pytest.approx(2 * state.settings.cost_per_record_usd)


def test_the_daily_limit_counts_only_submitted_records_and_resets_with_state(state, clock):
    state.configure(daily_record_limit=2)
    submit(state, {"flowId": "f", "recordIds": ["a", "b"]})
    with pytest.raises(ApiError) as caught:
        submit(state, {"flowId": "f", "records": [INLINE]})
    assert (caught.value.status, caught.value.extra["code"]) == (429, "DAILY_LIMIT_EXCEEDED")
    state.run_schedule_now(state.seed_schedule()["id"])  # schedule runs neither count nor are refused
    state.reset()
    state.configure(daily_record_limit=2)
    submit(state, {"flowId": "f", "recordIds": ["a", "b"]})


def test_the_limit_answers_carry_what_a_client_needs():
    daily = daily_limit_error(10, 10, 3600)
    assert (daily.status, daily.headers) == (429, {"Retry-After": "3600", "X-Quota-Remaining": "0"})
    assert "10 of 10 records used today" in daily.details[0]["message"]
    assert daily_limit_error(None, None, 5).body()["code"] == "DAILY_LIMIT_EXCEEDED"
    payment = payment_required_error()
    assert (payment.status, payment.body()["code"], payment.body()["upgradeUrl"]) == (
        402, "QUOTA_EXCEEDED", "/settings/billing",
    )  # fmt: skip
