"""OpenLineage of the run operator (provider installed in the test environments): the facets' content after a
finished, a failed and a never-started run, their shipped JSON schema, the ``runtype://`` converter; and the
operator without OpenLineage (DAG parsing never imports it; a task runs when it cannot be imported)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest
from openlineage.client.serde import Serde

import runtype_provider
from runtype_provider.assets import create_asset, to_openlineage_dataset
from runtype_provider.exceptions import RuntypeRunError, RuntypeScheduleNotFoundError
from runtype_provider.lineage import SCHEMA_URL, RuntypeRunFacet, RuntypeScheduleJobFacet
from runtype_provider.operators.runtype import RuntypeRunScheduleOperator

pytestmark = pytest.mark.usefixtures("runtype_conn", "clock")

BASE = "https://api.runtype.com"
STATUS = f"{BASE}/v1/batch/status/b-1"
RUN_URL = "https://app.runtype.com/schedules/sch-1/runs/run-1"
SCHEMA = json.loads((Path(runtype_provider.__file__).parent / "lineage_facets.json").read_text())


@pytest.fixture
def run_now(requests_mock):
    return requests_mock.post(
        f"{BASE}/v1/schedules/sch-1/run-now", json={"status": "queued", "runId": "run-1", "batchExecutionId": "b-1"}
    )


def make_op(**kwargs: Any) -> RuntypeRunScheduleOperator:
    return RuntypeRunScheduleOperator(task_id="run", **{"poll_interval": 5, "deferrable": False, **kwargs})


def facet_dict(facet: Any) -> dict[str, Any]:
    return Serde.to_dict(facet)


def check_against_shipped_schema(facet: Any, name: str) -> None:
    """The facet's JSON validates against its definition in lineage_facets.json (the OpenLineage base is remote)."""
    data = facet_dict(facet)
    assert data["_schemaURL"] == f"{SCHEMA_URL}#/$defs/{name}"
    assert SCHEMA["$id"] == SCHEMA_URL
    own = SCHEMA["$defs"][name]["allOf"][1]
    jsonschema.validate({k: v for k, v in data.items() if not k.startswith("_")}, own)
    assert set(own["properties"]) == {f.name for f in attrs.fields(type(facet)) if not f.name.startswith("_")}


def test_a_finished_run_is_reported_with_its_schedule_run_and_dataset(
    requests_mock, run_now, context, batch_status_body
):
    requests_mock.get(STATUS, json={**batch_status_body("completed", failed=1), "completedAt": "2026-01-01T00:05:00Z"})
    requests_mock.get(
        f"{BASE}/v1/batch/b-1/cost", json={"batchExecutionId": "b-1", "totalCostUsd": 0.02, "billedCostUsd": 0.016}
    )
    op = make_op(schedule_id="sch-1")
    op.execute(context)

    lineage = op.get_openlineage_facets_on_complete(task_instance=None)

    job = lineage.job_facets["runtype_schedule"]
    assert (job.scheduleId, job.scheduleName, job.productId, job.surfaceId) == ("sch-1", None, None, None)
    run = lineage.run_facets["runtype_run"]
    assert facet_dict(run) | {"_producer": ""} == {
        "_producer": "",
        "_schemaURL": f"{SCHEMA_URL}#/$defs/RuntypeRunFacet",
        "scheduleId": "sch-1",
        "runId": "run-1",
        "batchExecutionId": "b-1",
        "runUrl": RUN_URL,
        "status": "completed",
        "outcome": "success",
        "totalRecords": 10,
        "processedRecords": 10,
        "failedRecords": 1,
        "finishedAt": "2026-01-01T00:05:00Z",
        "totalCostUsd": 0.02,  # the run has a batch: its cost
        "billedCostUsd": 0.016,
    }
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("runtype://schedule", "sch-1")]
    assert "errorMessage" not in lineage.run_facets
    check_against_shipped_schema(run, "RuntypeRunFacet")
    check_against_shipped_schema(job, "RuntypeScheduleJobFacet")


