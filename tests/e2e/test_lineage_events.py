"""The OpenLineage provider's own listener, on a real ``dag.test()`` of the example producer DAG and of the batch
pipeline, emits the run and batch operators' facets (in a subprocess: OpenLineage reads its transport once per
process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import os
from airflow.utils.db import initdb
initdb()
from runtype_provider.testing import LocalRuntype
from runtype_provider.testing.dag_runs import load_dag, run_dag_test
from runtype_provider.testing.demo_data import seed_demo
with LocalRuntype(queued_seconds=0.1, running_seconds=0.5) as server:
    seed_demo(server)
    os.environ["AIRFLOW_CONN_RUNTYPE_DEFAULT"] = server.airflow_connection_json()
    dag_id = os.environ["LINEAGE_DAG"]
    conf = {"output_dir": os.environ["AIRFLOW_HOME"]} if dag_id == "runtype_batch_pipeline" else None
    result = run_dag_test(load_dag(f"example_dags/{dag_id}.py", dag_id), conf=conf)
    # Flushed at once: stdout is a pipe (block-buffered), and a line still buffered when the interpreter's shutdown
    # goes wrong is lost, which once hid the DAG's state from the assertion below.
    print("STATE", result.state, flush=True)
"""


def lineage_events(tmp_path: Path, dag_id: str) -> list[dict]:
    """Run the example DAG ``dag_id`` with the OpenLineage listener writing to a file; its events."""
    events_file = tmp_path / "lineage.jsonl"
    transport = {"type": "file", "log_file_path": str(events_file), "append": True}
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "runtype-test",
        "LINEAGE_DAG": dag_id,
    }
    env.pop("AIRFLOW_CONN_RUNTYPE_DEFAULT", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    noteworthy = [
        line[:300] for line in done.stdout.splitlines() if line.startswith("STATE") or "error" in line.lower()
    ]
    assert "STATE success" in done.stdout, (f"exit status {done.returncode}", noteworthy[-20:], done.stderr[-3000:])
    return [json.loads(line) for line in events_file.read_text().splitlines()]


def test_the_listener_emits_the_runs_facets_and_the_schedules_dataset(tmp_path: Path) -> None:
    events = lineage_events(tmp_path, "runtype_asset_outlets")
    complete = [e for e in events if e["job"]["name"].endswith(".run_schedule") and e["eventType"] == "COMPLETE"]
    assert len(complete) == 1
    event = complete[0]
    run = event["run"]["facets"]["runtype_run"]
    assert (run["scheduleId"], run["status"], run["outcome"]) == ("sch_account_refresh", "completed", "success")
    assert run["runId"] and run["batchExecutionId"] and run["runUrl"].endswith(run["runId"])
    assert (run["totalRecords"], run["failedRecords"]) == (4, 1)
    assert run["_schemaURL"].endswith("lineage_facets.json#/$defs/RuntypeRunFacet")
    job = event["job"]["facets"]["runtype_schedule"]
    assert (job["scheduleId"], job["scheduleName"]) == ("sch_account_refresh", "Account refresh")
    assert [(o["namespace"], o["name"]) for o in event["outputs"]] == [("runtype://schedule", "sch_account_refresh")]


def test_the_listener_emits_a_batchs_facets_and_its_flow_as_input(tmp_path: Path) -> None:
    from runtype_provider.testing.demo_data import BATCH_FAILING, BATCH_FLOW, BATCH_RECORDS

    events = lineage_events(tmp_path, "runtype_batch_pipeline")

    complete = {e["job"]["name"].rsplit(".", 1)[-1]: e for e in events if e["eventType"] == "COMPLETE"}
    first, retry = complete["score_leads"], complete["retry_failed"]
    run = first["run"]["facets"]["runtype_batch_run"]
    assert (run["flowId"], run["status"], run["outcome"]) == (BATCH_FLOW, "completed", "success")
    assert run["batchExecutionIds"] == [run["batchExecutionId"]] and run["runUrl"].endswith(run["batchExecutionId"])
    assert (run["totalRecords"], run["failedRecords"]) == (len(BATCH_RECORDS), len(BATCH_FAILING))
    assert run["totalCostUsd"] > 0 and run["_schemaURL"].endswith("lineage_facets.json#/$defs/RuntypeBatchRunFacet")
    assert first["job"]["facets"]["runtype_batch"]["flowId"] == BATCH_FLOW
    assert [(i["namespace"], i["name"]) for i in first["inputs"]] == [("runtype://flow", BATCH_FLOW)]
    assert retry["run"]["facets"]["runtype_batch_run"]["totalRecords"] == len(BATCH_FAILING)
