"""Retry only what failed: the records that failed in a schedule run are submitted again, as a batch, to a retry
flow; no schedule is changed.

Run the enrichment schedule and wait; read the record ids of its failed records (``failed_record_ids``); submit
exactly those to the retry flow (``RuntypeRunBatchOperator``) and collect that batch's results. When no record
failed, the id list is empty and the batch task (and the results after it) skip. The same works on a batch:
``failed_record_ids(batch_task.output)``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from runtype_provider.operators.batches import RuntypeRunBatchOperator
from runtype_provider.operators.failed_records import failed_record_ids
from runtype_provider.operators.runtype import RuntypeRunScheduleOperator, RuntypeScheduleRunResultsOperator

with DAG(
    dag_id="runtype_chain_failed_records",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    params={
        "first_schedule_id": Param("sch_enrich_companies", type="string"),
        "retry_flow_id": Param("flow_retry_failed", type="string"),
    },
    tags=["runtype", "example"],
) as dag:
    first_run = RuntypeRunScheduleOperator(
        task_id="run_first", schedule_id="{{ params.first_schedule_id }}", poll_interval=1, timeout=600
    )
    retry = RuntypeRunBatchOperator(
        task_id="run_retry",
        flow_id="{{ params.retry_flow_id }}",
        record_ids=failed_record_ids(first_run.output),  # a task "failed_record_ids", downstream of run_first
        poll_interval=1,
        timeout=600,
    )
    retry_results = RuntypeScheduleRunResultsOperator(task_id="retry_results", run=retry.output)
