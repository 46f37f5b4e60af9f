"""Runtype runs as Airflow assets, from an operator: a producer DAG runs a schedule *by name* and reports the
finished run on the schedule's asset; a consumer DAG scheduled on that asset reads the run's payload and
collects the run's failed records.

The asset of a schedule is ``runtype://schedule/<schedule_id>`` (``create_asset``). Its event's
``extra["payload"]`` carries ``runtype_provider.assets.PAYLOAD_KEYS`` (schedule, run and batch ids, status,
outcome, record counts, finish time, run URL), the same keys a watcher's events carry, so the consumer does not
care who started the run. The event is emitted only when the producer task succeeds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from runtype_provider.assets import create_asset, run_event_payload_of
from runtype_provider.operators.runtype import RuntypeRunScheduleOperator, RuntypeScheduleRunResultsOperator
from runtype_provider.operators.schedules import RuntypeGetScheduleOperator

# [START outlets_producer]
SCHEDULE_NAME = "Account refresh"
ACCOUNT_REFRESH = create_asset(schedule_id="sch_account_refresh")  # the schedule that name names

with DAG(
    dag_id="runtype_asset_outlets",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    tags=["runtype", "example", "assets"],
) as producer:
    fetch_schedule = RuntypeGetScheduleOperator(task_id="fetch_schedule", schedule_name=SCHEDULE_NAME)
    run = RuntypeRunScheduleOperator(
        task_id="run_schedule",
        schedule_name=SCHEDULE_NAME,  # looked up when the task runs: the id survives re-created schedules
        poll_interval=2,
        outlets=[ACCOUNT_REFRESH],  # must name the schedule that runs; checked before the run starts
    )
    results = RuntypeScheduleRunResultsOperator(task_id="collect_results", run=run.output)

    fetch_schedule >> run >> results
# [END outlets_producer]

# [START outlets_consumer]
with DAG(
    dag_id="runtype_asset_outlets_consumer",
    start_date=datetime(2026, 1, 1),
    schedule=[ACCOUNT_REFRESH],
    catchup=False,
    tags=["runtype", "example", "assets"],
) as consumer:

    @task
    def read_payloads(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """One payload per finished run that triggered this DAG run (several when runs finished close together)."""
        events = triggering_asset_events[ACCOUNT_REFRESH] if triggering_asset_events else []
        return [run_event_payload_of(event) for event in events]

    # A payload is also a run reference: it names the run's ids, so the results operator takes it as ``run``.
    RuntypeScheduleRunResultsOperator.partial(task_id="collect_failed", status_filter="failed").expand(
        run=read_payloads()
    )
# [END outlets_consumer]
