"""DAGs the deployment tests run under a real scheduler, triggerer and api-server (see ``../harness.py``).

The schedule ids come from the DAG run's ``conf``, so every test seeds its own schedules in the local
Runtype and triggers a run naming them. No task retries: a second attempt would hide the bug these tests
look for (a second run-now).
"""

from __future__ import annotations

from datetime import datetime, timedelta

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


# Task interruptions (test_task_interruptions.py). A synchronous wait with one quick retry: its worker's task
# process is SIGKILLed mid-wait and the retry must re-attach to the same run. On Airflow 3.3+ through the
# task state store (the default on_active_run="start"); on 3.1, which has no task state store, through
# on_active_run="attach".
for _dag_id, _on_active_run in (
    ("runtype_deployment_sync_retry_state_store", "start"),
    ("runtype_deployment_sync_retry_attach", "attach"),
):
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
            schedule_id="{{ dag_run.conf['schedule_id'] }}",
            deferrable=False,
            poll_interval=1,
            timeout=300,
            on_active_run=_on_active_run,
        )

# A deferred wait a user marks failed (no retries).
with DAG(
    dag_id="runtype_deployment_deferred_mark_failed",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    default_args=DEFAULTS,
    tags=["runtype", "deployment-test"],
):
    RuntypeRunScheduleOperator(
        task_id="run", schedule_id="{{ dag_run.conf['schedule_id'] }}", deferrable=True, poll_interval=1
    )

# A deferred wait that hits execution_timeout (8 s) on a longer run: the trigger's deadline fires, the run is
# cancelled and the task fails.
with DAG(
    dag_id="runtype_deployment_deferred_execution_timeout",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    default_args=DEFAULTS,
    tags=["runtype", "deployment-test"],
):
    RuntypeRunScheduleOperator(
        task_id="run",
        schedule_id="{{ dag_run.conf['schedule_id'] }}",
        deferrable=True,
        poll_interval=1,
        execution_timeout=timedelta(seconds=8),
    )

# A deferred wait with one retry, interrupted (cleared) before any triggerer ran its trigger: the next try
# re-attaches to the run (Airflow 3.3+, task state store).
with DAG(
    dag_id="runtype_deployment_deferred_retry",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=1)},
    tags=["runtype", "deployment-test"],
):
    RuntypeRunScheduleOperator(
        task_id="run", schedule_id="{{ dag_run.conf['schedule_id'] }}", deferrable=True, poll_interval=1
    )


with DAG(
    dag_id="runtype_deployment_deferred_retry_attach",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=1)},
    tags=["runtype", "deployment-test"],
):
    # Airflow 3.1/3.2 have no task state store: a retry finds the run through on_active_run="attach".
    RuntypeRunScheduleOperator(
        task_id="run",
        schedule_id="{{ dag_run.conf['schedule_id'] }}",
        deferrable=True,
        poll_interval=1,
        on_active_run="attach",
    )
