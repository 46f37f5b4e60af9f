"""runtype_provider.operators.results: the results operator (rows, summary, paging, JSON Lines, where files go, only
finished runs, the status filter sent and applied)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeNotFoundError, RuntypeRunError
from runtype_provider.operators.results import RuntypeScheduleRunResultsOperator

pytestmark = pytest.mark.usefixtures("runtype_conn", "clock")

BASE = "https://api.runtype.com"
STATUS = f"{BASE}/v1/batch/status/b-1"


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


@pytest.fixture
def results_op(run_reference, requests_mock, batch_status_body):
    requests_mock.get(STATUS, json=batch_status_body("completed"))  # the run has finished (checked first)
    requests_mock.get(f"{BASE}/v1/schedules/sch-1/runs", json={"data": [{"id": "run-1", "status": "completed"}]})

    def make(**kwargs: Any) -> RuntypeScheduleRunResultsOperator:
        if not {"run", "run_id", "batch_execution_id"} & set(kwargs):
            kwargs["run"] = run_reference
        return RuntypeScheduleRunResultsOperator(task_id="results", **kwargs)

    return make


def test_returns_per_record_outcomes_without_the_result_payload(requests_mock, context, results_op):
    route = serve(requests_mock, BATCH_RESULTS, MIXED)

    rows = results_op().execute(context)

    assert rows == MIXED_OUT
    assert all("result" not in row for row in rows)
    assert route.call_count == 1
    json.dumps(rows)


def test_include_result_payload_adds_each_records_result(requests_mock, context, results_op):
    serve(requests_mock, BATCH_RESULTS, MIXED[:2])

    rows = results_op(include_result_payload=True).execute(context)

    assert rows == [outcome(1, with_result=True), outcome(2, "failed", with_result=True)]


def test_summary_is_pushed_under_its_own_key(requests_mock, context, results_op):
    serve(requests_mock, BATCH_RESULTS, MIXED)

    results_op().execute(context)

    context["ti"].xcom_push.assert_called_once_with(key="summary", value=MIXED_SUMMARY)


def test_statuses_that_are_neither_success_nor_failure_count_only_in_total_and_by_status(
    requests_mock, context, results_op
):
    serve(requests_mock, BATCH_RESULTS, [api_row(1), api_row(2, "skipped"), api_row(3, "failed"), api_row(4, "x")])

    results_op().execute(context)

    context["ti"].xcom_push.assert_called_once_with(
        key="summary",
        value={"total": 4, "failed": 1, "succeeded": 1, "by_status": {"failed": 1, "skipped": 1, "success": 1, "x": 1}},
    )


def test_no_results_gives_an_empty_list_and_a_zero_summary(requests_mock, context, results_op):
    serve(requests_mock, BATCH_RESULTS, [])

    assert results_op().execute(context) == []
    context["ti"].xcom_push.assert_called_once_with(
        key="summary", value={"total": 0, "failed": 0, "succeeded": 0, "by_status": {}}
    )


@pytest.mark.parametrize(
    ("wanted", "kept"), [("success", [1, 3, 4]), ("completed", [1, 3, 4]), ("failed", [2]), ("error", [2])]
)
def test_a_success_or_failure_filter_matches_every_spelling_and_is_applied_on_the_client(
    requests_mock, context, results_op, wanted, kept
):
    """The docs spell success ``success`` on run results and ``completed`` on batch results: the filter is sent in
    the endpoint's spelling (a server honouring it sends only those rows), and the client matches every synonym
    (a server that ignores it sends every row)."""
    ignoring = requests_mock.get(BATCH_RESULTS, json={"data": MIXED, "pagination": {"hasMore": False, "offset": 0}})

    rows = results_op(status_filter=wanted).execute(context)

    assert [row["record_id"] for row in rows] == [f"rec-{i}" for i in kept]
    sent = "failed" if wanted in ("failed", "error") else "completed"
    assert [query["status"] for query in queries(ignoring)] == [[sent]]


@pytest.mark.parametrize(
    ("wanted", "batch", "sent"),
    [("failed", True, "failed"), ("error", False, "failed"), ("success", True, "completed"),
     ("completed", False, "success")],
)  # fmt: skip
def test_a_synonym_filter_is_sent_so_a_few_failures_cost_a_few_pages(
    requests_mock, context, results_op, wanted, batch, sent
):
    success = "completed" if batch else "success"  # each endpoint's documented spelling
    rows = [api_row(i, "failed" if i % 100 == 0 else success) for i in range(1, 1001)]
    route = serve(requests_mock, BATCH_RESULTS if batch else RUN_RESULTS, rows)
    where = {} if batch else {"run_id": "run-1"}

    out = results_op(status_filter=wanted, max_xcom_rows=2000, **where).execute(context)

    assert len(out) == (10 if sent == "failed" else 990)
    assert {tuple(query["status"]) for query in queries(route)} == {(sent,)}
    assert len(queries(route)) == (1 if sent == "failed" else 10)


def test_any_other_status_filter_is_sent_and_applied_on_the_client_too(requests_mock, context, results_op):
    rows = [*MIXED, api_row(5, "skipped")]
    route = serve(requests_mock, BATCH_RESULTS, rows)
    ignoring = requests_mock.get(RUN_RESULTS, json={"data": rows, "pagination": {"hasMore": False, "offset": 0}})

    assert results_op(status_filter="skipped").execute(context) == [outcome(5, "skipped")]
    assert queries(route)[0]["status"] == ["skipped"]
    # A server that ignores the filter: the rows are filtered all the same.
    assert results_op(run_id="run-1", status_filter="skipped").execute(context) == [outcome(5, "skipped")]
    assert queries(ignoring)[0]["status"] == ["skipped"]


def test_pages_through_every_page(requests_mock, context, results_op):
    all_rows = [api_row(i, "failed" if i % 3 == 0 else "success") for i in range(1, 8)]
    route = serve(requests_mock, BATCH_RESULTS, all_rows)

    rows = results_op(page_size=3).execute(context)

    assert [r["record_id"] for r in rows] == [f"rec-{i}" for i in range(1, 8)]
    assert [(q["limit"], q["offset"]) for q in queries(route)] == [(["3"], ["0"]), (["3"], ["3"]), (["3"], ["6"])]
    context["ti"].xcom_push.assert_called_once_with(
        key="summary", value={"total": 7, "failed": 2, "succeeded": 5, "by_status": {"failed": 2, "success": 5}}
    )


def test_run_id_uses_the_run_results_endpoint(requests_mock, context, results_op):
    by_run = serve(requests_mock, RUN_RESULTS, MIXED)
    by_batch = serve(requests_mock, BATCH_RESULTS, [])

    rows = results_op(run_id="run-1").execute(context)

    assert rows == MIXED_OUT
    assert (by_run.call_count, by_batch.call_count) == (1, 0)


def test_reference_without_batch_id_uses_the_run_results_endpoint(requests_mock, context, results_op, run_reference):
    by_run = serve(requests_mock, RUN_RESULTS, MIXED[:1])

    assert results_op(run={**run_reference, "batch_execution_id": None}).execute(context) == [outcome(1)]
    assert by_run.call_count == 1


def test_explicit_batch_id_uses_the_batch_results_endpoint(requests_mock, context, results_op):
    by_batch = serve(requests_mock, BATCH_RESULTS, MIXED[:1])

    assert results_op(batch_execution_id="b-1").execute(context) == [outcome(1)]
    assert by_batch.call_count == 1


def test_run_reference_as_json_string_is_accepted(requests_mock, context, results_op, run_reference):
    serve(requests_mock, BATCH_RESULTS, MIXED[:1])

    assert results_op(run=json.dumps(run_reference)).execute(context) == [outcome(1)]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_exactly_max_xcom_rows_stays_in_xcom(requests_mock, context, results_op):
    serve(requests_mock, BATCH_RESULTS, MIXED)

    assert results_op(max_xcom_rows=4).execute(context) == MIXED_OUT


def test_above_max_xcom_rows_rows_go_to_a_jsonl_file(requests_mock, context, tmp_path, monkeypatch, results_op):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    ti = context["ti"]
    ti.dag_id, ti.run_id, ti.task_id, ti.map_index = "my_dag", "manual__2026-01-01T00:00:00+00:00", "results", -1
    all_rows = [api_row(i, "failed" if i == 4 else "success") for i in range(1, 7)]
    serve(requests_mock, BATCH_RESULTS, all_rows)

    out = results_op(max_xcom_rows=3, page_size=2).execute(context)

    file = tmp_path / "runtype_results" / "my_dag" / "manual__2026-01-01T00%3A00%3A00%2B00%3A00" / "results.jsonl"
    summary = {"total": 6, "failed": 1, "succeeded": 5, "by_status": {"failed": 1, "success": 5}}
    assert out == {"path": str(file), "row_count": 6, "summary": summary}
    with open(out["path"]) as handle:  # a plain local reader opens the returned path
        assert handle.read().count("\n") == 6
    assert read_jsonl(file) == [outcome(i, "failed" if i == 4 else "success") for i in range(1, 7)]
    ti.xcom_push.assert_called_once_with(key="summary", value=summary)


def test_mapped_task_file_name_carries_the_map_index(requests_mock, context, tmp_path, monkeypatch, results_op):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    ti = context["ti"]
    ti.dag_id, ti.run_id, ti.task_id, ti.map_index = "d", "r", "results", 2
    serve(requests_mock, BATCH_RESULTS, MIXED)

    out = results_op(max_xcom_rows=0).execute(context)

    assert out["path"] == f"{tmp_path}/runtype_results/d/r/results@2.jsonl"
    assert out["row_count"] == 4


@pytest.mark.parametrize("executor", ["CeleryExecutor", "KubernetesExecutor", "LocalExecutor,CeleryExecutor"])
def test_on_a_multi_host_executor_without_shared_storage_overflow_fails_saying_what_to_set(
    requests_mock, context, tmp_path, monkeypatch, results_op, executor
):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", executor)
    monkeypatch.delenv("AIRFLOW__RUNTYPE__RESULTS_PATH", raising=False)
    monkeypatch.delenv("AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH", raising=False)
    serve(requests_mock, BATCH_RESULTS, MIXED)

    assert results_op(max_xcom_rows=4).execute(context) == MIXED_OUT  # what fits in XCom needs no storage
    with pytest.raises(RuntypeConfigurationError, match=r"several hosts.*\[runtype\] results_path.*output_path"):
        results_op(max_xcom_rows=3).execute(context)
    assert not (tmp_path / "runtype_results").exists()


@pytest.mark.parametrize("option", ["AIRFLOW__RUNTYPE__RESULTS_PATH", "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH"])
def test_overflow_goes_to_the_configured_shared_location(
    requests_mock, context, tmp_path, monkeypatch, results_op, option
):
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    monkeypatch.setenv(option, f"file://{tmp_path}/shared/")
    ti = context["ti"]
    ti.dag_id, ti.run_id, ti.task_id, ti.map_index = "d", "r", "results", -1
    serve(requests_mock, BATCH_RESULTS, MIXED)

    out = results_op(max_xcom_rows=0).execute(context)

    suffix = "runtype_results/" if "COMMON_IO" in option else ""
    assert out["path"] == f"{tmp_path}/shared/{suffix}d/r/results.jsonl"
    assert len(read_jsonl(Path(out["path"]))) == 4


def test_output_path_forces_file_mode(requests_mock, context, tmp_path, results_op):
    serve(requests_mock, BATCH_RESULTS, MIXED)
    target = tmp_path / "nested" / "dir" / "rows.jsonl"

    out = results_op(output_path=f"file://{target}", include_result_payload=True).execute(context)

    assert out == {"path": str(target), "row_count": 4, "summary": MIXED_SUMMARY}
    assert read_jsonl(target) == [
        outcome(1, with_result=True),
        outcome(2, "failed", with_result=True),
        outcome(3, with_result=True),
        outcome(4, "completed", with_result=True),
    ]
    context["ti"].xcom_push.assert_called_once_with(key="summary", value=MIXED_SUMMARY)
    json.dumps(out)


def test_a_failed_task_leaves_an_existing_file_untouched_and_no_partial_file(
    requests_mock, context, tmp_path, results_op
):
    target = tmp_path / "rows.jsonl"
    target.write_text("previous run\n")
    pages = [{"json": {"data": [api_row(1)], "pagination": {"hasMore": True, "offset": 0}}}, {"status_code": 404}]
    requests_mock.get(BATCH_RESULTS, pages)

    with pytest.raises(RuntypeNotFoundError):
        results_op(output_path=str(target), hook_params={"retry_limit": 0}).execute(context)

    assert target.read_text() == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl"]


def test_the_final_path_never_holds_a_partial_file(requests_mock, context, tmp_path, results_op, monkeypatch):
    import runtype_provider.tasks.results_export as results_module

    target = tmp_path / "rows.jsonl"
    serve(requests_mock, BATCH_RESULTS, [api_row(i) for i in range(1, 1200)])
    seen: list[bool] = []
    write_lines = results_module._write_lines

    def spying(handle: Any, lines: list[str]) -> None:
        seen.append(target.exists())
        write_lines(handle, lines)

    monkeypatch.setattr(results_module, "_write_lines", spying)

    out = results_op(output_path=str(target)).execute(context)

    assert seen == [False, False, False]  # three chunks of at most 500 rows, none written at the final path
    assert out["row_count"] == 1199 and len(target.read_text().splitlines()) == 1199


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
    requests_mock, context, memory_object_store, results_op
):
    from airflow.sdk import ObjectStoragePath

    serve(requests_mock, BATCH_RESULTS, MIXED)
    path = "memory://runtype-results/run-1/rows.jsonl"

    out = results_op(output_path=path).execute(context)

    assert out == {"path": path, "row_count": 4, "summary": MIXED_SUMMARY}
    with ObjectStoragePath(path).open("r") as handle:
        assert [json.loads(line) for line in handle] == MIXED_OUT


def _peak_bytes_writing(requests_mock, context, op: RuntypeScheduleRunResultsOperator, path: Path, rows: int) -> int:
    import tracemalloc

    serve(requests_mock, BATCH_RESULTS, [api_row(i % 60) for i in range(rows)])
    tracemalloc.start()
    try:
        out = op.execute(context)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out["row_count"] == rows
    assert sum(1 for _ in path.open()) == rows
    return peak


def test_file_mode_memory_stays_flat_in_the_number_of_records(requests_mock, context, tmp_path, results_op):
    # Rows are streamed page by page into the file: ten times the records must not need ten times the memory.
    # One page at a time, so the peak does not depend on how far the read-ahead window opened (with two pages at a
    # time a 10-page run sometimes never opened it); the concurrent read-ahead's bound is tested in
    # test_concurrent_paging.py and measured at the default (eight) by scripts/bench_results.py. What grows here
    # (about 40 kB per 10 pages) is requests_mock's request history.
    def peak(name: str, rows: int) -> int:
        path = tmp_path / name
        op = results_op(output_path=f"file://{path}", include_result_payload=True, max_concurrent_pages=1)
        return _peak_bytes_writing(requests_mock, context, op, path, rows)

    peak("warm-up.jsonl", 1_000)  # one-time costs (lazy imports, caches) out of the way, whichever test ran before
    small, large = peak("small.jsonl", 1_000), peak("large.jsonl", 10_000)

    assert large < 2 * small, f"peak {large} B for 10,000 rows vs {small} B for 1,000"


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({}, "run"),
        ({"run": {"run_id": "run-1"}, "run_id": "run-1"}, "run"),
        ({"run": {"batch_execution_id": "b-1"}, "batch_execution_id": "b-1"}, "run"),
        ({"run_id": "run-1", "max_xcom_rows": -1}, "max_xcom_rows"),
        ({"run_id": "run-1", "max_xcom_rows": False}, "max_xcom_rows"),
        ({"run_id": "run-1", "page_size": 0}, "page_size"),
        ({"run_id": "run-1", "page_size": 101}, "page_size"),
    ],
)
def test_results_operator_constructor_errors_name_the_argument(requests_mock, kwargs, argument):
    with pytest.raises(RuntypeConfigurationError, match=f"'{argument}'"):
        RuntypeScheduleRunResultsOperator(task_id="results", **kwargs)

    assert requests_mock.call_count == 0


def test_invalid_run_reference_is_refused_before_any_request(requests_mock, context, results_op):
    with pytest.raises(RuntypeConfigurationError, match="'run'"):
        results_op(run=["not", "a", "reference"]).execute(context)

    assert requests_mock.call_count == 0


def test_ids_run_and_output_path_are_templated():
    fields = set(RuntypeScheduleRunResultsOperator.template_fields)
    assert fields >= {"run", "run_id", "batch_execution_id", "status_filter", "output_path"}
    assert RuntypeScheduleRunResultsOperator.template_fields_renderers["run"] == "json"


# ---- result pages fetched concurrently -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 33, True, 1.5, "4"])
def test_max_concurrent_pages_is_checked_when_the_dag_is_parsed(requests_mock, value):
    with pytest.raises(RuntypeConfigurationError, match=r"^'max_concurrent_pages' must be an integer from 1 to 32"):
        RuntypeScheduleRunResultsOperator(task_id="results", run_id="run-1", max_concurrent_pages=value)

    assert requests_mock.call_count == 0


def test_max_concurrent_pages_reaches_the_hook_and_none_leaves_the_connections_extra(
    requests_mock, context, results_op, monkeypatch
):
    from runtype_provider.hooks.runtype import RuntypeHook

    serve(requests_mock, BATCH_RESULTS, MIXED)
    asked: list[Any] = []
    original = RuntypeHook.iter_run_result_pages

    def spy(self: RuntypeHook, run: Any, **kwargs: Any) -> Any:
        asked.append(kwargs["max_concurrent_pages"])
        return original(self, run, **kwargs)

    monkeypatch.setattr(RuntypeHook, "iter_run_result_pages", spy)

    assert results_op(max_concurrent_pages=3).execute(context) == MIXED_OUT
    assert results_op().execute(context) == MIXED_OUT
    assert asked == [3, None]


@pytest.mark.parametrize("max_concurrent_pages", [None, 1, 4])
def test_rows_keep_their_order_and_every_page_is_asked_for_once_however_many_at_a_time(
    requests_mock, context, tmp_path, results_op, max_concurrent_pages
):
    all_rows = [api_row(i % 60, "failed" if i % 7 == 0 else "success") for i in range(1_234)]
    route = serve(requests_mock, BATCH_RESULTS, all_rows)
    target = tmp_path / "rows.jsonl"

    out = results_op(output_path=str(target), max_concurrent_pages=max_concurrent_pages).execute(context)

    assert read_jsonl(target) == [outcome(i % 60, "failed" if i % 7 == 0 else "success") for i in range(1_234)]
    assert out["row_count"] == 1_234 and out["summary"]["failed"] == len(range(0, 1_234, 7))
    assert sorted(int(q["offset"][0]) for q in queries(route)) == list(range(0, 1_234, 100))


@pytest.mark.parametrize("include_result_payload", [False, True])
def test_rows_read_fast_or_by_the_models_are_written_alike_and_the_api_key_never(
    requests_mock, context, tmp_path, results_op, api_key, include_result_payload
):
    # Page 1 (read in the task's thread) and page 3 (read by a worker) hold the key: the models read them and redact
    # it; the other pages are read straight from their bytes. The file is one format throughout.
    all_rows = [api_row(i % 60, "failed" if i % 7 == 0 else "success") for i in range(350)]
    for index in (5, 260):
        all_rows[index] = api_row(index % 60, "failed", error=f"rejected key {api_key}")
    serve(requests_mock, BATCH_RESULTS, all_rows)
    target = tmp_path / "rows.jsonl"

    out = results_op(
        output_path=str(target), max_concurrent_pages=4, include_result_payload=include_result_payload
    ).execute(context)

    text = target.read_text()
    expected = [
        outcome(i % 60, "failed" if i % 7 == 0 else "success", with_result=include_result_payload) for i in range(350)
    ]
    for index in (5, 260):
        expected[index] = {
            **outcome(index % 60, "failed", with_result=include_result_payload),
            "error": "rejected key ***",
        }
    assert api_key not in text
    assert text == "".join(json.dumps(row) + "\n" for row in expected)
    assert out["row_count"] == 350 and out["summary"]["failed"] == len(range(0, 350, 7)) + 2


@pytest.mark.parametrize("status", ["running", "queued", "mystery"])
def test_the_results_of_a_run_that_has_not_finished_are_refused_before_any_is_read(
    requests_mock, context, results_op, batch_status_body, status
):
    requests_mock.get(STATUS, json=batch_status_body(status))
    rows = serve(requests_mock, BATCH_RESULTS, MIXED)

    with pytest.raises(RuntypeRunError, match=rf"has not finished \(status '{status}'\).*Wait for it first"):
        results_op().execute(context)
    assert rows.call_count == 0


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_the_results_of_a_failed_or_cancelled_run_are_collected(
    requests_mock, context, results_op, batch_status_body, status
):
    requests_mock.get(STATUS, json=batch_status_body(status))
    serve(requests_mock, BATCH_RESULTS, MIXED)

    assert results_op().execute(context) == MIXED_OUT


def test_a_run_named_by_run_id_alone_is_collected_with_a_warning(requests_mock, context, results_op, logs):
    serve(requests_mock, RUN_RESULTS, MIXED)

    assert results_op(run_id="run-1").execute(context) == MIXED_OUT
    assert any("Cannot check that run run-1 has finished" in m for m in logs.messages("warning"))
