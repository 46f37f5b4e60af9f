"""Every example DAG, run with ``dag.test()`` against the local Runtype over real HTTP; asserts XCom outcomes."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtype_provider.exceptions import RuntypeNotFoundError
from runtype_provider.hooks.runtype import RuntypeHook
from runtype_provider.testing.demo_data import (
    BATCH_FAILING,
    BATCH_FLOW,
    BATCH_RECORDS,
    BATCH_RECOVERING,
    CHAIN_FAILING,
    CHAIN_RECORDS,
    CORE_FAILING,
    CORE_RECORDS,
    RETRY_FLOW,
    SURFACE,
)

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


def run(dag_id: str, conf: dict | None = None):
    from runtype_provider.testing.dag_runs import load_dag, run_dag_test

    result = run_dag_test(load_dag(DAGS / f"{dag_id}.py", dag_id), conf=conf)
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


def submitted_batches(runtype) -> list[dict]:
    """The bodies of every ``POST /v1/batch/flow`` the local Runtype received, in order."""
    return [r["body"] for r in runtype.requests if r["operation"] == "submit_batch"]


def test_chaining_failed_records_into_a_batch_on_a_retry_flow_changes_no_schedule(runtype) -> None:
    result = run("runtype_chain_failed_records")

    assert result.xcom("failed_record_ids") == CHAIN_FAILING
    assert result.xcom("failed_record_ids", key="summary") == {
        "failed_rows": len(CHAIN_FAILING), "record_ids": len(CHAIN_FAILING), "duplicates": 0, "without_record_id": 0
    }  # fmt: skip
    # Exactly the failed ids went to the retry flow, as one batch, which succeeded for each.
    assert submitted_batches(runtype) == [{"flowId": RETRY_FLOW, "recordIds": CHAIN_FAILING}]
    retry = result.xcom("run_retry")
    assert (retry["status"], retry["total_records"], retry["failed_records"]) == ("completed", len(CHAIN_FAILING), 0)
    retry_rows = result.xcom("retry_results")
    assert [r["record_id"] for r in retry_rows] == CHAIN_FAILING
    assert {r["status"] for r in retry_rows} == {"completed"}
    # No schedule was changed: the failed records never became a schedule's record set.
    assert not [r for r in runtype.requests if r["method"] in ("PUT", "PATCH", "DELETE")]
    assert RuntypeHook().get_schedule("sch_enrich_companies").record_ids == CHAIN_RECORDS


def test_batch_pipeline_writes_results_retries_exactly_the_failed_records_once_and_reports(runtype, tmp_path) -> None:
    import json

    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from runtype_provider.assets import BATCH_PAYLOAD_KEYS

    result = run("runtype_batch_pipeline", conf={"output_dir": str(tmp_path)})

    assert result.xcom("choose_leads") == BATCH_RECORDS
    first = result.xcom("score_leads")
    assert (first["status"], first["outcome"]) == ("completed", "success")
    assert (first["total_records"], first["failed_records"]) == (len(BATCH_RECORDS), len(BATCH_FAILING))
    assert first["total_cost_usd"] == pytest.approx(0.002 * len(BATCH_RECORDS))  # the local Runtype's default price
    # The file holds one row per record, the failed ones marked.
    written = result.xcom("write_results")
    path = Path(written["path"])
    assert path.parent.parent == tmp_path and written["row_count"] == len(BATCH_RECORDS)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["record_id"] for r in rows] == BATCH_RECORDS
    assert [r["record_id"] for r in rows if r["status"] == "failed"] == BATCH_FAILING
    # Two batches on the same flow: the chosen records, then exactly the failed ones.
    assert submitted_batches(runtype) == [
        {"flowId": BATCH_FLOW, "recordIds": BATCH_RECORDS},
        {"flowId": BATCH_FLOW, "recordIds": BATCH_FAILING},
    ]
    assert result.xcom("failed_record_ids") == BATCH_FAILING
    retry = result.xcom("retry_failed")
    assert retry["batch_execution_id"] != first["batch_execution_id"]
    still_failing = [rid for rid in BATCH_FAILING if rid not in BATCH_RECOVERING]
    assert (retry["total_records"], retry["failed_records"]) == (len(BATCH_FAILING), len(still_failing))
    assert [(r["record_id"], r["status"]) for r in result.xcom("retry_results")] == [
        (rid, "failed" if rid in still_failing else "completed") for rid in BATCH_FAILING
    ]  # the retry recovers the transient failures
    assert result.xcom("report") == {
        "submitted": len(BATCH_RECORDS), "failed": len(BATCH_FAILING), "cost_usd": first["total_cost_usd"],
        "results_file": written["path"], "retried": len(BATCH_FAILING), "recovered": len(BATCH_RECOVERING),
        "still_failing": sorted(still_failing),
    }  # fmt: skip
    # The first batch was reported on its flow's asset, with the batch payload (cost included).
    with create_session() as session:
        events = session.execute(
            select(AssetModel.uri, AssetEvent.source_task_id, AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetEvent.source_run_id == result.run_id)
        ).all()
    assert [(uri, task) for uri, task, _ in events] == [(f"runtype://flow/{BATCH_FLOW}", "score_leads")]
    payload = events[0][2]["payload"]
    assert tuple(payload) == BATCH_PAYLOAD_KEYS
    assert (payload["flow_id"], payload["batch_execution_ids"]) == (BATCH_FLOW, [first["batch_execution_id"]])
    assert (payload["failed_records"], payload["total_cost_usd"]) == (len(BATCH_FAILING), first["total_cost_usd"])


def test_batch_pipeline_without_failures_skips_the_retry_and_still_reports(runtype, tmp_path) -> None:
    succeeding = [rid for rid in BATCH_RECORDS if rid not in BATCH_FAILING]

    result = run("runtype_batch_pipeline", conf={"output_dir": str(tmp_path), "leads": succeeding})

    assert result.xcom("failed_record_ids") == []
    assert (result.task_state("retry_failed"), result.task_state("retry_results")) == ("skipped", "skipped")
    assert len(submitted_batches(runtype)) == 1
    report = result.xcom("report")
    assert (report["submitted"], report["failed"], report["retried"], report["still_failing"]) == (
        len(succeeding), 0, 0, []
    )  # fmt: skip


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
