"""RuntypeScheduleRunResultsOperator: per-record rows, summary, paging, status filter, JSON Lines file mode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from task_context import REF

from runtype_provider.exceptions import RuntypeConfigurationError
from runtype_provider.operators.runtype import RuntypeScheduleRunResultsOperator

BASE = "https://api.runtype.com"
BATCH_RESULTS = f"{BASE}/v1/schedules/batch/b-1/results"
RUN_RESULTS = f"{BASE}/v1/schedules/runs/run-1/results"


def api_row(i: int, status: str = "success", **extra: Any) -> dict[str, Any]:
    failed = status == "failed"
    return {
        "recordId": f"rec-{i}",
        "status": status,
        "record": {"id": f"rec-{i}", "name": f"Record {i}", "type": "customer"},
        "recordResultId": f"rr-{i}",
        "error": "model refused" if failed else None,
        "result": None if failed else {"score": i, "tags": ["a", "b"]},
        "executedAt": f"2026-01-01T00:00:{i:02d}Z",
        "failedAt": f"2026-01-01T00:01:{i:02d}Z" if failed else None,
        "createdAt": "2026-01-01T00:00:00Z",
        "durationMs": 100 + i,
        **extra,
    }


def outcome(i: int, status: str = "success", *, with_result: bool = False) -> dict[str, Any]:
    failed = status == "failed"
    row = {
        "record_id": f"rec-{i}",
        "record_name": f"Record {i}",
        "status": status,
        "error": "model refused" if failed else None,
        "executed_at": f"2026-01-01T00:00:{i:02d}Z",
        "failed_at": f"2026-01-01T00:01:{i:02d}Z" if failed else None,
        "result_id": f"rr-{i}",
    }
    if with_result:
        row["result"] = None if failed else {"score": i, "tags": ["a", "b"]}
    return row


def serve(requests_mock, url: str, rows: list[dict[str, Any]]):
    """A paged results endpoint honouring limit/offset/status like the real one."""

    def page(request, context):
        qs = parse_qs(urlsplit(request.url).query)
        limit, offset = int(qs["limit"][0]), int(qs.get("offset", ["0"])[0])
        chosen = [r for r in rows if "status" not in qs or r["status"] == qs["status"][0]]
        data = chosen[offset : offset + limit]
        return {
            "data": data,
            "pagination": {
                "hasMore": offset + len(data) < len(chosen),
                "limit": limit,
                "offset": offset,
                "total": len(chosen),
            },
            "summary": {"recordsWithFailedSteps": 0},
        }

    return requests_mock.get(url, json=page)


def queries(route) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(r.url).query) for r in route.request_history]


MIXED = [api_row(1), api_row(2, "failed"), api_row(3), api_row(4, "completed")]
MIXED_OUT = [outcome(1), outcome(2, "failed"), outcome(3), outcome(4, "completed")]
MIXED_SUMMARY = {"total": 4, "failed": 1, "succeeded": 3, "by_status": {"completed": 1, "failed": 1, "success": 2}}


def make_op(**kwargs: Any) -> RuntypeScheduleRunResultsOperator:
    if not {"run", "run_id", "batch_execution_id"} & set(kwargs):
        kwargs["run"] = REF
    return RuntypeScheduleRunResultsOperator(task_id="results", **kwargs)


def test_returns_per_record_outcomes_without_the_result_payload(runtype_conn, requests_mock, context):
    route = serve(requests_mock, BATCH_RESULTS, MIXED)

    rows = make_op().execute(context)

    assert rows == MIXED_OUT
    assert all("result" not in row for row in rows)
    assert route.call_count == 1
    json.dumps(rows)


def test_include_result_payload_adds_each_records_result(runtype_conn, requests_mock, context):
    serve(requests_mock, BATCH_RESULTS, MIXED[:2])

    rows = make_op(include_result_payload=True).execute(context)

    assert rows == [outcome(1, with_result=True), outcome(2, "failed", with_result=True)]


def test_summary_is_pushed_under_its_own_key(runtype_conn, requests_mock, context):
    serve(requests_mock, BATCH_RESULTS, MIXED)

    make_op().execute(context)

    context["ti"].xcom_push.assert_called_once_with(key="summary", value=MIXED_SUMMARY)


def test_statuses_that_are_neither_success_nor_failure_count_only_in_total_and_by_status(
    runtype_conn, requests_mock, context
):
    serve(requests_mock, BATCH_RESULTS, [api_row(1), api_row(2, "skipped"), api_row(3, "failed"), api_row(4, "x")])

    make_op().execute(context)

    context["ti"].xcom_push.assert_called_once_with(
        key="summary",
        value={"total": 4, "failed": 1, "succeeded": 1, "by_status": {"failed": 1, "skipped": 1, "success": 1, "x": 1}},
    )


def test_no_results_gives_an_empty_list_and_a_zero_summary(runtype_conn, requests_mock, context):
    serve(requests_mock, BATCH_RESULTS, [])

    assert make_op().execute(context) == []
    context["ti"].xcom_push.assert_called_once_with(
        key="summary", value={"total": 0, "failed": 0, "succeeded": 0, "by_status": {}}
    )


def test_status_filter_is_sent_as_a_query_parameter(runtype_conn, requests_mock, context):
    route = serve(requests_mock, BATCH_RESULTS, MIXED)

    rows = make_op(status_filter="failed").execute(context)

    assert rows == [outcome(2, "failed")]
    assert queries(route)[0]["status"] == ["failed"]


def test_pages_through_every_page(runtype_conn, requests_mock, context):
    all_rows = [api_row(i, "failed" if i % 3 == 0 else "success") for i in range(1, 8)]
    route = serve(requests_mock, BATCH_RESULTS, all_rows)

    rows = make_op(page_size=3).execute(context)

    assert [r["record_id"] for r in rows] == [f"rec-{i}" for i in range(1, 8)]
    assert [(q["limit"], q["offset"]) for q in queries(route)] == [(["3"], ["0"]), (["3"], ["3"]), (["3"], ["6"])]
    context["ti"].xcom_push.assert_called_once_with(
        key="summary", value={"total": 7, "failed": 2, "succeeded": 5, "by_status": {"failed": 2, "success": 5}}
    )


def test_run_id_uses_the_run_results_endpoint(runtype_conn, requests_mock, context):
    by_run = serve(requests_mock, RUN_RESULTS, MIXED)
    by_batch = serve(requests_mock, BATCH_RESULTS, [])

    rows = make_op(run_id="run-1").execute(context)

    assert rows == MIXED_OUT
    assert (by_run.call_count, by_batch.call_count) == (1, 0)


def test_reference_without_batch_id_uses_the_run_results_endpoint(runtype_conn, requests_mock, context):
    by_run = serve(requests_mock, RUN_RESULTS, MIXED[:1])

    assert make_op(run={**REF, "batch_execution_id": None}).execute(context) == [outcome(1)]
    assert by_run.call_count == 1


def test_explicit_batch_id_uses_the_batch_results_endpoint(runtype_conn, requests_mock, context):
    by_batch = serve(requests_mock, BATCH_RESULTS, MIXED[:1])

    assert make_op(batch_execution_id="b-1").execute(context) == [outcome(1)]
    assert by_batch.call_count == 1


def test_run_reference_as_json_string_is_accepted(runtype_conn, requests_mock, context):
    serve(requests_mock, BATCH_RESULTS, MIXED[:1])

    assert make_op(run=json.dumps(REF)).execute(context) == [outcome(1)]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_exactly_max_xcom_rows_stays_in_xcom(runtype_conn, requests_mock, context):
    serve(requests_mock, BATCH_RESULTS, MIXED)

    assert make_op(max_xcom_rows=4).execute(context) == MIXED_OUT


def test_above_max_xcom_rows_rows_go_to_a_jsonl_file(runtype_conn, requests_mock, context, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    ti = context["ti"]
    ti.dag_id, ti.run_id, ti.task_id, ti.map_index = "my_dag", "manual__2026-01-01T00:00:00+00:00", "results", -1
    all_rows = [api_row(i, "failed" if i == 4 else "success") for i in range(1, 7)]
    serve(requests_mock, BATCH_RESULTS, all_rows)

    out = make_op(max_xcom_rows=3, page_size=2).execute(context)

    file = tmp_path / "runtype_results" / "my_dag" / "manual__2026-01-01T00_00_00_00_00" / "results.jsonl"
    summary = {"total": 6, "failed": 1, "succeeded": 5, "by_status": {"failed": 1, "success": 5}}
    assert out == {"path": f"file://{file}", "row_count": 6, "summary": summary}
    assert read_jsonl(file) == [outcome(i, "failed" if i == 4 else "success") for i in range(1, 7)]
    ti.xcom_push.assert_called_once_with(key="summary", value=summary)


def test_mapped_task_file_name_carries_the_map_index(runtype_conn, requests_mock, context, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    ti = context["ti"]
    ti.dag_id, ti.run_id, ti.task_id, ti.map_index = "d", "r", "results", 2
    serve(requests_mock, BATCH_RESULTS, MIXED)

    out = make_op(max_xcom_rows=0).execute(context)

    assert out["path"] == f"file://{tmp_path}/runtype_results/d/r/results_2.jsonl"
    assert out["row_count"] == 4


def test_output_path_forces_file_mode(runtype_conn, requests_mock, context, tmp_path):
    serve(requests_mock, BATCH_RESULTS, MIXED)
    target = tmp_path / "nested" / "dir" / "rows.jsonl"

    out = make_op(output_path=f"file://{target}", include_result_payload=True).execute(context)

    assert out == {"path": f"file://{target}", "row_count": 4, "summary": MIXED_SUMMARY}
    assert read_jsonl(target) == [
        outcome(1, with_result=True),
        outcome(2, "failed", with_result=True),
        outcome(3, with_result=True),
        outcome(4, "completed", with_result=True),
    ]
    context["ti"].xcom_push.assert_called_once_with(key="summary", value=MIXED_SUMMARY)
    json.dumps(out)


@pytest.fixture
def memory_object_store(monkeypatch):
    """Register fsspec's in-memory filesystem as ``memory://``: a stand-in for s3:// or gs:// (no provider)."""
    from airflow.sdk.io import fs as airflow_fs
    from fsspec.implementations.memory import MemoryFileSystem

    registered = dict(airflow_fs._register_filesystems())
    registered["memory"] = lambda conn_id, options: MemoryFileSystem()
    monkeypatch.setattr(airflow_fs, "_register_filesystems", lambda: registered)
    yield
    MemoryFileSystem.store.clear()


