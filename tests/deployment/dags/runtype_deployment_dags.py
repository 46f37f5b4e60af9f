"""DAGs the deployment tests run under a real scheduler, triggerer and api-server (see ``../harness.py``).

The schedule ids come from the DAG run's ``conf``, so every test seeds its own schedules in the local
Runtype and triggers a run naming them. No task retries: a second attempt would hide the bug these tests
look for (a second run-now).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from runtype_provider.operators.runtype import RuntypeRunScheduleOperator, RuntypeScheduleRunResultsOperator

DEFAULTS = {"retries": 0}

# One deferred run-and-wait, then every per-record result, paged (page_size=10).
with DAG(
    dag_id="runtype_deployment_wait_and_results",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    default_args=DEFAULTS,
    tags=["runtype", "deployment-test"],
):
    run = RuntypeRunScheduleOperator(
        task_id="run",
        schedule_id="{{ dag_run.conf['schedule_id'] }}",
        deferrable=True,
        poll_interval=1,
        timeout=300,
    )
    RuntypeScheduleRunResultsOperator(task_id="results", run=run.output, page_size=10)


# Many deferred runs at once: one mapped task instance per schedule id in ``conf["schedule_ids"]``.
with DAG(
    dag_id="runtype_deployment_many_deferred",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    default_args=DEFAULTS,
    max_active_tasks=1024,
    tags=["runtype", "deployment-test"],
):

    @task
    def schedule_ids(**context) -> list[str]:
        return list(context["dag_run"].conf["schedule_ids"])

    RuntypeRunScheduleOperator.partial(task_id="run", deferrable=True, poll_interval=1, timeout=300).expand(
        schedule_id=schedule_ids()
    )
