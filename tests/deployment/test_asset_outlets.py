"""The example DAG ``runtype_asset_outlets`` in a real deployment: the producer runs its schedule by name, its
outlet event carries the run's payload, and the scheduler starts the consumer DAG exactly once for it; the
consumer reads the payload from ``triggering_asset_events`` and collects the run's failed records."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtype_provider.assets import PAYLOAD_KEYS
from runtype_provider.testing.demo_data import ASSET_FAILING, ASSET_RECORDS, DEMO_SCHEDULES

from .conftest import report, run_deployment
from .harness import AirflowDeployment, LocalRuntypeProcess, wait_until

pytestmark = pytest.mark.deployment

EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "runtype_asset_outlets.py"
PRODUCER, CONSUMER = "runtype_asset_outlets", "runtype_asset_outlets_consumer"
SCHEDULE_ID = "sch_account_refresh"


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, runtype_local: LocalRuntypeProcess
) -> Iterator[AirflowDeployment]:
    """Airflow's services on SQLite with the example DAG file in their dags folder."""
    spec = next(s for s in DEMO_SCHEDULES if s["schedule_id"] == SCHEDULE_ID)
    runtype_local.seed_schedule(**spec, queued_seconds=0.3, running_seconds=2.0)
    home: Path = tmp_path_factory.mktemp("airflow-home-assets")
    (home / "dags").mkdir()
    shutil.copy2(EXAMPLE, home / "dags" / EXAMPLE.name)
    yield from run_deployment(
        AirflowDeployment(home, runtype_local), "SQLite (asset outlets)", dag_ids=(PRODUCER, CONSUMER)
    )


def test_the_producers_outlet_event_starts_the_consumer_once_with_the_runs_payload(
    deployment: AirflowDeployment,
) -> None:
    api = deployment.api
    began = time.monotonic()
    run_id = api.trigger_dag_run(PRODUCER)
    deployment.wait_for_run(PRODUCER, run_id, timeout=120)
    produced = time.monotonic() - began
    reference = api.xcom(PRODUCER, run_id, "run_schedule", key="run_reference")
    assert reference["schedule_id"] == SCHEDULE_ID

    def consumer_runs() -> list[dict]:
        return api.get_all(f"/api/v2/dags/{CONSUMER}/dagRuns", "dag_runs")

    started = wait_until(consumer_runs, timeout=60, what="the consumer DAG run", diagnostics=deployment.diagnostics)
    consumer_run = started[0]["dag_run_id"]
    deployment.wait_for_run(CONSUMER, consumer_run, timeout=120)
    consumed = time.monotonic() - began
    time.sleep(3)  # a second run would have been created by now (the scheduler loops every 0.5 s)
    runs = consumer_runs()
    assert [(r["dag_run_id"], r["run_type"]) for r in runs] == [(consumer_run, "asset_triggered")]

    # One asset event, from the run operator, carrying the payload. Read once the consumer run has started:
    # Airflow 3.1.8's events endpoint answers 500 while a DAG run the event created has no start date yet.
    events = api.get("/api/v2/assets/events", source_dag_id=PRODUCER, source_run_id=run_id)["asset_events"]
    assert [(e["uri"], e["source_task_id"]) for e in events] == [(f"runtype://schedule/{SCHEDULE_ID}", "run_schedule")]
    payload = events[0]["extra"]["payload"]
    assert tuple(payload) == PAYLOAD_KEYS
    assert (payload["run_id"], payload["status"]) == (reference["run_id"], "completed")

    # The consumer read the same payload and collected exactly the run's failed records.
    assert api.xcom(CONSUMER, consumer_run, "read_payloads") == [payload]
    failed = api.xcom(CONSUMER, consumer_run, "collect_failed", map_index=0)
    assert sorted(row["record_id"] for row in failed) == sorted(ASSET_FAILING)
    assert payload["total_records"] == len(ASSET_RECORDS)
    report(f"asset outlets: producer done in {produced:.1f} s, consumer run done {consumed:.1f} s after the trigger")