def test_a_failed_run_is_reported_with_the_error_and_its_final_status(context, wait_event):
    op = make_op(schedule_name="Nightly", deferrable=True)
    event = wait_event("finished", "failed", "failed", error="Flow step 'fetch' failed")
    with pytest.raises(RuntypeRunError) as raised:
        op.execute_complete(context, event)  # the deferred path, in a fresh task process: the id comes from the run

    lineage = op.get_openlineage_facets_on_failure(task_instance=None)

    error = lineage.run_facets["errorMessage"]
    assert (error.message, error.programmingLanguage) == (str(raised.value), "python")
    assert "Flow step 'fetch' failed" in error.message
    run = lineage.run_facets["runtype_run"]
    assert (run.scheduleId, run.status, run.outcome, run.runUrl) == ("sch-1", "failed", "failed", RUN_URL)
    assert lineage.job_facets["runtype_schedule"].scheduleName == "Nightly"
    assert [d.name for d in lineage.outputs] == ["sch-1"]


def test_a_task_that_started_no_run_reports_only_the_schedule_and_the_error(requests_mock, context):
    requests_mock.get(f"{BASE}/v1/schedules", json={"data": [], "pagination": {"hasMore": False}})
    op = make_op(schedule_name="Nightly", product_id=None)
    with pytest.raises(RuntypeScheduleNotFoundError):
        op.execute(context)

    lineage = op.get_openlineage_facets_on_failure(task_instance=None)

    assert set(lineage.run_facets) == {"errorMessage"}
    assert lineage.outputs == []
    assert (lineage.job_facets["runtype_schedule"].scheduleId, lineage.job_facets["runtype_schedule"].scheduleName) == (
        None,
        "Nightly",
    )


def test_the_runtype_asset_converts_to_the_same_dataset_through_airflow():
    from airflow.providers.openlineage.utils.utils import translate_airflow_asset

    asset = create_asset(schedule_id="sch 1")
    direct = to_openlineage_dataset(asset)
    assert (direct.namespace, direct.name) == ("runtype://schedule", "sch 1")
    through_airflow = translate_airflow_asset(asset, lineage_context=None)  # the provider info's converter
    assert through_airflow is not None
    assert (through_airflow.namespace, through_airflow.name) == (direct.namespace, direct.name)


def test_facets_are_attrs_classes_of_openlineage_facets():
    from openlineage.client.facet_v2 import JobFacet, RunFacet

    assert issubclass(RuntypeRunFacet, RunFacet) and issubclass(RuntypeScheduleJobFacet, JobFacet)
    assert RuntypeRunFacet().runId is None  # every field optional: a run seen only partly still reports


# ---- without OpenLineage --------------------------------------------------------------------------------------

BLOCKED = ("openlineage", "airflow.providers.openlineage", "airflow.providers.common.compat.openlineage")


def test_parsing_dags_and_importing_the_provider_never_import_openlineage():
    code = (
        "import sys, importlib.util, pathlib\n"
        "import runtype_provider.operators.runtype, runtype_provider.operators.schedules\n"
        "import runtype_provider.sensors.runtype, runtype_provider.triggers.runtype\n"
        "for path in sorted(pathlib.Path('example_dags').glob('*.py')):\n"
        "    spec = importlib.util.spec_from_file_location(path.stem, path)\n"
        "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(sorted(m for m in sys.modules if m.startswith(('openlineage', 'runtype_provider.lineage'))\n"
        "      or m.startswith('airflow.providers.openlineage.') and not m.endswith('get_provider_info')))\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_operator_runs_when_openlineage_cannot_be_imported(
    requests_mock, run_now, context, batch_status_body, monkeypatch
):
    for name in [m for m in sys.modules if m.startswith((*BLOCKED, "runtype_provider.lineage"))]:
        monkeypatch.delitem(sys.modules, name)
    for name in (*BLOCKED, "airflow.providers.openlineage.extractors", "runtype_provider.lineage"):
        monkeypatch.setitem(sys.modules, name, None)  # "import x" now raises ImportError
    requests_mock.get(STATUS, json=batch_status_body("completed"))
    op = make_op(schedule_id="sch-1", outlets=[create_asset(schedule_id="sch-1")])

    assert op.execute(context)["status"] == "completed"
    with pytest.raises(ImportError):  # only the OpenLineage provider calls this, and it is not there
        op.get_openlineage_facets_on_complete(task_instance=None)


