"""DAGs of the CeleryExecutor deployment test (``../../test_celery_executor.py``), copied into its dags folder only.

Queues: ``default`` (both workers), ``w1`` (worker 1 only), ``w2`` (worker 2 only). Worker 1 has ``[runtype]
results_path`` set to a directory both workers read; worker 2 has neither it nor ``[common.io]
xcom_objectstorage_path``. Schedule ids come from the DAG run's ``conf``.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, task

from runtype_provider.operators.runtype import RuntypeRunScheduleOperator, RuntypeScheduleRunResultsOperator

SCHEDULE_ID = "{{ dag_run.conf['schedule_id'] }}"

# Many deferred waits at once, one DAG run each (queue default: either worker).
with DAG(
    dag_id="runtype_celery_deferred",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    max_active_runs=64,
    default_args={"retries": 0},
    tags=["runtype", "deployment-test"],
):
    RuntypeRunScheduleOperator(task_id="run", schedule_id=SCHEDULE_ID, deferrable=True, poll_interval=1, timeout=900)

# A synchronous wait with one quick retry; the test SIGKILLs the task process of try 1 and makes sure try 2 runs on
# the other worker. Airflow 3.3+: the retry finds the run in the task state store (on_active_run="start", the
# default); Airflow 3.1 has no store: there on_active_run="attach" re-attaches.
for _dag_id, _on_active_run in (("runtype_celery_sync_retry", "start"), ("runtype_celery_sync_retry_attach", "attach")):
    with DAG(
        dag_id=_dag_id,
        start_date=datetime(2026, 1, 1),
        schedule=None,
        catchup=False,
        default_args={"retries": 1, "retry_delay": timedelta(seconds=1)},
        tags=["runtype", "deployment-test"],
    ):
        RuntypeRunScheduleOperator(
            task_id="run",
            schedule_id=SCHEDULE_ID,
            deferrable=False,
            poll_interval=1,
            timeout=900,
            on_active_run=_on_active_run,
        )


@task(queue="w2")
def read_rows(result: dict, **context) -> dict:
    """On worker 2: open the file worker 1 wrote (its ``path``) and read every row; also list worker 1's home as
    this worker sees it (empty: hidden, as another host's disk would be)."""
    with open(result["path"]) as handle:
        rows = [json.loads(line) for line in handle]
    hidden = context["dag_run"].conf.get("other_home")
    return {
        "record_ids": [row["record_id"] for row in rows],
        "failed": sorted(row["record_id"] for row in rows if row["status"] == "failed"),
        "airflow_home": os.environ.get("AIRFLOW_HOME"),
        "other_home_entries": sorted(os.listdir(hidden)) if hidden else None,
    }


# Results over max_xcom_rows: written by worker 1 under [runtype] results_path, read by worker 2. The run task waits
# synchronously: these DAGs are about results, and a short deferred wait on Airflow 3.1.8 races the scheduler (see
# test_celery_executor.py).
with DAG(
    dag_id="runtype_celery_results_handoff",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    default_args={"retries": 0},
    tags=["runtype", "deployment-test"],
):
    _run = RuntypeRunScheduleOperator(task_id="run", schedule_id=SCHEDULE_ID, deferrable=False, poll_interval=1)
    _results = RuntypeScheduleRunResultsOperator(
        task_id="results", run=_run.output, max_xcom_rows=5, page_size=10, queue="w1"
    )
    read_rows(_results.output)

# The same results on worker 2, which has no [runtype] results_path (nor [common.io] xcom_objectstorage_path): the
# task fails saying what to set, instead of handing on a path on its own disk.
with DAG(
    dag_id="runtype_celery_results_unconfigured",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    default_args={"retries": 0},
    tags=["runtype", "deployment-test"],
):
    _run = RuntypeRunScheduleOperator(task_id="run", schedule_id=SCHEDULE_ID, deferrable=False, poll_interval=1)
    RuntypeScheduleRunResultsOperator(task_id="results", run=_run.output, max_xcom_rows=5, page_size=10, queue="w2")
