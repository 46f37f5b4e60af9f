"""runtype_provider.operators.batches: submit a batch (POST /v1/batch/flow), wait like the run operator, at most one
batch per task instance on Airflow 3.3+ (task state store), cost in the result and a cost budget."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeNotFoundError, RuntypeRunError
from runtype_provider.operators.batches import RuntypeRunBatchOperator
from runtype_provider.runs.reference import RunReference
from runtype_provider.tasks.submission import SPENT_KEY, SUBMISSION_KEY
from runtype_provider.version_compat import AirflowSkipException

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef,attr-defined,unused-ignore]

pytestmark = pytest.mark.usefixtures("runtype_conn", "clock")

BASE = "https://api.runtype.com"
SUBMIT = f"{BASE}/v1/batch/flow"
STATUS = f"{BASE}/v1/batch/status/b-1"
CANCEL = f"{BASE}/v1/batch/cancel/b-1"
COST = f"{BASE}/v1/batch/b-1/cost"
SUMMARY = f"{BASE}/v1/batch/summary"
URL = "https://app.runtype.com/batches/b-1"
REFERENCE = {"schedule_id": None, "run_id": None, "batch_execution_id": "b-1", "product_id": None,
             "surface_id": None, "run_url": URL}  # fmt: skip
IDS = ["r-1", "r-2", "r-3"]
TRIGGER_PATH = "runtype_provider.triggers.runtype.RuntypeScheduleRunTrigger"


@pytest.fixture(autouse=True)
def batch_clock(clock, monkeypatch):
    """The operator's own waits (budget slices and pauses) on the fake clock too."""
    monkeypatch.setattr("runtype_provider.operators.batches.time", clock)
    return clock


class FakeStateStore(dict):
    """Airflow 3.3's ``task_state_store``: get/set/delete by key, kept across tries of one task."""

    def set(self, key: str, value: Any, **_: Any) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


def make_op(**kwargs: Any) -> RuntypeRunBatchOperator:
    kwargs = {"flow_id": "flow-1", "record_ids": IDS, "poll_interval": 5, "deferrable": False, **kwargs}
    return RuntypeRunBatchOperator(task_id="batch", **kwargs)


def status(kind: str, *, total: int = 3, failed: int = 0, flow: str = "flow-1", batch: str = "b-1") -> dict:
    return {"batchExecutionId": batch, "status": kind, "flowId": flow, "totalRecords": total,
            "processedRecords": total, "failedRecords": failed, "startedAt": "2026-01-01T00:00:00Z"}  # fmt: skip


def cost(total: float, billed: float | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"batchExecutionId": "b-1", "totalCostUsd": total}
    if billed is not None:
        answer["billedCostUsd"] = billed
    return answer


def result(kind: str, outcome: str, *, failed: int = 0, **costs: Any) -> dict[str, Any]:
    return {**REFERENCE, "status": kind, "outcome": outcome, "total_records": 3, "processed_records": 3,
            "failed_records": failed, "total_cost_usd": None, **costs}  # fmt: skip


@pytest.fixture
def submit(requests_mock):
    return requests_mock.post(SUBMIT, json={"batchExecutionId": "b-1", "status": "queued"})


@pytest.fixture
def cost_route(requests_mock):
    return requests_mock.get(COST, json=cost(0.25, billed=0.2))


def pushed(context) -> list[tuple[str, Any]]:
    return [(c.kwargs["key"], c.kwargs["value"]) for c in context["ti"].xcom_push.call_args_list]


# --------------------------------------------------------------------------------------------------
# Submitting, the reference, the result