def test_the_lineage_error_facet_is_bounded_and_printable() -> None:
    from runtype_provider.lineage import ERROR_FACET_KEY, run_lineage

    lineage = run_lineage(
        schedule_id="s", schedule_name=None, product_id=None, surface_id=None, run=None, progress=None,
        error="boom\n" + "x" * 1_000_000,
    )  # fmt: skip

    message = lineage.run_facets[ERROR_FACET_KEY].message
    assert message.isprintable() and len(message) < 3_000 and message.startswith("boom\\n")


# ---- the batch operator (issue 17, item 6) ---------------------------------------------------------------------


def test_a_finished_batch_is_reported_with_its_flow_as_input_and_its_batches_counts_and_cost(
    requests_mock, context, batch_status_body
):
    from runtype_provider.lineage import RuntypeBatchJobFacet, RuntypeBatchRunFacet
    from runtype_provider.operators.batches import RuntypeRunBatchOperator

    requests_mock.post(f"{BASE}/v1/batch/flow", json={"batchExecutionId": "b-1", "status": "queued"})
    requests_mock.get(STATUS, json={**batch_status_body("completed", failed=1), "completedAt": "2026-01-01T00:05:00Z"})
    requests_mock.get(f"{BASE}/v1/batch/b-1/cost", json={"batchExecutionId": "b-1", "totalCostUsd": 0.5})
    op = RuntypeRunBatchOperator(task_id="batch", flow_id="flow-1", record_ids=["r-1"], poll_interval=5,
                                 deferrable=False)  # fmt: skip
    op.execute(context)

    lineage = op.get_openlineage_facets_on_complete(task_instance=None)

    run = lineage.run_facets["runtype_batch_run"]
    assert facet_dict(run) | {"_producer": ""} == {
        "_producer": "",
        "_schemaURL": f"{SCHEMA_URL}#/$defs/RuntypeBatchRunFacet",
        "flowId": "flow-1",
        "batchExecutionId": "b-1",
        "batchExecutionIds": ["b-1"],
        "runUrl": "https://app.runtype.com/batches/b-1",
        "status": "completed",
        "outcome": "success",
        "totalRecords": 10,
        "processedRecords": 10,
        "failedRecords": 1,
        "finishedAt": "2026-01-01T00:05:00Z",
        "totalCostUsd": 0.5,
    }  # None fields (agentId, billedCostUsd) are left out by the serializer
    job = lineage.job_facets["runtype_batch"]
    assert (job.flowId, job.agentId) == ("flow-1", None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("runtype://flow", "flow-1")]
    assert lineage.outputs == [] and "errorMessage" not in lineage.run_facets
    check_against_shipped_schema(run, "RuntypeBatchRunFacet")
    check_against_shipped_schema(job, "RuntypeBatchJobFacet")
    assert isinstance(run, RuntypeBatchRunFacet) and isinstance(job, RuntypeBatchJobFacet)


def test_a_batch_failed_by_its_verdict_reports_the_verdict_and_the_agent(context, wait_event):
    from runtype_provider.operators.batches import RuntypeRunBatchOperator

    ref = {"batch_execution_id": "b-1", "run_url": "https://app.runtype.com/batches/b-1"}
    op = RuntypeRunBatchOperator(task_id="batch", agent_id="agt-1", record_ids=["r-1"], deferrable=True,
                                 allowed_failed_records=0)  # fmt: skip
    op.hook.get_batch_cost = lambda batch: None  # the cost cannot be read: the verdict still holds
    with pytest.raises(RuntypeRunError) as raised:
        op.execute_complete(context, wait_event("finished", "completed", "success", run=ref, failed_records=3))

    lineage = op.get_openlineage_facets_on_failure(task_instance=None)

    assert lineage.run_facets["errorMessage"].message == str(raised.value)
    run = lineage.run_facets["runtype_batch_run"]
    assert (run.agentId, run.flowId, run.status, run.failedRecords, run.totalCostUsd) == (
        "agt-1", None, "completed", 3, None
    )  # fmt: skip
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("runtype://agent", "agt-1")]


def test_a_batch_task_that_submitted_nothing_reports_only_its_flow():
    from runtype_provider.lineage import batch_lineage

    lineage = batch_lineage(batch_target=("flow", "f"), error="refused")

    assert set(lineage.run_facets) == {"errorMessage"} and lineage.inputs == []
    assert lineage.job_facets["runtype_batch"].flowId == "f"
