"""Event-driven: run this DAG whenever a Runtype schedule finishes a run, whoever started it.

The asset ``runtype://schedule/sch_weekday_crm_sync`` has a watcher: ``RuntypeScheduleRunEventTrigger``
runs in the triggerer and emits one asset event per run of the schedule that reaches a final status
(Runtype's own cron, a user in the dashboard, or an operator). Each event carries the run's payload
(``schedule_id``, ``run_id``, ``batch_execution_id``, ``status``, ``outcome``, record counts,
``finished_at``, ``run_url``); this DAG reads it, fetches the run's failed records and reports.

Needs a running triggerer (``airflow triggerer``); ``dag.test()`` does not run watchers. The poll
interval is 60 s; the environment variable ``RUNTYPE_WATCHER_POLL_INTERVAL`` overrides it (the
real-process test uses 2 s).
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Asset, AssetWatcher, task

from runtype_provider.assets import run_event_payload_of, schedule_asset_uri
from runtype_provider.operators.runtype import RuntypeScheduleRunResultsOperator
from runtype_provider.triggers.events import RuntypeScheduleRunEventTrigger

# [START watcher_asset]
SCHEDULE_ID = "sch_weekday_crm_sync"
POLL_INTERVAL = float(os.environ.get("RUNTYPE_WATCHER_POLL_INTERVAL", "60"))

crm_sync_runs = Asset(
    name="runtype_crm_sync_runs",
    uri=schedule_asset_uri(SCHEDULE_ID),
    watchers=[
        AssetWatcher(
            name="runtype_crm_sync_watcher",
            trigger=RuntypeScheduleRunEventTrigger(schedule_id=SCHEDULE_ID, poll_interval=POLL_INTERVAL),
        )
    ],
)
# [END watcher_asset]

with DAG(
    dag_id="runtype_asset_watcher",
    start_date=datetime(2026, 1, 1),
    schedule=[crm_sync_runs],
    catchup=False,
    tags=["runtype", "example", "event-driven"],
) as dag:
    # [START watcher_consumer]
    @task
    def finished_run(**context: Any) -> dict[str, Any]:
        """The payload of the newest event that triggered this DAG run (several may arrive together)."""
        events = context["triggering_asset_events"][crm_sync_runs]
        payloads = [run_event_payload_of(event) for event in events]
        for payload in payloads:
            print(
                f"Runtype run {payload['run_id']} of {payload['schedule_id']} finished {payload['status']} "
                f"({payload['outcome']}) at {payload['finished_at']}: {payload['failed_records']} of "
                f"{payload['total_records']} records failed; {payload['run_url']}"
            )
        return payloads[-1]

    run = finished_run()
    failed_rows = RuntypeScheduleRunResultsOperator(task_id="failed_records", run=run, status_filter="failed")

    @task
    def report(payload: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "run_id": payload["run_id"],
            "outcome": payload["outcome"],
            "failed_record_ids": sorted(row["record_id"] for row in rows),
        }

    report(run, failed_rows.output)
    # [END watcher_consumer]
