"""DAG-parse cost: the operators and the sensor load and build only what a DAG file needs (behaviour, not timing).

A fresh interpreter imports ``airflow.sdk`` and the base operators first (every DAG file pays those), then our
task modules, then parses the example DAG files (building every kind of task), and reports what each step
loaded and which pydantic models exist and are built. The client side (hook, transport with its retries and
HTTP clients, response models, the trigger and ``airflow.triggers.base``, ``requests``) must wait for the first
call. ``httpx`` itself is loaded by ``airflow.sdk`` on every supported Airflow, so only our modules that use it
can be checked. ``scripts/bench_import.py`` times the same imports.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# A watcher DAG builds its event trigger when parsed (Airflow's AssetWatcher takes an instance), so it loads the
# trigger side by design; every other example DAG must not.
EXAMPLE_DAGS = sorted(
    str(path)
    for path in (Path(__file__).resolve().parents[2] / "example_dags").glob("*.py")
    if "AssetWatcher(" not in path.read_text()
)
TASK_MODULES = (
    "runtype_provider.operators.runtype",
    "runtype_provider.operators.schedules",
    "runtype_provider.operators.batches",
    "runtype_provider.sensors.runtype",
)
# ``api.spec`` and ``api.ids`` are allowed: a DAG that names a Runtype asset checks the schedule id with their rule;
# ``tasks.results_export`` too (standard library only: the results operator writes its rows with it).
CALL_ONLY = (
    "runtype_provider.hooks.runtype",
    "runtype_provider.client.transport",
    "runtype_provider.client.concurrent_paging",
    "runtype_provider.client.settings",
    "runtype_provider.client.limits",
    "runtype_provider.client.decoding",
    "runtype_provider.api.responses",
    "runtype_provider.api.bodies",
    "runtype_provider.triggers.runtype",
    "airflow.triggers.base",
    "requests",
)
PROBE = r"""
import json, runpy, sys
import airflow.sdk
from airflow.sdk import BaseOperator, BaseSensorOperator
from pydantic import BaseModel

def models():
    found = {}
    for name, module in list(sys.modules.items()):
        if name.startswith("runtype_provider"):
            for value in vars(module).values():
                if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == name:
                    found[f"{name}.{value.__qualname__}"] = bool(value.__pydantic_complete__)
    return found

steps, seen = {}, set(sys.modules)
def step(name):
    global seen
    steps[name] = {"loaded": sorted(set(sys.modules) - seen), "models": models()}
    seen = set(sys.modules)

modules, dag_files = json.loads(sys.argv[1])
for module in modules:
    __import__(module)
step("import")
for path in dag_files:
    runpy.run_path(path)
step("dag files")
import runtype_provider.triggers.runtype
step("trigger")
print(json.dumps(steps))
"""


@pytest.fixture(scope="module")
def steps() -> dict[str, dict]:
    assert EXAMPLE_DAGS, "no example DAG file to parse"
    argument = json.dumps([TASK_MODULES, EXAMPLE_DAGS])
    done = subprocess.run([sys.executable, "-c", PROBE, argument], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("step", ["import", "dag files"])
def test_parsing_a_dag_file_loads_no_client_side_module_and_builds_no_model(steps: dict, step: str) -> None:
    assert sorted(set(steps[step]["loaded"]) & set(CALL_ONLY)) == []
    models = steps[step]["models"]
    assert models, "the run models the tasks are typed with are defined (deferred)"
    assert [name for name, built in models.items() if built] == []
    assert not any(".responses." in name or ".bodies." in name for name in models)


def test_the_probe_sees_what_the_trigger_loads(steps: dict) -> None:
    """The trigger (triggerer side) does load the client: what the checks above look for is really detectable."""
    loaded = set(steps["trigger"]["loaded"])
    assert {
        "runtype_provider.triggers.runtype",
        "runtype_provider.hooks.runtype",
        "runtype_provider.client.transport",
    } <= loaded
    assert any(".responses." in name for name in steps["trigger"]["models"])
