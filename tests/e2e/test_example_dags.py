"""Every example DAG, run with ``dag.test()`` against the local Runtype over real HTTP; asserts XCom outcomes."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtype_provider.exceptions import RuntypeNotFoundError
from runtype_provider.hooks.runtype import RuntypeHook
from runtype_provider.testing.demo_data import CHAIN_FAILING, CORE_FAILING, CORE_RECORDS, SURFACE

pytestmark = pytest.mark.e2e

DAGS = Path(__file__).resolve().parents[2] / "example_dags"


@pytest.fixture(scope="module")
def airflow_db() -> None:
    from airflow.utils.db import initdb

    initdb()


@pytest.fixture
def runtype(monkeypatch: pytest.MonkeyPatch, airflow_db: None):
    from runtype_provider.testing import LocalRuntype
    from runtype_provider.testing.demo_data import seed_demo

    with LocalRuntype(queued_seconds=0.2, running_seconds=0.8) as server:
        seed_demo(server)
        monkeypatch.setenv("AIRFLOW_CONN_RUNTYPE_DEFAULT", server.airflow_connection_json())
        yield server


def run(dag_id: str):
    from runtype_provider.testing.dag_runs import load_dag, run_dag_test

    result = run_dag_test(load_dag(DAGS / f"{dag_id}.py", dag_id))
    assert result.state == "success", result.task_states
    return result


def test_core_flow_pushes_per_record_outcomes(runtype) -> None:
    result = run("runtype_core_flow")

    reference = result.xcom("run_schedule", key="run_reference")
    assert reference["schedule_id"] == "sch_nightly_enrichment"
    assert reference["run_id"] and reference["batch_execution_id"]
    assert reference["run_url"].startswith(runtype.url)
    # The sensor received the reference and passed it on with the final status.
    waited = result.xcom("wait_for_run")
    assert {k: waited[k] for k in reference} == reference
    assert (waited["status"], waited["total_records"], waited["failed_records"]) == ("completed", 5, 1)
    rows = result.xcom("collect_results")
    assert sorted(r["record_id"] for r in rows) == sorted(CORE_RECORDS)
    assert {r["record_id"] for r in rows if r["status"] == "failed"} == set(CORE_FAILING)
    summary = result.xcom("collect_results", key="summary")
    assert (summary["total"], summary["failed"], summary["succeeded"]) == (5, 1, 4)
    assert result.xcom("fetch_schedule")["id"] == "sch_nightly_enrichment"
    assert result.xcom("run_schedule", key="_link_RuntypeRunLink") == reference["run_url"]
    # Exactly one run was started, and the results were read from the run's batch.
    run_nows = [r for r in runtype.requests if r["operation"] == "run_schedule_now"]
    assert len(run_nows) == 1
    results_calls = [r for r in runtype.requests if r["operation"] == "get_batch_results"]
    assert results_calls and all(reference["batch_execution_id"] in r["path"] for r in results_calls)


def test_deferrable_mapped_runs(runtype) -> None:
    result = run("runtype_deferrable_run")

    summary = result.xcom("summarize")
    assert summary == {
        "sch_nightly_enrichment": {"status": "completed", "total": 5, "failed": 1},
        "sch_lead_scoring": {"status": "completed", "total": 4, "failed": 0},
        "sch_churn_watch": {"status": "completed", "total": 8, "failed": 2},
    }
    assert {result.task_state("run_and_wait", i) for i in range(3)} == {"success"}
    # Each mapped task polled the batch status (the trigger's async path).
    assert sum(r["operation"] == "get_batch_status" for r in runtype.requests) >= 3


def test_chaining_failed_records_into_a_second_schedule(runtype) -> None:
    result = run("runtype_chain_failed_records")

    failed_rows = result.xcom("failed_records")
    assert sorted(r["record_id"] for r in failed_rows) == CHAIN_FAILING
    assert result.xcom("failed_record_ids") == CHAIN_FAILING
    retry_rows = result.xcom("retry_results")
    assert sorted(r["record_id"] for r in retry_rows) == CHAIN_FAILING
    assert {r["status"] for r in retry_rows} == {"completed"}
    assert result.xcom("run_retry")["schedule_id"] == "sch_retry_failed"
    assert RuntypeHook().get_schedule("sch_retry_failed").record_ids == CHAIN_FAILING


def test_product_surface_schedule(runtype) -> None:
    result = run("runtype_surface_schedule")

    fetched = result.xcom("fetch_surface_schedule")
    assert fetched["id"] == "sch_weekly_digest" and fetched["productSurfaceId"] == SURFACE["surface_id"]
    reference = result.xcom("run_surface_schedule", key="run_reference")
    assert reference["product_id"] == SURFACE["product_id"] and reference["surface_id"] == SURFACE["surface_id"]
    assert reference["batch_execution_id"] and reference["run_id"] is None
    rows = result.xcom("surface_results")
    assert len(rows) == 3 and all("result" in row for row in rows)
    # The deferrable sensor waited in the trigger and handed on the reference with the final counts.
    waited = result.xcom("wait_for_surface_run")
    assert {k: waited[k] for k in reference} == reference
    assert (waited["status"], waited["total_records"], waited["failed_records"]) == ("completed", 3, 0)


def test_managing_a_schedule(runtype) -> None:
    result = run("runtype_manage_schedule")

    created = result.xcom("create_schedule")
    assert created["status"] == "created"
    assert result.xcom("pause_schedule") == {"status": "paused"}
    assert result.xcom("resume_schedule") == {"status": "resumed"}
    finished = result.xcom("run_schedule")
    assert (finished["schedule_id"], finished["status"], finished["total_records"]) == (created["id"], "completed", 3)
    assert result.xcom("delete_schedule") == {"success": True}
    with pytest.raises(RuntypeNotFoundError):
        RuntypeHook().get_schedule(created["id"])
    operations = [r["operation"] for r in runtype.requests]
    order = ["create_schedule", "pause_schedule", "resume_schedule", "run_schedule_now", "delete_schedule"]
    assert [op for op in operations if op in order] == order


def test_api_key_reaches_no_xcom_rendered_field_or_log(runtype, capfd, caplog) -> None:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session
    from sqlalchemy import select

    result = run("runtype_core_flow")

    with create_session() as session:
        rendered = session.scalars(
            select(RenderedTaskInstanceFields.rendered_fields).where(
                RenderedTaskInstanceFields.dag_id == result.dag_id,
                RenderedTaskInstanceFields.run_id == result.run_id,
            )
        ).all()
    assert len(rendered) == 4  # fetch, run, sensor, results: each stored its rendered fields
    assert any("sch_nightly_enrichment" in repr(fields) for fields in rendered)
    output = capfd.readouterr()
    everywhere = repr(result.xcoms) + repr(rendered) + output.out + output.err + caplog.text
    assert "collect_results" in everywhere and runtype.url in everywhere  # the scan sees real content
    assert runtype.api_key not in everywhere


def test_asset_outlets_producer_runs_by_name_and_records_one_asset_event_with_the_payload(runtype) -> None:
    """The producer half with dag.test(); the consumer, which needs a scheduler, runs in tests/deployment."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from runtype_provider.assets import PAYLOAD_KEYS
    from runtype_provider.testing.demo_data import ASSET_FAILING, ASSET_RECORDS

    result = run("runtype_asset_outlets")

    reference = result.xcom("run_schedule", key="run_reference")
    assert reference["schedule_id"] == "sch_account_refresh"  # resolved from the name "Account refresh"
    assert result.xcom("fetch_schedule")["name"] == "Account refresh"
    searches = [r for r in runtype.requests if r["operation"] == "list_schedules"]
    assert len(searches) == 2  # one lookup per task that names the schedule
    with create_session() as session:
        rows = session.execute(
            select(AssetModel.uri, AssetEvent.source_task_id, AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetEvent.source_run_id == result.run_id)
        ).all()
    assert [(uri, task) for uri, task, _ in rows] == [("runtype://schedule/sch_account_refresh", "run_schedule")]
    payload = rows[0][2]["payload"]
    assert tuple(payload) == PAYLOAD_KEYS
    assert {k: payload[k] for k in ("run_id", "batch_execution_id", "run_url")} == {
        k: reference[k] for k in ("run_id", "batch_execution_id", "run_url")
    }
    assert (payload["status"], payload["outcome"]) == ("completed", "success")
    assert (payload["total_records"], payload["failed_records"]) == (len(ASSET_RECORDS), len(ASSET_FAILING))
    assert payload["finished_at"]
