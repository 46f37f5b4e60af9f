"""Run a DAG with ``dag.test()`` and read back what it produced: for end-to-end tests of DAGs that use
Runtype (ours and DAG authors' own). Needs an initialised Airflow metadata DB and the DAG file inside the
configured dags folder (Airflow's own requirement for ``dag.test()``).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class DagTestResult:
    """Outcome of one ``dag.test()`` run: DagRun state, task states and every XCom, keyed for lookups."""

    dag_id: str
    run_id: str
    state: str
    task_states: dict[tuple[str, int], str] = field(default_factory=dict)
    xcoms: dict[tuple[str, int, str], Any] = field(default_factory=dict)

    def xcom(self, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        return self.xcoms[(task_id, map_index, key)]

    def task_state(self, task_id: str, map_index: int = -1) -> str:
        return self.task_states[(task_id, map_index)]


def load_dag(path: str | Path, dag_id: str) -> Any:
    """Import a DAG file by path and return the DAG named ``dag_id``."""
    from airflow.sdk import DAG

    path = Path(path)
    spec = importlib.util.spec_from_file_location(f"_runtype_dag_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import DAG file {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for value in vars(module).values():
        if isinstance(value, DAG) and value.dag_id == dag_id:
            return value
    raise LookupError(f"no DAG {dag_id!r} in {path}")


def read_xcoms(dag_id: str, run_id: str) -> dict[tuple[str, int, str], Any]:
    """Every XCom of one DAG run, as ``{(task_id, map_index, key): value}``."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=run_id, dag_ids=dag_id, key=None).with_only_columns(
            XComModel.task_id, XComModel.map_index, XComModel.key, XComModel.value
        )
        return {(r.task_id, r.map_index, r.key): XComModel.deserialize_value(r) for r in session.execute(query).all()}


def run_dag_test(dag: Any, *, conf: dict[str, Any] | None = None) -> DagTestResult:
    """``dag.test()`` then collect states and XComs."""
    dag_run = dag.test(run_conf=conf)
    states = {(ti.task_id, ti.map_index): str(ti.state) for ti in dag_run.get_task_instances()}
    return DagTestResult(
        dag_id=dag.dag_id,
        run_id=dag_run.run_id,
        state=str(dag_run.state),
        task_states=states,
        xcoms=read_xcoms(dag.dag_id, dag_run.run_id),
    )
