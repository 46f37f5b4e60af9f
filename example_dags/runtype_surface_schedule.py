"""A product-surface schedule: fetch it (with its recent runs), run it now and wait, collect results."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from runtype_provider.operators.runtype import (
    RuntypeGetScheduleOperator,
    RuntypeRunScheduleOperator,
    RuntypeScheduleRunResultsOperator,
)

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
    fetch = RuntypeGetScheduleOperator(
        task_id="fetch_surface_schedule", schedule_id="{{ params.schedule_id }}", **SURFACE
    )
    run = RuntypeRunScheduleOperator(
        task_id="run_surface_schedule", schedule_id="{{ params.schedule_id }}", poll_interval=1, timeout=600, **SURFACE
    )
    results = RuntypeScheduleRunResultsOperator(task_id="surface_results", run=run.output, include_result_payload=True)

    fetch >> run >> results
