"""Event-driven DAG with real processes: the example ``runtype_asset_watcher`` DAG, its watcher in a real
``airflow triggerer``, runs started by the local Runtype's own cron (its clock advanced), and the triggerer
SIGKILLed and started again between runs, with one run finishing while it is down.

Airflow 3.3: the cursor is in the asset state store, so every finished run gives exactly one asset event and
exactly one consumer DAG run, the one that finished during the outage included. Airflow 3.1 (no store): the
restarted watcher starts from "now", so the run that finished while it was down is skipped (documented), and
nothing is repeated.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from runtype_provider.testing.demo_data import DEMO_SCHEDULES

from .conftest import AIRFLOW_3_3_PLUS, report, run_deployment
from .harness import AirflowDeployment, LocalRuntypeProcess, wait_until

pytestmark = pytest.mark.deployment

DAG = "runtype_asset_watcher"
EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / f"{DAG}.py"
SCHEDULE = next(spec for spec in DEMO_SCHEDULES if spec["schedule_id"] == "sch_weekday_crm_sync")
SCHEDULE_ID = SCHEDULE["schedule_id"]
URI = f"runtype://schedule/{SCHEDULE_ID}"


@pytest.fixture(scope="module")
def runtype_cron(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRuntypeProcess]:
    """A local Runtype of this module's own: its cron starts runs, and the test moves its clock."""
    server = LocalRuntypeProcess(tmp_path_factory.mktemp("runtype-cron"), running_seconds=2.0)
    try:
        server.start()
        server.configure(cron_runs=True)
        server.seed_schedule(**SCHEDULE)
        yield server
    finally:
        server.stop()
    assert not server.component.members(), "runtype-local left processes behind"


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, runtype_cron: LocalRuntypeProcess
) -> Iterator[AirflowDeployment]:
    home = tmp_path_factory.mktemp("airflow-home-watcher")
    airflow = AirflowDeployment(home, runtype_cron)
    airflow.env["RUNTYPE_WATCHER_POLL_INTERVAL"] = "2"
    airflow.dags_folder.mkdir(parents=True)
    shutil.copy2(EXAMPLE, airflow.dags_folder / EXAMPLE.name)
    yield from run_deployment(airflow, "Asset watcher (SQLite)")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def fire_next_cron_run(runtype: LocalRuntypeProcess) -> str:
    """Advance the local Runtype's clock past the schedule's next cron firing (and the run's end); its run id."""
    now = _time(runtype.admin("POST", "clock/advance", {"seconds": 1})["now"])
    schedule = runtype.api("GET", f"schedules/{SCHEDULE_ID}")
    seconds = (_time(schedule["nextRunAt"]) - now).total_seconds() + 10
    started = runtype.admin("POST", "clock/advance", {"seconds": seconds})["cronRuns"]
    assert len(started) == 1, started
    return str(started[0])


def polls(runtype: LocalRuntypeProcess) -> int:
    operation = "list_all_schedule_runs" if AIRFLOW_3_3_PLUS else "list_schedule_runs"
    return len(runtype.calls(operation))


def asset_events(deployment: AirflowDeployment) -> list[dict[str, Any]]:
    assets = deployment.api.get("/api/v2/assets", uri_pattern=URI)["assets"]
    if not assets:
        return []
    return deployment.api.get_all("/api/v2/assets/events", "asset_events", asset_id=assets[0]["id"])


def consumer_runs(deployment: AirflowDeployment) -> list[dict[str, Any]]:
    return deployment.api.get_all(f"/api/v2/dags/{DAG}/dagRuns", "dag_runs")


def wait_for_consumers(deployment: AirflowDeployment, count: int, timeout: float = 90) -> list[dict[str, Any]]:
    def done() -> list[dict[str, Any]] | None:
        runs = consumer_runs(deployment)
        if any(r["state"] == "failed" for r in runs):
            raise AssertionError(
                deployment.run_report(DAG, next(r for r in runs if r["state"] == "failed")["dag_run_id"])
            )
        finished = [r for r in runs if r["state"] == "success"]
        return finished if len(finished) >= count else None

    return wait_until(
        done, timeout=timeout, interval=0.5, what=f"{count} consumer runs", diagnostics=deployment.diagnostics
    )


def test_each_finished_run_gives_one_asset_event_and_one_consumer_run_across_a_triggerer_crash(
    deployment: AirflowDeployment, runtype_cron: LocalRuntypeProcess
) -> None:
    api, runtype = deployment.api, runtype_cron
    began = time.monotonic()
    timeline: list[str] = []

    def mark(event: str) -> None:
        timeline.append(f"{time.monotonic() - began:.1f}s {event}")

    # The watcher polls (its first poll is the baseline: runs already finished are history).
    wait_until(
        lambda: polls(runtype) >= 2,
        timeout=60,
        interval=0.5,
        what="the watcher polls",
        diagnostics=deployment.diagnostics,
    )
    mark("watcher polling")

    first = fire_next_cron_run(runtype)
    wait_for_consumers(deployment, 1)
    mark(f"cron run {first}: consumer run done")

    deployment.kill("triggerer")
    mark("SIGKILLed the triggerer")
    during = fire_next_cron_run(runtype)  # finishes while no triggerer runs
    mark(f"cron run {during} finished while the triggerer was down")
    polls_before = polls(runtype)
    deployment.start_component("triggerer")
    if AIRFLOW_3_3_PLUS:  # the restarted watcher resumes from its stored cursor: the missed run arrives
        wait_for_consumers(deployment, 2)
    else:  # the restarted watcher's first poll is its new baseline ("now")
        wait_until(
            lambda: polls(runtype) >= polls_before + 2,
            timeout=60,
            interval=0.5,
            what="polling again",
            diagnostics=deployment.diagnostics,
        )
    mark("restarted triggerer watching")

    last = fire_next_cron_run(runtype)
    expected = [first, during, last] if AIRFLOW_3_3_PLUS else [first, last]
    runs = wait_for_consumers(deployment, len(expected))
    mark(f"cron run {last}: {len(runs)} consumer runs done")
    time.sleep(6)  # three more polls: nothing else may arrive (no replay of an older run)

    events = asset_events(deployment)
    runs = consumer_runs(deployment)
    report("asset watcher timeline: " + "; ".join(timeline))
    event_run_ids = [e["extra"]["payload"]["run_id"] for e in events]
    assert event_run_ids == expected, (timeline, events)
    assert all(e["extra"].get("from_trigger") for e in events)
    assert len(runs) == len(expected) and {r["state"] for r in runs} == {"success"}
    reports = sorted(
        (api.xcom(DAG, r["dag_run_id"], "report") for r in runs), key=lambda x: expected.index(x["run_id"])
    )
    assert [x["run_id"] for x in reports] == expected
    assert {(x["outcome"], tuple(x["failed_record_ids"])) for x in reports} == {("success", ("rec_3",))}
    payload = events[0]["extra"]["payload"]
    assert payload["schedule_id"] == SCHEDULE_ID and payload["status"] == "completed"
    assert (payload["total_records"], payload["failed_records"]) == (5, 1)
