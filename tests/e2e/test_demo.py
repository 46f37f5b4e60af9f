"""``make demo``'s closing lines (scripts/demo.py): where the Airflow home, the logs and the results file are, and
what to try next, as paths that exist and commands that name real files (the demo itself runs in ``make demo``)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    spec = importlib.util.spec_from_file_location("_demo_script", ROOT / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "ROOT", tmp_path)
    monkeypatch.setattr(module, "HOME", tmp_path / ".demo-airflow")
    return module


def test_the_demo_ends_by_saying_where_things_are_and_what_to_try_next(demo, capsys) -> None:
    home = demo.HOME
    task_logs = home / "logs" / f"dag_id={demo.DAG_ID}" / "run_id=manual__2026-12-07"
    task_logs.mkdir(parents=True)
    log, results = home / "demo.log", home / "results.json"

    demo.print_where(log, results)

    out = capsys.readouterr().out
    assert "Airflow home (airflow.cfg, SQLite metadata DB): .demo-airflow/" in out
    assert f".demo-airflow/logs/dag_id={demo.DAG_ID}/run_id=manual__2026-12-07/" in out
    assert ".demo-airflow/demo.log" in out and ".demo-airflow/results.json" in out
    assert "Try next:" in out and "make test" in out
    for path in re.findall(r"\b((?:example_dags|docs)/[\w./-]+\.(?:py|md))\b", out):
        assert (ROOT / path).is_file(), path
    assert f"example_dags/{demo.DAG_ID}.py" in out


def test_without_per_task_log_files_the_demo_points_at_its_own_log(demo, capsys) -> None:
    demo.print_where(demo.HOME / "demo.log", demo.HOME / "results.json")

    out = capsys.readouterr().out
    assert "dag_id=" not in out
    assert "Task logs and the Airflow commands' output:     .demo-airflow/demo.log" in out
