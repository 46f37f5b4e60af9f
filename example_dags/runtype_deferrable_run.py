"""Run-and-wait in deferrable mode, mapped over several schedules with dynamic task mapping.

Each mapped task starts one schedule's run and waits for it in the triggerer (no worker slot held);
a run may have at most 25% failed records. ``summarize`` gathers the mapped results.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, task

from runtype_provider.operators.runtype import RuntypeRunScheduleOperator

with DAG(
    dag_id="runtype_deferrable_run",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    params={"schedule_ids": Param(["sch_nightly_enrichment", "sch_lead_scoring", "sch_churn_watch"], type="array")},
    tags=["runtype", "example"],
) as dag:

    @task
    def schedule_ids(**context) -> list[str]:
        return list(context["params"]["schedule_ids"])

    # [START run_deferrable_mapped]
    runs = RuntypeRunScheduleOperator.partial(
        task_id="run_and_wait",
        deferrable=True,
        poll_interval=1,
        timeout=600,
        allowed_failed_records="25%",
    ).expand(schedule_id=schedule_ids())
    # [END run_deferrable_mapped]

    @task
    def summarize(results: list[dict]) -> dict[str, dict]:
        return {
            r["schedule_id"]: {"status": r["status"], "total": r["total_records"], "failed": r["failed_records"]}
            for r in results
        }

    summarize(runs.output)
