"""Parsing the example DAGs (what the scheduler's DAG processor does constantly) makes no Runtype call."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from runtype_provider.hooks.runtype import RuntypeHook

DAG_FILES = sorted((Path(__file__).resolve().parents[2] / "example_dags").glob("*.py"))


@pytest.mark.parametrize("path", DAG_FILES, ids=[p.stem for p in DAG_FILES])
def test_parsing_an_example_dag_makes_no_api_call_and_reads_no_connection(path: Path, monkeypatch) -> None:
    from airflow.sdk import DAG

    calls: list[str] = []
    monkeypatch.setattr(RuntypeHook, "send", lambda self, request: calls.append(request.path))
    monkeypatch.setattr(RuntypeHook, "get_connection", classmethod(lambda cls, conn_id: calls.append(conn_id)))
    spec = importlib.util.spec_from_file_location(f"_parse_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)

    spec.loader.exec_module(module)

    dags = {value.dag_id: value for value in vars(module).values() if isinstance(value, DAG)}
    assert len(dags[path.stem].tasks) >= 3  # the file's main DAG; others (e.g. an asset's consumer) extend its id
    assert all(dag_id.startswith(f"{path.stem}_") for dag_id in dags if dag_id != path.stem)
    assert calls == []


def test_every_schedule_name_an_example_dag_uses_names_one_demo_schedule() -> None:
    import re

    from runtype_provider.testing.demo_data import DEMO_SCHEDULES

    used = {
        name
        for path in DAG_FILES
        for name in re.findall(r'(?:schedule_name=|SCHEDULE_NAME = )"([^"]+)"', path.read_text())
    }
    demo_names = [spec["name"] for spec in DEMO_SCHEDULES if "product_id" not in spec]
    assert used and all(demo_names.count(name) == 1 for name in used), (used, demo_names)
