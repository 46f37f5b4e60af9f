"""Runtype assets in the operators' ``outlets`` (the finished run's payload on the event, sync and deferred; nothing
on failure; an outlet must name the run's schedule) and the run operator by ``schedule_name``."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk import Asset

from runtype_provider.assets import PAYLOAD_KEYS, create_asset, run_event_payload_of
from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeRunError, RuntypeScheduleNotFoundError
from runtype_provider.operators.runtype import RuntypeRunScheduleOperator, RuntypeScheduleRunResultsOperator

try:  # the accessor Airflow puts in the task context (the same class on 3.1 and 3.3)
    from airflow.sdk.execution_time.context import OutletEventAccessors
except ImportError:  # pragma: no cover
    from airflow.utils.context import OutletEventAccessors  # type: ignore[no-redef,attr-defined,unused-ignore]

pytestmark = pytest.mark.usefixtures("runtype_conn", "clock")

BASE = "https://api.runtype.com"
STATUS = f"{BASE}/v1/batch/status/b-1"
RUN_URL = "https://app.runtype.com/schedules/sch-1/runs/run-1"
ASSET = create_asset(schedule_id="sch-1")
OTHER = Asset("s3://bucket/report.csv")


@pytest.fixture
def context(ti) -> dict[str, Any]:
    return {"ti": ti, "outlet_events": OutletEventAccessors()}


@pytest.fixture
def run_now(requests_mock):
    return requests_mock.post(
        f"{BASE}/v1/schedules/sch-1/run-now", json={"status": "queued", "runId": "run-1", "batchExecutionId": "b-1"}
    )


def make_op(**kwargs: Any) -> RuntypeRunScheduleOperator:
    kwargs = {"schedule_id": "sch-1", "poll_interval": 5, "deferrable": False, "outlets": [ASSET, OTHER], **kwargs}
    return RuntypeRunScheduleOperator(task_id="run", **kwargs)


def expected_payload(status: str = "completed", outcome: str = "success", failed: int = 0) -> dict[str, Any]:
    return {
        "schedule_id": "sch-1",
        "run_id": "run-1",
        "batch_execution_id": "b-1",
        "status": status,
        "outcome": outcome,
        "total_records": 10,
        "processed_records": 10,
        "failed_records": failed,
        "finished_at": "2026-01-01T00:05:00Z",
        "run_url": RUN_URL,
    }


def event_extras(context: dict[str, Any]) -> dict[str, Any]:
    return {asset.uri: context["outlet_events"][asset].extra for asset in context["outlet_events"]}


@pytest.mark.parametrize("given_as", ["factory", "uri"])
def test_a_finished_run_puts_its_payload_on_the_runtype_outlet_only(
    requests_mock, run_now, context, batch_status_body, given_as
):
    asset = ASSET if given_as == "factory" else Asset("runtype://schedules/sch-1/")
    body = {**batch_status_body("completed", failed=2), "completedAt": "2026-01-01T00:05:00Z"}
    requests_mock.get(STATUS, json=body)

    make_op(outlets=[asset, OTHER]).execute(context)

    extras = event_extras(context)
    assert extras == {"runtype://schedule/sch-1": {"payload": expected_payload(failed=2)}}
    assert tuple(run_event_payload_of(context["outlet_events"][asset])) == PAYLOAD_KEYS


def test_the_deferred_path_puts_the_same_payload_on_the_event(context, wait_event):
    event = wait_event("finished", "completed", "success", completed_at="2026-01-01T00:05:00Z")

    make_op(deferrable=True).execute_complete(context, event)

    assert event_extras(context) == {"runtype://schedule/sch-1": {"payload": expected_payload()}}


@pytest.mark.parametrize(
    ("status", "kwargs"),
    [("failed", {}), ("cancelled", {}), ("completed", {"allowed_failed_records": 0})],
)
def test_a_failed_task_attaches_nothing(context, wait_event, status, kwargs):
    event = wait_event("finished", status, "success" if status == "completed" else status, failed_records=3)

    with pytest.raises(RuntypeRunError):
        make_op(**kwargs).execute_complete(context, event)

    assert len(context["outlet_events"]) == 0


def test_an_outlet_of_another_schedule_is_refused_when_the_dag_is_parsed():
    with pytest.raises(RuntypeConfigurationError, match=r"outlet runtype://schedule/sch-2 names schedule 'sch-2'"):
        make_op(outlets=[create_asset(schedule_id="sch-2")])


def test_runtype_outlets_need_the_wait():
    with pytest.raises(RuntypeConfigurationError, match="need wait_for_completion=True"):
        make_op(wait_for_completion=False)
    assert make_op(wait_for_completion=False, outlets=[OTHER]).outlets == [OTHER]  # other assets: Airflow's business


def test_a_templated_id_naming_another_schedule_fails_before_the_run_starts(requests_mock, run_now, context):
    op = make_op(schedule_id="{{ params.schedule }}")  # accepted at parse: the id is not known yet
    op.schedule_id = "sch-9"  # as rendered

    with pytest.raises(RuntypeConfigurationError, match="handles runs of schedule 'sch-9'"):
        op.execute(context)

    assert requests_mock.call_count == 0


# ---- by name ------------------------------------------------------------------------------------------------


def listing(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"data": [{"id": i, "name": n} for i, n in pairs], "pagination": {"hasMore": False}}


def test_a_run_by_name_uses_the_resolved_id_for_the_run_the_reference_and_the_outlet(
    requests_mock, run_now, context, batch_status_body, run_reference
):
    search = requests_mock.get(f"{BASE}/v1/schedules", json=listing(("sch-1", "Nightly"), ("sch-7", "Nightly 2")))
    requests_mock.get(STATUS, json={**batch_status_body("completed"), "completedAt": "2026-01-01T00:05:00Z"})

    out = make_op(schedule_id=None, schedule_name="Nightly").execute(context)

    assert search.call_count == 1 and "search=Nightly" in search.last_request.url
    assert run_now.call_count == 1
    assert out["schedule_id"] == "sch-1" and out["run_url"] == RUN_URL
    assert context["ti"].xcom_push.call_args_list[0].kwargs["value"] == run_reference
    assert event_extras(context)["runtype://schedule/sch-1"]["payload"]["schedule_id"] == "sch-1"


def test_a_name_naming_another_schedule_than_the_outlet_starts_no_run(requests_mock, run_now, context):
    requests_mock.get(f"{BASE}/v1/schedules", json=listing(("sch-2", "Nightly")))

    with pytest.raises(RuntypeConfigurationError, match="handles runs of schedule 'sch-2'"):
        make_op(schedule_id=None, schedule_name="Nightly").execute(context)

    assert run_now.call_count == 0


def test_an_unknown_name_fails_the_task_before_any_run(requests_mock, run_now, context):
    requests_mock.get(f"{BASE}/v1/schedules", json=listing(("sch-1", "Nightly enrichment")))

    with pytest.raises(RuntypeScheduleNotFoundError, match="'Nightly'"):
        make_op(schedule_id=None, schedule_name="Nightly", outlets=[]).execute(context)

    assert run_now.call_count == 0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"schedule_id": None}, "is required"), ({"schedule_name": "Nightly"}, "not both")],
)
def test_exactly_one_of_id_and_name(kwargs, error):
    with pytest.raises(RuntypeConfigurationError, match=error):
        make_op(**kwargs)


# ---- the results operator -----------------------------------------------------------------------------------


@pytest.mark.parametrize("run_given_as", ["reference", "batch id"])
def test_the_results_operator_reports_the_run_it_read(
    requests_mock, context, batch_status_body, run_reference, run_given_as
):
    requests_mock.get(
        f"{BASE}/v1/schedules/batch/b-1/results",
        json={"data": [], "pagination": {"hasMore": False, "offset": 0, "total": 0}},
    )
    status = requests_mock.get(STATUS, json={**batch_status_body("completed"), "completedAt": "2026-01-01T00:05:00Z"})
    given = {"run": run_reference} if run_given_as == "reference" else {"batch_execution_id": "b-1"}
    op = RuntypeScheduleRunResultsOperator(task_id="results", outlets=[ASSET], **given)

    assert op.execute(context) == []

    payload = event_extras(context)["runtype://schedule/sch-1"]["payload"]
    # A batch id alone: the schedule comes from the outlet, the run id and link are not known.
    assert payload == (expected_payload() if run_given_as == "reference" else {
        **expected_payload(), "run_id": None, "run_url": "https://app.runtype.com/schedules/sch-1"
    })  # fmt: skip
    assert status.call_count == 1


def test_the_results_operator_refuses_an_outlet_of_another_schedule_before_reading(
    requests_mock, context, run_reference
):
    op = RuntypeScheduleRunResultsOperator(task_id="r", outlets=[create_asset(schedule_id="x")], run=run_reference)
    with pytest.raises(RuntypeConfigurationError, match="handles runs of schedule 'sch-1'"):
        op.execute(context)
    assert requests_mock.call_count == 0


# ---- issue 16, item 10: a watcher and an outlet on one schedule would report each operator-started run twice


def test_an_outlet_whose_asset_has_a_watcher_is_refused_naming_the_task_and_the_asset() -> None:
    from airflow.sdk import AssetWatcher

    from runtype_provider.tasks.outlets import check_no_watcher
    from runtype_provider.triggers.events import RuntypeScheduleRunEventTrigger, watched_schedule_asset

    watched = watched_schedule_asset("sch-1")
    by_hand = Asset(
        uri="runtype://schedule/sch-1",
        watchers=[AssetWatcher(name="w", trigger=RuntypeScheduleRunEventTrigger(schedule_id="sch-1"))],
    )
    for asset in (watched, by_hand):
        with pytest.raises(RuntypeConfigurationError) as refused:
            check_no_watcher([OTHER, asset], "run_crm_sync")
        message = str(refused.value)
        assert "'run_crm_sync'" in message and "runtype://schedule/sch-1" in message
        assert "watcher already reports every finished run" in message
    # No watcher, or another scheme's asset: nothing to refuse.
    check_no_watcher([ASSET, OTHER, Asset("s3://b/k", watchers=by_hand.watchers)], "run")
    check_no_watcher(None, "run")


@pytest.mark.parametrize("cls", ["run", "results"])
def test_both_operators_refuse_a_watched_asset_as_an_outlet_when_the_dag_is_parsed(cls):
    from runtype_provider.triggers.events import watched_schedule_asset

    watched = watched_schedule_asset("sch-1", poll_interval=60)
    with pytest.raises(RuntypeConfigurationError, match=r"Task 'op' has the outlet runtype://schedule/sch-1.*watcher"):
        if cls == "run":
            RuntypeRunScheduleOperator(task_id="op", schedule_id="sch-1", outlets=[watched])
        else:
            RuntypeScheduleRunResultsOperator(task_id="op", batch_execution_id="b-1", outlets=[watched])


# ---- the batch operator: its flow's (or agent's) asset (issue 17, item 6) ------------------------------------

BATCH_URL = "https://app.runtype.com/batches/b-1"
FLOW = create_asset(flow_id="flow-1")


@pytest.fixture
def batch_api(requests_mock, batch_status_body):
    requests_mock.post(f"{BASE}/v1/batch/flow", json={"batchExecutionId": "b-1", "status": "queued"})
    requests_mock.get(STATUS, json={**batch_status_body("completed", failed=2), "completedAt": "2026-01-01T00:05:00Z"})
    requests_mock.get(f"{BASE}/v1/batch/b-1/cost", json={"batchExecutionId": "b-1", "totalCostUsd": 0.25,
                                                         "billedCostUsd": 0.2})  # fmt: skip
    return requests_mock


def make_batch(**kwargs: Any) -> Any:
    from runtype_provider.operators.batches import RuntypeRunBatchOperator

    kwargs = {"flow_id": "flow-1", "record_ids": ["r-1", "r-2"], "poll_interval": 5, "deferrable": False,
              "outlets": [FLOW, OTHER], **kwargs}  # fmt: skip
    return RuntypeRunBatchOperator(task_id="batch", **kwargs)


def batch_payload(**changes: Any) -> dict[str, Any]:
    return {**expected_payload(failed=2), "schedule_id": None, "run_id": None, "run_url": BATCH_URL,
            "flow_id": "flow-1", "agent_id": None, "batch_execution_ids": ["b-1"], "total_cost_usd": 0.25,
            "billed_cost_usd": 0.2, **changes}  # fmt: skip


def test_a_finished_batch_puts_its_payload_and_cost_on_its_flows_outlet_only(batch_api, context):
    from runtype_provider.assets import BATCH_PAYLOAD_KEYS

    out = make_batch().execute(context)

    assert event_extras(context) == {"runtype://flow/flow-1": {"payload": batch_payload()}}
    payload = run_event_payload_of(context["outlet_events"][FLOW])
    assert tuple(payload) == BATCH_PAYLOAD_KEYS
    assert {k: out[k] for k in ("batch_execution_id", "status", "total_cost_usd")} == {
        k: payload[k] for k in ("batch_execution_id", "status", "total_cost_usd")
    }


def test_an_agent_batch_reports_on_its_agents_asset(batch_api, context):
    agent = create_asset(agent_id="agt-1")

    make_batch(flow_id=None, agent_id="agt-1", outlets=[agent]).execute(context)

    assert event_extras(context) == {"runtype://agent/agt-1": {"payload": batch_payload(flow_id=None,
                                                                                       agent_id="agt-1")}}  # fmt: skip


def test_the_deferred_batch_path_puts_the_same_payload_on_the_event(batch_api, context, wait_event):
    ref = {"schedule_id": None, "run_id": None, "batch_execution_id": "b-1", "product_id": None, "surface_id": None,
           "run_url": BATCH_URL}  # fmt: skip
    event = wait_event("finished", "completed", "success", run=ref, run_id=None, failed_records=2,
                       completed_at="2026-01-01T00:05:00Z")  # fmt: skip

    make_batch(deferrable=True).execute_complete(context, event)

    assert event_extras(context) == {"runtype://flow/flow-1": {"payload": batch_payload()}}


def test_a_failed_batch_verdict_attaches_nothing(batch_api, context):
    with pytest.raises(RuntypeRunError):
        make_batch(allowed_failed_records=0).execute(context)

    assert len(context["outlet_events"]) == 0


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"outlets": [create_asset(flow_id="flow-2")]}, "names flow 'flow-2'"),
        ({"outlets": [create_asset(agent_id="flow-1")]}, "names agent 'flow-1'"),
        ({"outlets": [ASSET]}, "names schedule 'sch-1'"),
        ({"flow_id": None, "agent_id": "agt-1", "outlets": [FLOW]}, "handles batches of agent 'agt-1'"),
        ({"flow_id": None, "flow_definition": {"id": "flow-9", "name": "n", "steps": []}}, "of flow 'flow-9'"),
    ],
)
def test_a_batch_outlet_of_another_target_is_refused_when_the_dag_is_parsed(kwargs, named):
    with pytest.raises(RuntypeConfigurationError, match=named) as refused:
        make_batch(**kwargs)
    assert "Task 'batch'" in str(refused.value)


def test_an_inline_flow_without_an_id_has_no_asset_to_report_on():
    with pytest.raises(RuntypeConfigurationError, match="without an 'id'"):
        make_batch(flow_id=None, flow_definition={"name": "n", "steps": []})
    make_batch(flow_id=None, flow_definition={"name": "n", "steps": []}, outlets=[OTHER])  # no Runtype outlet: fine
    make_batch(flow_id=None, flow_definition={"id": "flow-1", "name": "n", "steps": []})  # its own id names the asset


def test_a_templated_flow_naming_another_flow_fails_before_any_batch_is_submitted(batch_api, context):
    op = make_batch(flow_id="{{ params.flow }}")  # accepted at parse: the id is not known yet
    op.flow_id = "flow-9"  # as rendered

    with pytest.raises(RuntypeConfigurationError, match="handles batches of flow 'flow-9'"):
        op.execute(context)

    assert batch_api.call_count == 0


def test_the_run_operator_refuses_a_flow_asset_as_its_outlet():
    with pytest.raises(RuntypeConfigurationError, match=r"outlet runtype://flow/flow-1 names flow 'flow-1'"):
        make_op(outlets=[FLOW])


def test_batch_target_reads_literal_ids_only():
    from runtype_provider.tasks.outlets import batch_target

    assert batch_target("f", None) == ("flow", "f")
    assert batch_target(None, "a") == ("agent", "a")
    assert batch_target(None, None, {"id": "f2"}) == ("flow", "f2")
    assert batch_target("{{ params.f }}", None) is None
    assert batch_target(object(), None) is None  # an XComArg
    assert batch_target(None, None, {"name": "no id"}) is None
