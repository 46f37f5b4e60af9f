"""``runtype_provider.testing.dag_runs``: ``load_dag`` picks one DAG out of a file, ``run_dag_test`` runs it with
``dag.test()`` and collects the run's state, task states and XComs, which ``read_xcoms`` reads from the metadata DB
and ``DagTestResult`` looks up by task, key and map index."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtype_provider.testing.dag_runs import DagTestResult, load_dag, read_xcoms, run_dag_test

DAG_FILE = textwrap.dedent(
    """
    from airflow.sdk import DAG, task

    with DAG("probe", schedule=None) as probe:

        @task
        def produce(**context):
            context["ti"].xcom_push(key="extra", value={"conf": context["dag_run"].conf})
            return list(range(context["dag_run"].conf.get("n", 2)))

        @task
        def double(x):
            return x * 2

        double.expand(x=produce())

    with DAG("probe_failing", schedule=None) as probe_failing:

        @task
        def boom():
            raise ValueError("boom")

        boom()
    """
)


@pytest.fixture(scope="module")
def dags_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A DAG bundle folder holding ``DAG_FILE`` next to the configured dags folder (``dag.test()`` finds a DAG
    through its bundle), and an initialised metadata DB."""
    from airflow.utils.db import initdb

    folder = tmp_path_factory.mktemp("dags")
    (folder / "probe_dags.py").write_text(DAG_FILE)
    local = "airflow.dag_processing.bundles.local.LocalDagBundle"
    bundles = [
        {"name": "dags-folder", "classpath": local, "kwargs": {}},
        {"name": "runtype-dag-runs-probe", "classpath": local, "kwargs": {"path": str(folder)}},
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
        initdb()
        yield folder


def test_result_lookups_default_to_the_return_value_of_an_unmapped_task():
    result = DagTestResult(
        dag_id="d",
        run_id="r",
        state="success",
        task_states={("a", -1): "success", ("b", 0): "failed"},
        xcoms={("a", -1, "return_value"): 1, ("a", -1, "extra"): 2, ("b", 0, "return_value"): 3},
    )
    assert (result.xcom("a"), result.xcom("a", key="extra"), result.xcom("b", map_index=0)) == (1, 2, 3)
    assert (result.task_state("a"), result.task_state("b", map_index=0)) == ("success", "failed")
    with pytest.raises(KeyError):
        result.xcom("b")


def test_load_dag_returns_the_named_dag_of_a_file(tmp_path):
    path = tmp_path / "two_dags.py"
    path.write_text(DAG_FILE)
    assert load_dag(path, "probe_failing").dag_id == "probe_failing"
    dag = load_dag(str(path), "probe")
    assert (dag.dag_id, sorted(dag.task_ids)) == ("probe", ["double", "produce"])


def test_load_dag_refuses_a_missing_dag_and_a_file_python_cannot_import(tmp_path):
    path = tmp_path / "two_dags.py"
    path.write_text(DAG_FILE)
    with pytest.raises(LookupError, match="no DAG 'absent' in"):
        load_dag(path, "absent")
    not_python = tmp_path / "dag.txt"
    not_python.write_text(DAG_FILE)
    with pytest.raises(ImportError, match="cannot import DAG file"):
        load_dag(not_python, "probe")


def test_run_dag_test_collects_states_and_every_xcom(dags_folder):
    result = run_dag_test(load_dag(dags_folder / "probe_dags.py", "probe"), conf={"n": 3})
    assert (result.dag_id, result.state) == ("probe", "success")
    assert result.task_states == {("produce", -1): "success", **{("double", i): "success" for i in range(3)}}
    assert result.xcom("produce") == [0, 1, 2]
    assert result.xcom("produce", key="extra") == {"conf": {"n": 3}}
    assert [result.xcom("double", map_index=i) for i in range(3)] == [0, 2, 4]
    assert read_xcoms("probe", result.run_id) == result.xcoms
    assert set(result.xcoms) == {
        ("produce", -1, "return_value"),
        ("produce", -1, "extra"),
        *{("double", i, "return_value") for i in range(3)},
    }


def test_run_dag_test_reports_a_failed_run(dags_folder):
    result = run_dag_test(load_dag(dags_folder / "probe_dags.py", "probe_failing"))
    assert (result.state, result.task_state("boom"), result.xcoms) == ("failed", "failed", {})


def test_read_xcoms_of_an_unknown_run_is_empty(dags_folder):
    assert read_xcoms("probe", "no_such_run") == {}
