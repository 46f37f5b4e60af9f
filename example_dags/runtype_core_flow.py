"""Core flow: fetch a schedule, run it, wait for the run with a sensor, push per-record outcomes to XCom.

``run`` pushes its run reference at once (``wait_for_completion=False``); the sensor and the results
operator take it straight from ``run.output``. The schedule id is a DAG param.
"""

from __future__ import annotations

# [START quickstart]
from datetime import datetime

from airflow.sdk import DAG, Param

from runtype_provider.operators.runtype import RuntypeRunScheduleOperator, RuntypeScheduleRunResultsOperator
from runtype_provider.operators.schedules import RuntypeGetScheduleOperator
from runtype_provider.sensors.runtype import RuntypeScheduleRunSensor

with DAG(
    dag_id="runtype_core_flow",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    params={"schedule_id": Param("sch_nightly_enrichment", type="string")},
    tags=["runtype", "example"],
) as dag:
    fetch_schedule = RuntypeGetScheduleOperator(task_id="fetch_schedule", schedule_id="{{ params.schedule_id }}")
    run = RuntypeRunScheduleOperator(
        task_id="run_schedule", schedule_id="{{ params.schedule_id }}", wait_for_completion=False
    )
    wait = RuntypeScheduleRunSensor(task_id="wait_for_run", run=run.output, poke_interval=2, timeout=600, mode="poke")
    results = RuntypeScheduleRunResultsOperator(task_id="collect_results", run=wait.output)

    fetch_schedule >> run >> wait >> results
# [END quickstart]