def test_submits_pushes_the_reference_before_polling_and_returns_the_run_shape_with_the_cost(
    requests_mock, submit, cost_route, context
):
    order: list[str] = []
    context["ti"].xcom_push.side_effect = lambda key, value: order.append(f"push:{key}")
    requests_mock.get(STATUS, json=lambda request, ctx: order.append("poll") or status("completed"))
    op = make_op(
        records=[{"name": "n", "type": "t", "metadata": {}}], inputs={"lang": "en"}, options={"recordConcurrency": 2}
    )

    out = op.execute(context)

    assert out == result("completed", "success", total_cost_usd=0.25, billed_cost_usd=0.2)
    assert order == ["push:run_reference", "push:run_url", "poll"]
    assert pushed(context) == [("run_reference", REFERENCE), ("run_url", URL)]
    record = {"name": "n", "type": "t", "metadata": {}}
    assert submit.last_request.json() == {"flowId": "flow-1", "recordIds": IDS, "records": [record],
                                          "inputs": {"lang": "en"}, "options": {"recordConcurrency": 2}}  # fmt: skip
    assert RunReference.coerce(out) == RunReference(**REFERENCE)  # run= of the results operator and the sensor


def test_an_agent_batch_sends_the_agent_id(requests_mock, submit, cost_route, context):
    requests_mock.get(STATUS, json=status("completed"))

    make_op(flow_id=None, agent_id="agent-1").execute(context)

    assert submit.last_request.json() == {"agentId": "agent-1", "recordIds": IDS}


def test_an_unreadable_cost_leaves_total_cost_none_and_warns(requests_mock, submit, context, logs):
    requests_mock.get(STATUS, json=status("completed"))
    requests_mock.get(COST, status_code=404, json={"error": "no cost yet"})

    assert make_op().execute(context) == result("completed", "success")
    assert any("Could not read the cost of Runtype batch b-1" in m for m in logs.messages("warning"))


def test_a_refused_submission_fails_after_pushing_the_reference(requests_mock, context):
    requests_mock.post(SUBMIT, json={"batchExecutionId": "b-1", "status": "failed"})
    context["task_state_store"] = store = FakeStateStore()

    with pytest.raises(RuntypeRunError, match="Runtype refused batch b-1: status 'failed'"):
        make_op().execute(context)

    assert pushed(context)[0] == ("run_reference", REFERENCE)
    assert store == {}


@pytest.mark.parametrize(("kind", "allowed", "match"), [
    ("failed", None, r"Runtype run b-1 failed \(status 'failed'\)"),
    ("completed", 0, "allowed: no failed records"),
])  # fmt: skip
def test_the_run_operators_verdicts_apply(requests_mock, submit, cost_route, context, kind, allowed, match):
    requests_mock.get(STATUS, json=status(kind, failed=1))

    with pytest.raises(RuntypeRunError, match=match):
        make_op(allowed_failed_records=allowed).execute(context)


def test_a_poll_error_the_api_answered_raises_its_typed_error(requests_mock, submit, context):
    requests_mock.get(STATUS, status_code=404, json={"error": "Batch not found"})

    with pytest.raises(RuntypeNotFoundError):
        make_op().execute(context)


def test_timeout_cancels_the_batch_and_says_so(requests_mock, submit, context):
    requests_mock.get(STATUS, json=status("running"))
    cancel = requests_mock.post(CANCEL, json={"success": True, "message": "ok"})

    with pytest.raises(RuntypeRunError, match=r"b-1 did not finish within 10 s .*the run was cancelled"):
        make_op(timeout=10, poll_interval=3).execute(context)

    assert cancel.call_count == 1


