"""A batch pipeline on a Runtype flow: the records an upstream task chooses are submitted as one batch, its results
are written to a file, the records that failed are retried once on the same flow, and a last task reports.

* ``choose_leads`` (any ``@task``) returns record ids; ``score_leads`` submits them to the flow
  (``RuntypeRunBatchOperator``) and waits. Its outlet, the flow's asset ``runtype://flow/<flow_id>``, gets an event
  carrying the batch's payload (ids, status, counts, cost) for DAGs scheduled on it.
* ``write_results`` streams every record's outcome to a JSON Lines file (``output_path``).
* ``failed_record_ids`` reads the ids of the failed records; ``retry_failed`` submits exactly those to the same
  flow. Nothing failed: the list is empty and the retry (and its results) skip.
* ``report`` runs either way (``none_failed``) and sums it up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from runtype_provider.assets import create_asset
from runtype_provider.operators.batches import RuntypeRunBatchOperator
from runtype_provider.operators.failed_records import failed_record_ids
from runtype_provider.operators.runtype import RuntypeScheduleRunResultsOperator

FLOW_ID = "flow_score_leads"
LEADS = ["lead_ada", "lead_grace", "lead_alan", "lead_edsger", "lead_barbara", "lead_donald"]

with DAG(
    dag_id="runtype_batch_pipeline",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    params={
        "leads": Param(LEADS, type="array", items={"type": "string"}),
        "output_dir": Param("/tmp/runtype_batch_pipeline", type="string"),
    },
    tags=["runtype", "example", "batches"],
) as dag:

    @task
    def choose_leads(params: Any = None) -> list[str]:
        """Any task can choose the records: here the DAG run's ``leads``, without duplicates."""
        return list(dict.fromkeys(params["leads"]))

    score = RuntypeRunBatchOperator(
        task_id="score_leads",
        flow_id=FLOW_ID,
        record_ids=choose_leads(),
        poll_interval=1,
        timeout=600,
        outlets=[create_asset(flow_id=FLOW_ID)],  # must name the flow the batch runs on
    )
    write_results = RuntypeScheduleRunResultsOperator(
        task_id="write_results",
        run=score.output,
        output_path="{{ params.output_dir }}/{{ run_id | replace(':', '_') | replace('+', '_') }}/scored_leads.jsonl",
    )
    retry = RuntypeRunBatchOperator(
        task_id="retry_failed",
        flow_id=FLOW_ID,
        record_ids=failed_record_ids(score.output),
        poll_interval=1,
        timeout=600,
    )
    retry_results = RuntypeScheduleRunResultsOperator(task_id="retry_results", run=retry.output)

    @task(trigger_rule="none_failed")
    def report(first: dict[str, Any], written: dict[str, Any], retried: list[dict[str, Any]] | None) -> dict[str, Any]:
        """One line a human (or an alert) reads: what the batch did, where its results are, what the retry fixed."""
        still_failing = sorted(row["record_id"] for row in retried or () if row["status"] == "failed")
        return {
            "submitted": first["total_records"],
            "failed": first["failed_records"],
            "cost_usd": first["total_cost_usd"],
            "results_file": written["path"],
            "retried": len(retried or ()),
            "recovered": len(retried or ()) - len(still_failing),
            "still_failing": still_failing,
        }

    report(score.output, write_results.output, retry_results.output)
