"""Batch submissions whose worker dies (``../test_batch_submission.py``): one synchronous batch task with one quick
retry, per ``on_unknown_submission``. The flow and the record ids come from the DAG run's ``conf``, so every
scenario submits to a flow of its own (``tojson``: ``record_ids`` is rendered as a JSON array).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from runtype_provider.operators.batches import RuntypeRunBatchOperator

for _dag_id, _on_unknown_submission in (
    ("runtype_deployment_batch_retry", "fail"),
    ("runtype_deployment_batch_retry_resubmit", "resubmit"),
):
    with DAG(
        dag_id=_dag_id,
        start_date=datetime(2026, 1, 1),
        schedule=None,
        catchup=False,
        default_args={"retries": 1, "retry_delay": timedelta(seconds=1)},
        tags=["runtype", "deployment-test"],
    ):
        RuntypeRunBatchOperator(
            task_id="run",
            flow_id="{{ dag_run.conf['flow_id'] }}",
            record_ids="{{ dag_run.conf['record_ids'] | tojson }}",
            deferrable=False,
            poll_interval=1,
            timeout=600,
            on_unknown_submission=_on_unknown_submission,
        )