# --------------------------------------------------------------------------------------------------
# Input: checked at parse when literal, after rendering when templated; empty skips


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"agent_id": "a"}, "give one of 'flow_id', 'agent_id' or 'flow_definition'"),
    ({"flow_id": None}, "'flow_id', 'agent_id' or 'flow_definition' is required"),
    ({"record_ids": None}, "'record_ids' or 'records' is required"),
    ({"record_ids": ["ok", 7]}, r"'record_ids' item 1 must be a non-empty record id string, got 7"),
    ({"record_ids": [{"id": "x"}]}, "'record_ids' item 0 is a dict: inline records go in 'records'"),
    ({"record_ids": None, "records": ["r-1"]}, r"'records' item 0 must be a dict .*record ids go in 'record_ids'"),
    ({"record_ids": ["r"] * 7, "records_per_batch": 3, "max_batches": 2},
     r"7 records .* more than max_batches=2 batches of records_per_batch=3 take \(6\)"),
    ({"record_ids": ["r"] * 1_000_001}, "more than max_batches=20 batches of records_per_batch=50000"),
    ({"records_per_batch": 50_001}, "'records_per_batch' must be a whole number from 1 to 50000, got 50001"),
    ({"records_per_batch": 0}, "'records_per_batch' must be a whole number from 1 to 50000, got 0"),
    ({"max_batches": 101}, "'max_batches' must be a whole number from 1 to 100, got 101"),
    ({"max_batches": True}, "'max_batches' must be a whole number from 1 to 100, got True"),
    ({"on_unknown_submission": "retry"}, "'on_unknown_submission' must be one of 'fail', 'resubmit'"),
    ({"max_cost_usd": 0}, "'max_cost_usd' must be a positive number of dollars"),
    ({"cost_check_interval": -1}, "'cost_check_interval' must be a positive number"),
])  # fmt: skip
def test_constructor_errors_name_the_argument(requests_mock, kwargs, match):
    with pytest.raises(RuntypeConfigurationError, match=match):
        make_op(**kwargs)
    assert requests_mock.call_count == 0


def test_templated_input_is_checked_once_rendered_saying_what_to_write(requests_mock, context):
    op = make_op(record_ids="{{ ti.xcom_pull('ids') }}")
    op.record_ids = "['r-1', 'r-2']"  # a Python repr, as a string template renders a list

    with pytest.raises(RuntypeConfigurationError, match=r"upstream.output.*render_template_as_native_obj"):
        op.execute(context)
    assert requests_mock.call_count == 0


def test_a_rendered_json_array_is_accepted(requests_mock, submit, cost_route, context):
    requests_mock.get(STATUS, json=status("completed"))
    op = make_op(record_ids="{{ ti.xcom_pull('ids') }}")
    op.record_ids = json.dumps(IDS)

    op.execute(context)

    assert submit.last_request.json()["recordIds"] == IDS


@pytest.mark.parametrize("rendered", [{"record_ids": []}, {"record_ids": [], "records": []}])
def test_empty_input_once_rendered_skips_without_any_request(requests_mock, context, rendered):
    op = make_op(record_ids="{{ x }}", records=None)
    for name, value in rendered.items():
        setattr(op, name, value)

    with pytest.raises(AirflowSkipException, match="Nothing to submit"):
        op.execute(context)
    assert requests_mock.call_count == 0


def test_input_fields_are_templated():
    assert set(RuntypeRunBatchOperator.template_fields) == {
        "flow_id", "agent_id", "flow_definition", "record_ids", "records", "inputs", "options"
    }  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Exactly once (Airflow 3.3 task state store)


def test_the_intent_is_kept_before_the_post_and_the_batch_id_right_after_then_dropped_at_the_end(
    requests_mock, cost_route, context
):
    context["task_state_store"] = store = FakeStateStore()
    seen: list[dict[str, Any]] = []
    requests_mock.post(
        SUBMIT, json=lambda r, c: seen.append(dict(store[SUBMISSION_KEY])) or {"batchExecutionId": "b-1"}
    )
    requests_mock.get(STATUS, json=lambda r, c: seen.append(dict(store[SUBMISSION_KEY])) or status("completed"))

    make_op().execute(context)

    assert seen[0]["batches"] == [{"intent_at": pytest.approx(seen[0]["batches"][0]["intent_at"]),
                                   "batch_execution_id": None}] and seen[0]["target"] == "flow:flow-1"  # fmt: skip
    assert seen[0]["batch_sizes"] == [3] and len(seen[0]["fingerprint"]) == 64
    assert seen[1]["batches"][0]["batch_execution_id"] == "b-1"
    assert store == {}  # the try saw its batch end: a clear after success submits again


def earlier_try(requests_mock, context, **kwargs: Any) -> FakeStateStore:
    """Run a try that dies while waiting (its state kept), and return the store a retry sees."""
    context["task_state_store"] = store = FakeStateStore()
    requests_mock.get(STATUS, exc=KeyboardInterrupt)  # the worker dies during the first poll
    with pytest.raises(KeyboardInterrupt):
        make_op(**kwargs).execute(context)
    return store


