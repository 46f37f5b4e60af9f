"""A product-surface schedule: fetch it (with its recent runs), run it now, wait in the triggerer, collect results.

The run operator returns at once; a deferrable sensor waits for the batch without holding a worker slot.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from runtype_provider.operators.runtype import RuntypeRunScheduleOperator, RuntypeScheduleRunResultsOperator
from runtype_provider.operators.schedules import RuntypeGetScheduleOperator
from runtype_provider.sensors.runtype import RuntypeScheduleRunSensor

SURFACE = {"product_id": "{{ params.product_id }}", "surface_id": "{{ params.surface_id }}"}

with DAG(
    dag_id="runtype_surface_schedule",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    params={
        "product_id": Param("prod_demo", type="string"),
        "surface_id": Param("surf_weekly_digest", type="string"),
        "schedule_id": Param("sch_weekly_digest", type="string"),
    },
    tags=["runtype", "example"],
) as dag:
    # [START surface_schedule]
    fetch = RuntypeGetScheduleOperator(
        task_id="fetch_surface_schedule", schedule_id="{{ params.schedule_id }}", **SURFACE
    )
    run = RuntypeRunScheduleOperator(
        task_id="run_surface_schedule", schedule_id="{{ params.schedule_id }}", wait_for_completion=False, **SURFACE
    )
    wait = RuntypeScheduleRunSensor(
        task_id="wait_for_surface_run", run=run.output, deferrable=True, poke_interval=1, timeout=600
    )
    results = RuntypeScheduleRunResultsOperator(task_id="surface_results", run=wait.output, include_result_payload=True)

    fetch >> run >> wait >> results
    # [END surface_schedule]
