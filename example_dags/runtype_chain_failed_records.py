"""Chaining runs: the records that failed in one run become the record set of a second schedule.

Run the enrichment schedule and wait; collect only its failed records; point the retry schedule at
exactly those record ids; run the retry schedule and collect its results.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, task

from runtype_provider.operators.runtype import RuntypeRunScheduleOperator, RuntypeScheduleRunResultsOperator
from runtype_provider.operators.schedules import RuntypeUpdateScheduleOperator
from runtype_provider.version_compat import AirflowSkipException

with DAG(
    dag_id="runtype_chain_failed_records",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    params={
        "first_schedule_id": Param("sch_enrich_companies", type="string"),
        "retry_schedule_id": Param("sch_retry_failed", type="string"),
    },
    tags=["runtype", "example"],
) as dag:
    first_run = RuntypeRunScheduleOperator(
        task_id="run_first", schedule_id="{{ params.first_schedule_id }}", poll_interval=1, timeout=600
    )
    failed = RuntypeScheduleRunResultsOperator(task_id="failed_records", run=first_run.output, status_filter="failed")

    @task
    def failed_record_ids(rows: list[dict]) -> list[str]:
        ids = [row["record_id"] for row in rows]
        if not ids:
            raise AirflowSkipException("No record failed: nothing to retry")
        return ids

    retarget = RuntypeUpdateScheduleOperator(
        task_id="retarget_retry_schedule",
        schedule_id="{{ params.retry_schedule_id }}",
        record_ids=failed_record_ids(failed.output),
    )
    retry_run = RuntypeRunScheduleOperator(
        task_id="run_retry", schedule_id="{{ params.retry_schedule_id }}", poll_interval=1, timeout=600
    )
    retry_results = RuntypeScheduleRunResultsOperator(task_id="retry_results", run=retry_run.output)

    retarget >> retry_run >> retry_results
