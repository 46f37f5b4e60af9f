"""runtype_provider.tasks.results_export: the XCom row, the running summary (status synonyms), the status filter
applied on the client, the JSON Lines file written whole or not at all, and the default path."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from runtype_provider.api.responses import RecordResult
from runtype_provider.exceptions import RuntypeConfigurationError
from runtype_provider.tasks.results_export import (
    WRITE_CHUNK_ROWS,
    ResultSummary,
    default_results_path,
    outcome_lines,
    record_outcome,
    results_base,
    results_file,
    selected_pages,
    write_jsonl,
)


def row(status: str | None, record_id: str = "r") -> Any:
    return RecordResult(record_id=record_id, status=status, result={"n": 1}, record={"name": "Név"})


def test_the_summary_counts_each_synonym_once_and_an_unknown_status_only_in_total() -> None:
    summary = ResultSummary()
    summary.add([row("success"), row("completed"), row("failed"), row("error"), row("skipped"), row(None)])
    summary.add([row("success")])

    assert summary.to_dict() == {
        "total": 7,
        "failed": 2,
        "succeeded": 3,
        "by_status": {"None": 1, "completed": 1, "error": 1, "failed": 1, "skipped": 1, "success": 2},
    }


def test_the_status_filter_keeps_synonyms_and_counts_only_what_passes() -> None:
    summary = ResultSummary()
    pages = [[row("completed", "a"), row("failed", "b")], [row("success", "c"), row("skipped", "d")]]

    kept = [[r.record_id for r in rows] for rows in selected_pages(iter(pages), "success", summary)]

    assert kept == [["a"], ["c"]]
    assert (summary.total, summary.succeeded) == (2, 2)
    assert [[r.record_id for r in rows] for rows in selected_pages(iter(pages), None, ResultSummary())] == [
        ["a", "b"],
        ["c", "d"],
    ]


@pytest.mark.parametrize("include_result", [False, True])
def test_a_line_is_the_outcome_as_json_dumps_writes_it(include_result: bool) -> None:
    rows = [row("failed", 'r"1'), RecordResult(record_id="r2")]

    assert outcome_lines(rows, include_result) == [
        json.dumps(record_outcome(r, include_result), default=str) for r in rows
    ]
    assert ("result" in record_outcome(rows[0], include_result)) is include_result


def test_the_file_holds_every_line_in_order_and_no_partial_file_is_left(tmp_path) -> None:
    target = tmp_path / "deep" / "rows.jsonl"
    chunks = [[f'{{"n": {i}}}' for i in range(start, start + 300)] for start in range(0, 1500, 300)]

    where = write_jsonl(str(target), iter(chunks))

    assert where == str(target)
    assert [json.loads(line)["n"] for line in target.read_text().splitlines()] == list(range(1500))
    assert WRITE_CHUNK_ROWS < 1500 and sorted(p.name for p in target.parent.iterdir()) == ["rows.jsonl"]


def test_a_failed_write_leaves_the_existing_file_and_no_partial_file(tmp_path) -> None:
    target = tmp_path / "rows.jsonl"
    target.write_text("previous run\n")

    def chunks() -> Any:
        yield ['{"n": 1}']
        raise RuntimeError("the listing failed")

    with pytest.raises(RuntimeError, match="the listing failed"):
        write_jsonl(str(target), chunks())

    assert target.read_text() == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl"]


def test_rows_of_either_reading_give_the_same_outcome() -> None:
    """A row read from bytes (``result_value()``) and a model row are handed on alike."""
    fast = SimpleNamespace(
        record_id="r", status="success", record=None, error=None, executed_at=None, failed_at=None,
        record_result_id=None, result_value=lambda: {"n": 1},
    )  # fmt: skip
    model = RecordResult(record_id="r", status="success", result={"n": 1})

    assert record_outcome(fast, True) == record_outcome(model, True)
    assert outcome_lines([fast], True) == outcome_lines([model], True)


@pytest.mark.parametrize(
    ("ids", "parts"),
    [
        (("d", "..", "t", -1), ["d", "%2E%2E", "t.jsonl"]),
        (("..", ".", "t", 3), ["%2E%2E", "%2E", "t@3.jsonl"]),
        (("d", "a/../../etc", "t", -1), ["d", "a%2F..%2F..%2Fetc", "t.jsonl"]),
        (("d", "a:b", "t", -1), ["d", "a%3Ab", "t.jsonl"]),
        (("d", "a_b", "t", -1), ["d", "a_b", "t.jsonl"]),
        (("d", "r", "t_2", -1), ["d", "r", "t_2.jsonl"]),
        (("d", "r", "t", 2), ["d", "r", "t@2.jsonl"]),
    ],
)
def test_the_default_path_keeps_each_id_inside_its_own_directory_and_apart_from_others(ids, parts):
    path = default_results_path("/home/af/", *ids)

    assert path.split("/") == ["", "home", "af", "runtype_results", *parts]


@pytest.mark.parametrize(
    ("results_path", "xcom_path", "executors", "base"),
    [
        ("s3://b/rt/", "s3://x/xcom", "CeleryExecutor", "s3://b/rt"),
        (" ", "s3://x/xcom/", "KubernetesExecutor", "s3://x/xcom/runtype_results"),
        (None, None, "LocalExecutor", "/home/af/runtype_results"),
        (None, "", "airflow.executors.local_executor.LocalExecutor", "/home/af/runtype_results"),
        (None, None, "LocalExecutor, SequentialExecutor", "/home/af/runtype_results"),
    ],
)
def test_the_results_base_is_shared_storage_else_home_only_on_one_host(results_path, xcom_path, executors, base):
    assert results_base(results_path, xcom_path, executors, "/home/af/") == base


@pytest.mark.parametrize("executors", ["CeleryExecutor", "LocalExecutor,KubernetesExecutor", "my.Custom", "", None])
def test_a_multi_host_or_unknown_executor_without_shared_storage_is_refused(executors) -> None:
    with pytest.raises(RuntypeConfigurationError, match=r"results_path.*xcom_objectstorage_path.*output_path"):
        results_base(None, "", executors, "/home/af")


def test_a_results_file_sits_under_its_base_by_dag_run_and_task() -> None:
    assert results_file("s3://b/rt/", "d", "r:1", "t", 3) == "s3://b/rt/d/r%3A1/t@3.jsonl"
