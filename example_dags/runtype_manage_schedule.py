"""Managing a schedule end to end: create, pause, resume, run now (and wait), then delete it.

The created schedule's id flows from ``create`` to every later task through XCom.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from runtype_provider.operators.runtype import RuntypeRunScheduleOperator
from runtype_provider.operators.schedules import (
    RuntypeCreateScheduleOperator,
    RuntypeDeleteScheduleOperator,
    RuntypePauseScheduleOperator,
    RuntypeResumeScheduleOperator,
)

SCHEDULE_ID = "{{ ti.xcom_pull(task_ids='create_schedule')['id'] }}"

with DAG(
    dag_id="runtype_manage_schedule",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    params={"flow_id": Param("flow_enrich_company", type="string")},
    tags=["runtype", "example"],
) as dag:
    # [START manage_schedule]
    create = RuntypeCreateScheduleOperator(
        task_id="create_schedule",
        name="Airflow-managed enrichment",
        flow_id="{{ params.flow_id }}",
        record_ids=["rec_acme", "rec_globex", "rec_initech"],
        cron="0 6 * * 1-5",
        timezone="Europe/Paris",
        execution_options={"recordConcurrency": 5, "maxRetries": 1},
    )
    pause = RuntypePauseScheduleOperator(task_id="pause_schedule", schedule_id=SCHEDULE_ID)
    resume = RuntypeResumeScheduleOperator(task_id="resume_schedule", schedule_id=SCHEDULE_ID)
    run = RuntypeRunScheduleOperator(task_id="run_schedule", schedule_id=SCHEDULE_ID, poll_interval=1, timeout=600)
    delete = RuntypeDeleteScheduleOperator(task_id="delete_schedule", schedule_id=SCHEDULE_ID)

    create >> pause >> resume >> run >> delete
    # [END manage_schedule]
