"""runtype_provider.operators.failed_records: the record ids of a finished run's failed records (schedule run, batch,
run of several batches), deduplicated in order, bounded, and ``failed_record_ids`` wiring them into a batch task."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest

from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeRunError
from runtype_provider.hooks.runtype import RuntypeHook
from runtype_provider.operators.failed_records import (
    DEFAULT_MAX_RECORDS,
    RuntypeFailedRecordIdsOperator,
    failed_record_ids,
)
from runtype_provider.runs.reference import RunProgress
from runtype_provider.runs.status import RunOutcome

IDS = ["r-1", "r-2", "r-3", "r-4", "r-5"]


def make_op(run: Any, **kwargs: Any) -> RuntypeFailedRecordIdsOperator:
    return RuntypeFailedRecordIdsOperator(task_id="failed_record_ids", run=run, **kwargs)


def summary_pushed(context: dict[str, Any]) -> dict[str, Any]:
    (call,) = [c for c in context["ti"].xcom_push.call_args_list if c.kwargs["key"] == "summary"]
    return call.kwargs["value"]


def submit(record_ids: list[str]) -> dict[str, Any]:
    hook = RuntypeHook()
    answer = hook.submit_batch(flow_id="flow-1", record_ids=record_ids)
    return hook.run_reference(batch_execution_id=answer.batch_execution_id).to_xcom()


# ---- against the local Runtype ------------------------------------------------------------------------------


@pytest.mark.runtype(queued_seconds=0, running_seconds=0, failing_record_ids=("r-4", "r-2"))
def test_a_finished_batch_gives_its_failed_record_ids_in_order_reading_only_failed_rows(runtype_server, context):
    run = submit(IDS)

    assert make_op(run).execute(context) == ["r-2", "r-4"]

    assert summary_pushed(context) == {"failed_rows": 2, "record_ids": 2, "duplicates": 0, "without_record_id": 0}
    reads = [r for r in runtype_server.requests if r["operation"] == "get_batch_results"]
    assert reads and all("status=failed" in r["query"] for r in reads)
    assert not [r for r in runtype_server.requests if r["method"] in ("PUT", "PATCH", "DELETE")]


@pytest.mark.runtype(queued_seconds=0, running_seconds=0)
def test_a_schedule_run_gives_its_failed_record_ids(runtype_server, context):
    runtype_server.seed_schedule(schedule_id="sch-1", record_ids=IDS, failing_record_ids=["r-5", "r-1"])
    hook = RuntypeHook()
    started = hook.run_schedule_now("sch-1")
    run = hook.run_reference(schedule_id="sch-1", run_id=started.run_id, batch_execution_id=started.batch_execution_id)

    assert make_op(run.to_xcom()).execute(context) == ["r-1", "r-5"]


@pytest.mark.runtype(queued_seconds=0, running_seconds=0, failing_record_ids=("r-1", "r-5"))
def test_a_run_of_several_batches_gives_every_batchs_failed_ids_in_batch_order(runtype_server, context):
    first, second = submit(["r-4", "r-5"]), submit(["r-1", "r-2", "r-5"])
    run = {**first, "batch_execution_ids": [first["batch_execution_id"], second["batch_execution_id"]]}

    assert make_op(run).execute(context) == ["r-5", "r-1"]  # r-5 failed in both batches: once

    assert summary_pushed(context)["duplicates"] == 1


@pytest.mark.runtype(queued_seconds=0, running_seconds=60, failing_record_ids=("r-1",))
def test_a_run_still_going_is_refused_before_any_result_is_read(runtype_server, context):
    run = submit(IDS)

    with pytest.raises(RuntypeRunError, match=r"has not finished \(status .(queued|running)."):
        make_op(run).execute(context)

    assert not [r for r in runtype_server.requests if r["operation"] == "get_batch_results"]


@pytest.mark.runtype(queued_seconds=0, running_seconds=0)
def test_no_failure_gives_an_empty_list_and_the_batch_task_fed_with_it_skips(runtype_server, context):
    from runtype_provider.operators.batches import RuntypeRunBatchOperator
    from runtype_provider.version_compat import AirflowSkipException

    ids = make_op(submit(IDS)).execute(context)

    assert ids == []
    with pytest.raises(AirflowSkipException):
        RuntypeRunBatchOperator(task_id="retry", flow_id="flow-1", record_ids=ids).execute(context)
    assert sum(r["operation"] == "submit_batch" for r in runtype_server.requests) == 1  # the first batch only


# ---- rows as Runtype may give them (the hook stubbed) ---------------------------------------------------------


def row(record_id: str | None, status: str = "failed", record: str | None = None) -> Any:
    return SimpleNamespace(record_id=record_id, status=status, record=SimpleNamespace(id=record) if record else None)


class Rows(list):
    """The result rows the stubbed hook gives, and the keyword arguments it was asked with."""

    asked: list[dict[str, Any]]


@pytest.fixture
def rows(monkeypatch):
    """``rows.extend([...])``: the results the hook gives; the run has finished."""
    given = Rows()
    given.asked = []

    def results(self, run, **kwargs):
        given.asked.append(kwargs)
        return iter(list(given))

    done = RunProgress(status="completed", outcome=RunOutcome.SUCCESS)
    monkeypatch.setattr(RuntypeHook, "get_run_progress", lambda self, run: done)
    monkeypatch.setattr(RuntypeHook, "iter_run_results", results)
    return given


RUN = {"batch_execution_id": "b-1"}


@pytest.mark.usefixtures("runtype_conn")
def test_duplicates_rows_without_an_id_and_rows_the_server_did_not_filter(rows, context, logs):
    rows.extend([row("r-2"), row("r-1", "completed"), row(" r-3 "), row("r-2"), row("", record="r-9"), row(""),
                 row("r-4", "ERROR"), row(None)])  # fmt: skip

    assert make_op(RUN, page_size=50).execute(context) == ["r-2", "r-3", "r-9", "r-4"]

    assert summary_pushed(context) == {"failed_rows": 7, "record_ids": 4, "duplicates": 1, "without_record_id": 2}
    assert any("2 failed record result(s) of run b-1 name no record id" in m for m in logs.messages("warning"))
    assert rows.asked == [{"status": "failed", "page_size": 50, "max_concurrent_pages": None}]


@pytest.mark.usefixtures("runtype_conn")
def test_more_failed_records_than_max_records_fails_the_task_instead_of_handing_on_part(rows, context):
    rows.extend([row("r-1"), row("r-1"), row("r-2"), row("r-3")])

    assert make_op(RUN, max_records=3).execute(context) == ["r-1", "r-2", "r-3"]  # exactly the bound: fine
    rows.append(row("r-4"))
    with pytest.raises(RuntypeRunError, match="more than max_records=3 failed records; raise max_records"):
        make_op(RUN, max_records=3).execute(context)


def test_the_default_bound_is_one_batch():
    from runtype_provider.api.spec import MAX_BATCH_RECORDS

    assert DEFAULT_MAX_RECORDS == MAX_BATCH_RECORDS == make_op(RUN).max_records


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"run": None}, "'run' is required"),
        ({"max_records": 0}, "'max_records' must be a positive integer"),
        ({"max_records": True}, "'max_records' must be a positive integer"),
        ({"page_size": 0}, "page_size"),
        ({"max_concurrent_pages": 0}, "max_concurrent_pages"),
    ],
)
def test_wrong_arguments_are_refused_when_the_dag_is_parsed(kwargs, error):
    with pytest.raises(RuntypeConfigurationError, match=error):
        make_op(**{"run": RUN, **kwargs})


@pytest.mark.usefixtures("runtype_conn")
def test_a_bare_string_is_not_a_run_reference(context):
    with pytest.raises(RuntypeConfigurationError, match="'run' is not a valid Runtype run reference"):
        make_op("b-1").execute(context)


# ---- wiring -------------------------------------------------------------------------------------------------


def test_failed_record_ids_wires_run_then_ids_then_batch_in_the_dag():
    from airflow.sdk import DAG
    from airflow.sdk.definitions.xcom_arg import XComArg

    from runtype_provider.operators.batches import RuntypeRunBatchOperator

    with DAG(dag_id="wiring", start_date=datetime(2026, 1, 1), schedule=None) as dag:
        first = RuntypeRunBatchOperator(task_id="first", flow_id="flow-1", record_ids=IDS)
        ids = failed_record_ids(first.output, max_records=10)
        retry = RuntypeRunBatchOperator(task_id="retry", flow_id="flow-2", record_ids=ids)

    assert isinstance(ids, XComArg)
    reader = dag.get_task("failed_record_ids")
    assert ids.operator is reader and reader.max_records == 10
    assert reader.upstream_task_ids == {"first"} and retry.upstream_task_ids == {"failed_record_ids"}
    assert reader.run is not None and "run" in reader.template_fields