@pytest.mark.parametrize(("kind", "resubmits"), [("running", False), ("mystery", False), ("completed", False),
                                                 ("failed", True), ("cancelled", True)])  # fmt: skip
def test_a_retry_reattaches_to_its_earlier_tries_batch_unless_that_batch_failed(
    requests_mock, submit, cost_route, context, kind, resubmits
):
    store = earlier_try(requests_mock, context)
    requests_mock.get(STATUS, [{"json": status(kind)}, {"json": status("completed")}])

    out = make_op().execute(context)

    assert submit.call_count == (2 if resubmits else 1)
    assert out["outcome"] == "success" and store == {}


@pytest.mark.parametrize("change", [{"record_ids": ["r-1", "r-2"]}, {"flow_id": "flow-2"}, {"inputs": {"a": 1}},
                                    {"flow_id": None, "agent_id": "flow-1"}])  # fmt: skip
def test_a_retry_with_other_target_or_input_never_reattaches(requests_mock, submit, cost_route, context, change, logs):
    earlier_try(requests_mock, context)
    requests_mock.get(STATUS, json=status("completed"))

    make_op(**change).execute(context)

    assert submit.call_count == 2
    assert any("An earlier try submitted other work" in m for m in logs.messages("info"))


def interrupted_post(requests_mock, context) -> FakeStateStore:
    """A try whose worker died inside the POST: the intent is stored, no batch id."""
    context["task_state_store"] = store = FakeStateStore()
    requests_mock.post(SUBMIT, exc=KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        make_op().execute(context)
    assert store[SUBMISSION_KEY]["batches"][0]["batch_execution_id"] is None
    return store


def listed(batch: str, started: str, total: int = 3) -> dict[str, Any]:
    return {"id": batch, "flowName": "My flow", "status": "running", "totalRecords": total, "startedAt": started}


LATER = "2030-01-01T00:00:00Z"  # after the intent (the fake clock's wall time is in 2023)
EARLIER = "2020-01-01T00:00:00Z"


def test_an_interrupted_post_is_reconciled_with_the_one_matching_batch(requests_mock, context, cost_route):
    store = interrupted_post(requests_mock, context)
    submit = requests_mock.post(SUBMIT, json={"batchExecutionId": "b-new"})
    batches = [listed("b-1", LATER), listed("b-old", EARLIER), listed("b-4", LATER, 4)]
    requests_mock.get(SUMMARY, json={"batches": batches, "recent": [listed("b-1", LATER)]})
    requests_mock.get(STATUS, json=status("completed"))

    out = make_op().execute(context)

    assert submit.call_count == 0 and out["batch_execution_id"] == "b-1"
    assert store == {}


@pytest.mark.parametrize("summary", [
    {"batches": []},
    {"batches": [listed("b-1", LATER), listed("b-2", LATER)]},  # two look alike: ambiguous
    {"batches": [listed("b-9", LATER)]},  # of another flow (checked by its status)
])  # fmt: skip
def test_an_interrupted_post_without_one_matching_batch_fails_by_default_keeping_the_intent(
    requests_mock, context, summary
):
    store = interrupted_post(requests_mock, context)
    submit = requests_mock.post(SUBMIT, json={"batchExecutionId": "b-new"})
    requests_mock.get(SUMMARY, json=summary)
    requests_mock.get(STATUS, json=status("running"))
    requests_mock.get(f"{BASE}/v1/batch/status/b-2", json=status("running", batch="b-2"))
    requests_mock.get(f"{BASE}/v1/batch/status/b-9", json=status("running", flow="flow-other", batch="b-9"))

    with pytest.raises(RuntypeRunError, match=r"did not learn whether Runtype created it.*on_unknown_submission="):
        make_op().execute(context)

    assert submit.call_count == 0 and store[SUBMISSION_KEY]["batches"][0]["batch_execution_id"] is None


def test_an_interrupted_post_resubmits_when_asked(requests_mock, context, cost_route, logs):
    interrupted_post(requests_mock, context)
    submit = requests_mock.post(SUBMIT, json={"batchExecutionId": "b-1"})
    requests_mock.get(SUMMARY, status_code=500, json={"error": "down"})
    requests_mock.get(STATUS, json=status("completed"))

    make_op(on_unknown_submission="resubmit", hook_params={"retry_limit": 0}).execute(context)

    assert submit.call_count == 1
    assert any("Could not reconcile" in m for m in logs.messages("warning"))


def test_without_a_task_state_store_every_try_submits(requests_mock, submit, cost_route, context):
    """Airflow 3.1/3.2: nothing is kept, so a retry after a crash submits the records again (documented)."""
    requests_mock.get(STATUS, exc=KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        make_op().execute(context)
    requests_mock.get(STATUS, json=status("completed"))

    make_op().execute(context)

    assert submit.call_count == 2


# --------------------------------------------------------------------------------------------------
# Cost budget


def test_sync_wait_checks_the_cost_every_n_polls_and_cancels_over_budget(requests_mock, submit, context, clock):
    context["task_state_store"] = store = FakeStateStore()
    polls = requests_mock.get(STATUS, json=status("running"))
    costs = requests_mock.get(COST, [{"json": cost(0.5)}, {"json": cost(1.5, billed=1.2)}])
    cancel = requests_mock.post(CANCEL, json={"success": True})

    with pytest.raises(RuntypeRunError, match=r"cost \$1.5000 \(billed \$1.2000\), over the budget max_cost_usd=1; "
                                              r"the batch was cancelled") as exc:  # fmt: skip
        make_op(max_cost_usd=1, cost_check_interval=10, poll_interval=5).execute(context)

    assert (polls.call_count, costs.call_count, cancel.call_count) == (4, 2, 1)  # a cost check every 2 polls
    assert clock.sleeps == [5, 5, 5]
    assert exc.value.run["total_cost_usd"] == 1.5
    assert store == {SPENT_KEY: 1.5}  # the spend outlives the try; the batch does not


def test_the_budget_holds_across_tries(requests_mock, submit, context):
    context["task_state_store"] = FakeStateStore({SPENT_KEY: 0.75})
    requests_mock.get(STATUS, json=status("running"))
    requests_mock.get(COST, json=cost(0.3))
    requests_mock.post(CANCEL, json={"success": False, "message": "finishing"})

    with pytest.raises(RuntypeRunError, match=r"plus \$0.7500 of earlier tries.*the batch was NOT cancelled"):
        make_op(max_cost_usd=1, cost_check_interval=5).execute(context)


def test_a_spent_budget_submits_nothing(requests_mock, submit, context):
    context["task_state_store"] = FakeStateStore({SPENT_KEY: 2.0})

    with pytest.raises(RuntypeRunError, match=r"budget of \$1 already spent by earlier tries.*no batch was submitted"):
        make_op(max_cost_usd=1).execute(context)
    assert requests_mock.call_count == 0


def test_a_final_cost_over_budget_fails_and_a_success_within_it_clears_the_spend(requests_mock, submit, context):
    context["task_state_store"] = store = FakeStateStore()
    requests_mock.get(STATUS, json=status("completed"))
    requests_mock.get(COST, [{"json": cost(3.0)}, {"json": cost(0.5)}])

    with pytest.raises(RuntypeRunError, match="over the budget max_cost_usd=5; the batch ended completed"):
        make_op(max_cost_usd=5).execute(context | {"task_state_store": FakeStateStore({SPENT_KEY: 2.5})})
    assert make_op(max_cost_usd=5).execute(context)["total_cost_usd"] == 0.5
    assert store == {}


def test_deferred_wait_with_a_budget_defers_in_slices_and_checks_the_cost_between(
    requests_mock, submit, context, clock, wait_event
):
    requests_mock.get(STATUS, json=status("running"))
    costs = requests_mock.get(COST, json=cost(0.1))
    op = make_op(deferrable=True, max_cost_usd=1, cost_check_interval=60, timeout=1000)

    with pytest.raises(TaskDeferred) as first:
        op.execute(context)

    wait_end = clock.time() + 1000
    assert first.value.trigger.serialize()[1]["end_time"] == clock.time() + 60
    assert first.value.kwargs == {"wait_end": wait_end}
    assert first.value.timeout == timedelta(seconds=120)
    event = wait_event("timeout", "running", "running", run=REFERENCE)
    with pytest.raises(TaskDeferred) as again:
        op.execute_complete(context, event, **first.value.kwargs)
    assert costs.call_count == 2 and again.value.kwargs == {"wait_end": wait_end}
    clock.now += 2000  # past the whole wait's end: a timeout now ends the task
    cancel = requests_mock.post(CANCEL, json={"success": True})
    with pytest.raises(RuntypeRunError, match="did not finish within 1000 s"):
        op.execute_complete(context, event, wait_end=wait_end)
    assert cancel.call_count == 1


def test_deferred_wait_without_a_budget_hands_the_whole_wait_to_the_trigger(
    requests_mock, submit, cost_route, context, clock, wait_event
):
    requests_mock.get(STATUS, json=status("running"))

    with pytest.raises(TaskDeferred) as exc:
        make_op(deferrable=True, timeout=100).execute(context)

    assert exc.value.trigger.serialize() == (TRIGGER_PATH, {
        "run": REFERENCE, "runtype_conn_id": "runtype_default", "poll_interval": 5.0, "end_time": clock.time() + 100,
        "max_poll_errors": 5, "cancel_on_kill": True, "hook_params": {},
    })  # fmt: skip
    done = wait_event("finished", "completed", "success", run=REFERENCE, total_records=3, processed_records=3)
    assert make_op().execute_complete(context, done) == result(
        "completed", "success", total_cost_usd=0.25, billed_cost_usd=0.2
    )


def test_on_kill_cancels_the_submitted_batch(requests_mock, submit, context):
    requests_mock.get(STATUS, exc=KeyboardInterrupt)
    cancel = requests_mock.post(CANCEL, json={"success": True})
    op = make_op()
    with pytest.raises(KeyboardInterrupt):
        op.execute(context)

    op.on_kill()

    assert cancel.call_count == 1


# --------------------------------------------------------------------------------------------------
# End to end against the local Runtype


@pytest.mark.runtype(queued_seconds=0, running_seconds=0, cost_per_record_usd=0.5, failing_record_ids=("r-2",))
def test_end_to_end_a_batch_its_cost_its_results_and_one_batch_per_task_instance(runtype_server, context):
    from runtype_provider.operators.runtype import RuntypeScheduleRunResultsOperator
    from runtype_provider.sensors.runtype import RuntypeScheduleRunSensor

    context["task_state_store"] = store = FakeStateStore()
    out = make_op(poll_interval=1).execute(context)

    assert (out["status"], out["outcome"], out["total_records"], out["failed_records"]) == (
        "completed",
        "success",
        3,
        1,
    )
    assert out["total_cost_usd"] == pytest.approx(1.5) and store == {}
    rows = RuntypeScheduleRunResultsOperator(task_id="results", run=out, status_filter="failed").execute(context)
    assert [row["record_id"] for row in rows] == ["r-2"]
    assert RuntypeScheduleRunSensor(task_id="wait", run=out, poke_interval=1).poke(context) is not False
    # A retry that finds the batch id re-attaches: still one batch in Runtype (the state as kept before runs were
    # split, as a retry during an upgrade reads it).
    store[SUBMISSION_KEY] = _stored(out)
    again = make_op(poll_interval=1).execute(context)
    assert again["batch_execution_id"] == out["batch_execution_id"]
    submits = [e for e in runtype_server.requests if e["method"] == "POST" and e["path"] == "/v1/batch/flow"]
    assert len(submits) == 1


def _stored(out: dict[str, Any]) -> dict[str, Any]:
    """What a try that died while waiting left in the store for the batch ``out`` (before runs were split)."""
    from runtype_provider.tasks.batch_input import input_fingerprint

    fingerprint = input_fingerprint("flow:flow-1", flow_definition=None, record_ids=IDS, records=None, inputs=None,
                                    options=None)  # fmt: skip
    return {"target": "flow:flow-1", "fingerprint": fingerprint, "total_records": 3, "intent_at": 0.0,
            "batch_execution_id": out["batch_execution_id"]}  # fmt: skip


# --------------------------------------------------------------------------------------------------
# More records than one batch: split over several batches, one logical run (end to end, local Runtype)

SEVEN = [f"r-{n}" for n in range(1, 8)]  # at 3 per batch: 3 batches (3, 3, 1)


def split_op(**kwargs: Any) -> RuntypeRunBatchOperator:
    return make_op(record_ids=SEVEN, records_per_batch=3, poll_interval=1, **kwargs)


def posted(server: Any, operation: str) -> list[dict[str, Any]]:
    return [e for e in server.requests if e["operation"] == operation and e["status"] < 300]


@pytest.mark.runtype(queued_seconds=0, running_seconds=0, cost_per_record_usd=0.5, failing_record_ids=("r-2", "r-7"))
def test_end_to_end_seven_records_at_three_per_batch_are_one_run_of_three_batches(runtype_server, context, logs):
    from runtype_provider.operators.runtype import RuntypeScheduleRunResultsOperator
    from runtype_provider.sensors.runtype import RuntypeScheduleRunSensor

    context["task_state_store"] = store = FakeStateStore()
    out = split_op(allowed_failed_records=2).execute(context)

    submits = posted(runtype_server, "submit_batch")
    assert [e["body"]["recordIds"] for e in submits] == [SEVEN[:3], SEVEN[3:6], SEVEN[6:]]
    ids = out["batch_execution_ids"]
    assert len(ids) == 3 and out["batch_execution_id"] == ids[0] and len(set(ids)) == 3
    assert pushed(context)[0] == ("run_reference", {k: out[k] for k in (*REFERENCE, "batch_execution_ids")})
    assert (out["status"], out["outcome"], out["total_records"], out["processed_records"], out["failed_records"]) == (
        "completed", "success", 7, 7, 2
    )  # fmt: skip
    assert out["total_cost_usd"] == pytest.approx(3.5) and store == {}  # 7 records at $0.5, over all batches
    assert any(f"Runtype batch {ids[0]}..{ids[2]} (3 batches) of flow:flow-1: 7 records in 3 batches of at most 3"
               in m for m in logs.messages("info"))  # fmt: skip

    rows = RuntypeScheduleRunResultsOperator(task_id="results", run=out).execute(context)
    assert [row["record_id"] for row in rows] == SEVEN  # every batch's rows, in order, each once
    failed = RuntypeScheduleRunResultsOperator(task_id="failed", run=out, status_filter="failed").execute(context)
    assert [row["record_id"] for row in failed] == ["r-2", "r-7"]
    assert RuntypeScheduleRunSensor(task_id="wait", run=out, poke_interval=1).poke(context) is not False

    with pytest.raises(RuntypeRunError, match=r"Runtype run .*\(3 batches\) completed with 2 of 7 records failed; "
                                              r"allowed: at most 1 failed records"):  # fmt: skip
        split_op(allowed_failed_records=1).execute(context)  # one verdict over the summed counts


@pytest.mark.runtype(queued_seconds=0, running_seconds=0)
@pytest.mark.parametrize("created", [False, True])
def test_end_to_end_a_retry_reattaches_to_the_submitted_batches_and_completes_the_run(runtype_server, context, created):
    """The third POST answers 503 (``created``: after Runtype created the batch). The retry re-attaches to the two
    batches submitted, and submits the third (``on_unknown_submission='resubmit'``) or adopts the one created (found
    in the batch summary)."""
    context["task_state_store"] = store = FakeStateStore()
    op = split_op(hook_params={"retry_limit": 0})
    submit = op.hook.submit_batch

    def third_fails(**body: Any) -> Any:
        if body["record_ids"] == SEVEN[6:]:
            runtype_server.inject_fault("submit_batch", "server_error", times=1, after_effect=created)
        return submit(**body)

    op.hook.submit_batch = third_fails  # type: ignore[method-assign]
    with pytest.raises(Exception, match="503"):
        op.execute(context)
    kept = [b["batch_execution_id"] for b in store[SUBMISSION_KEY]["batches"]]
    assert len(kept) == 3 and kept[2] is None and all(kept[:2])

    out = split_op(on_unknown_submission="fail" if created else "resubmit").execute(context)

    assert out["batch_execution_ids"][:2] == kept[:2] and out["outcome"] == "success" and store == {}
    batches = {e["path"].rsplit("/", 1)[1] for e in runtype_server.requests if e["operation"] == "get_batch_status"}
    assert set(out["batch_execution_ids"]) <= batches
    submits = [e for e in runtype_server.requests if e["operation"] == "submit_batch"]
    assert len(submits) == (3 if created else 4)  # the 503'd third POST, then resubmitted unless it was created
    assert out["total_records"] == 7 and out["batch_execution_ids"][2] not in kept


@pytest.mark.runtype(queued_seconds=0, running_seconds=1000)
def test_end_to_end_a_timeout_cancels_every_batch_of_the_run(runtype_server, context):
    with pytest.raises(RuntypeRunError, match=r"\(3 batches\) did not finish within 3 s .*the run was cancelled"):
        split_op(timeout=3).execute(context)

    cancelled = posted(runtype_server, "cancel_batch")
    assert len(cancelled) == 3
    hook = make_op().hook
    assert {hook.get_batch_status(e["path"].rsplit("/", 1)[1]).status for e in cancelled} == {"cancelled"}


@pytest.mark.runtype(queued_seconds=0, running_seconds=1000)
def test_end_to_end_a_later_batch_refused_cancels_the_batches_submitted_and_fails_naming_them(runtype_server, context):
    context["task_state_store"] = store = FakeStateStore()
    op = split_op()
    submit = op.hook.submit_batch

    def third_refused(**body: Any) -> Any:
        if body["record_ids"] == SEVEN[6:]:
            runtype_server.inject_fault("submit_batch", "payment_required", times=1)
        return submit(**body)

    op.hook.submit_batch = third_refused  # type: ignore[method-assign]
    with pytest.raises(RuntypeRunError, match=r"batch 3 of 3 was refused \(.*402.*\); the 2 other batches this "
                                              r"task submitted \(batch_\w+, batch_\w+\) were cancelled"):  # fmt: skip
        op.execute(context)

    assert len(posted(runtype_server, "cancel_batch")) == 2 and store == {}


@pytest.mark.runtype(queued_seconds=0, running_seconds=1000, cost_per_record_usd=0.5)
def test_end_to_end_the_budget_counts_every_batch_and_cancels_them_all(runtype_server, context):
    op = split_op(max_cost_usd=1, cost_check_interval=1, timeout=100)
    read_cost = op.hook.get_run_cost

    def later(run: RunReference) -> Any:  # the batches are well on their way at the first check
        runtype_server.advance_clock(990)
        return read_cost(run)

    op.hook.get_run_cost = later  # type: ignore[method-assign]
    with pytest.raises(RuntypeRunError, match=r"\(3 batches\) cost \$2.0000 \(billed .*\), over the budget "
                                              r"max_cost_usd=1; the batches were cancelled") as exc:  # fmt: skip
        op.execute(context)

    assert exc.value.run["total_cost_usd"] == 2.0 and len(exc.value.run["batch_execution_ids"]) == 3
    assert len(posted(runtype_server, "cancel_batch")) == 3


@pytest.mark.runtype(queued_seconds=0, running_seconds=30)
def test_end_to_end_a_deferred_wait_on_a_run_of_several_batches(runtype_server, context):
    import asyncio

    from runtype_provider.triggers.runtype import RuntypeScheduleRunTrigger

    op = split_op(deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    kwargs = trigger.serialize()[1]
    assert len(kwargs["run"]["batch_execution_ids"]) == 3
    runtype_server.advance_clock(60)

    event = asyncio.run(anext(RuntypeScheduleRunTrigger(**kwargs).run()))
    out = split_op(deferrable=True).execute_complete(context, event.payload)

    assert out["batch_execution_ids"] == kwargs["run"]["batch_execution_ids"]
    assert (out["outcome"], out["total_records"], out["processed_records"]) == ("success", 7, 7)