def test_output_path_on_a_remote_object_store_is_written_without_mkdir(
    runtype_conn, requests_mock, context, memory_object_store
):
    from airflow.sdk import ObjectStoragePath

    serve(requests_mock, BATCH_RESULTS, MIXED)
    path = "memory://runtype-results/run-1/rows.jsonl"

    out = make_op(output_path=path).execute(context)

    assert out == {"path": path, "row_count": 4, "summary": MIXED_SUMMARY}
    with ObjectStoragePath(path).open("r") as handle:
        assert [json.loads(line) for line in handle] == MIXED_OUT


def _peak_bytes_writing(requests_mock, context, path: Path, rows: int) -> int:
    import tracemalloc

    serve(requests_mock, BATCH_RESULTS, [api_row(i % 60) for i in range(rows)])
    op = make_op(output_path=f"file://{path}", include_result_payload=True)
    tracemalloc.start()
    try:
        out = op.execute(context)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out["row_count"] == rows
    assert sum(1 for _ in path.open()) == rows
    return peak


def test_file_mode_memory_stays_flat_in_the_number_of_records(runtype_conn, requests_mock, context, tmp_path):
    # Rows are streamed page by page into the file: ten times the records must not need ten times the memory.
    small = _peak_bytes_writing(requests_mock, context, tmp_path / "small.jsonl", 1_000)
    large = _peak_bytes_writing(requests_mock, context, tmp_path / "large.jsonl", 10_000)

    assert large < 2 * small, f"peak {large} B for 10,000 rows vs {small} B for 1,000"


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({}, "run"),
        ({"run": REF, "run_id": "run-1"}, "run"),
        ({"run": REF, "batch_execution_id": "b-1"}, "run"),
        ({"run": REF, "max_xcom_rows": -1}, "max_xcom_rows"),
        ({"run": REF, "max_xcom_rows": False}, "max_xcom_rows"),
        ({"run": REF, "page_size": 0}, "page_size"),
        ({"run": REF, "page_size": 101}, "page_size"),
    ],
)
def test_constructor_errors_name_the_argument(requests_mock, kwargs, argument):
    with pytest.raises(RuntypeConfigurationError, match=f"'{argument}'"):
        RuntypeScheduleRunResultsOperator(task_id="results", **kwargs)

    assert requests_mock.call_count == 0


def test_invalid_run_reference_is_refused_before_any_request(runtype_conn, requests_mock, context):
    with pytest.raises(RuntypeConfigurationError, match="'run'"):
        make_op(run=["not", "a", "reference"]).execute(context)

    assert requests_mock.call_count == 0


def test_ids_run_and_output_path_are_templated():
    fields = set(RuntypeScheduleRunResultsOperator.template_fields)
    assert fields >= {"run", "run_id", "batch_execution_id", "status_filter", "output_path"}
    assert RuntypeScheduleRunResultsOperator.template_fields_renderers["run"] == "json"
