"""runtype_provider.client.results.

Results pages read straight from their bytes give exactly what the models give, or are handed to the models."""

from __future__ import annotations

import gc
import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic.alias_generators import to_camel

from runtype_provider.api.responses import RecordResult
from runtype_provider.api.spec import ENDPOINTS
from runtype_provider.client.decoding import read_response
from runtype_provider.client.request import parse_answer
from runtype_provider.client.results import ResultRowPage, read_result_page
from runtype_provider.exceptions import RuntypeResponseError
from runtype_provider.tasks.results_export import outcome_lines, record_outcome

API_KEY = "rt_fake_key_for_result_pages_0123456789"
PATH = "/v1/schedules/batch/b1/results"
FAST = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
HANDED_OVER = object()


def models_reading(content: bytes) -> Any:
    """What the normal path makes of a 2xx body (raises its typed error when it refuses the body)."""
    return parse_answer(ENDPOINTS["get_batch_results"], read_response("GET", PATH, 200, {}, content, API_KEY), PATH)


def fast_reading(content: bytes) -> Any:
    return read_result_page(content, API_KEY, lambda: HANDED_OVER)


def same_reading(fast: Any, normal: Any) -> None:
    """Same rows (as written to a file and to XCom, with and without results) and the same paging decision."""
    for include in (False, True):
        expected = [json.dumps(record_outcome(row, include), default=str) for row in normal.data]
        assert outcome_lines(fast.data, include) == outcome_lines(normal.data, include) == expected
        assert [record_outcome(row, include) for row in fast.data] == [record_outcome(r, include) for r in normal.data]
    got, want = fast.pagination, normal.pagination
    assert (got.has_more, got.offset, got.total, got.limit) == (want.has_more, want.offset, want.total, want.limit)


# ---- arbitrary pages --------------------------------------------------------------------------------------------


def json_values(floats: st.SearchStrategy[float]) -> st.SearchStrategy[Any]:
    leaves = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | floats | st.text(max_size=8)
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=6,
    )


any_json = json_values(st.floats())  # NaN and infinities too: Python's json module decodes them
SNAKE = sorted(name for name in RecordResult.model_fields if to_camel(name) != name)
texts = st.none() | st.text(max_size=8) | st.sampled_from(["success", "failed", 'é\u2028"\\/'])
counts = st.none() | st.integers(min_value=0, max_value=2**65)
row_values = {
    **{to_camel(name): texts for name in RecordResult.model_fields},
    "record": st.none() | st.fixed_dictionaries({}, optional={"id": texts, "name": texts, "type": texts}),
    "result": json_values(st.floats(allow_nan=False, allow_infinity=False)),
    **{to_camel(name): counts for name in ("duration_ms", "step_count", "failed_step_count")},
}
typed_rows = st.fixed_dictionaries(
    {"recordId": st.text(max_size=8)}, optional={k: v for k, v in row_values.items() if k != "recordId"}
)
odd_values = any_json | st.floats(min_value=-3, max_value=3) | st.integers(min_value=-3, max_value=3)
odd_rows = st.builds(  # a typed row with one field (or a snake_case spelling of one) set to any JSON value
    lambda row, key, value: {**row, key: value},
    typed_rows,
    st.sampled_from(SNAKE) | st.sampled_from(list(row_values)),
    odd_values,
)
usual_paging = st.fixed_dictionaries(
    {"hasMore": st.booleans(), "offset": st.integers(min_value=0, max_value=500)}, optional={"total": counts}
)
odd_paging = st.builds(
    lambda paging, key, value: {**paging, key: value},
    usual_paging,
    st.sampled_from(["hasMore", "offset", "total", "limit", "has_more"]),
    odd_values,
)
pages = st.fixed_dictionaries(
    {"data": st.lists(typed_rows, max_size=3) | st.lists(odd_rows, min_size=1, max_size=2)},
    optional={
        "pagination": usual_paging | odd_paging,
        "summary": st.none() | st.fixed_dictionaries({}, optional={"recordsWithFailedSteps": counts | odd_values}),
        "extra": any_json,
    },
)


@FAST
@given(page=pages, ensure_ascii=st.booleans())
def test_a_page_read_fast_is_the_models_page_or_is_handed_to_the_models(page: dict[str, Any], ensure_ascii: bool):
    content = json.dumps(page, ensure_ascii=ensure_ascii).encode()
    fast = fast_reading(content)
    try:
        normal = models_reading(content)
    except RuntypeResponseError:
        assert fast is HANDED_OVER  # the models refuse it: the fast reading never accepts it instead
        return
    if fast is not HANDED_OVER:
        same_reading(fast, normal)


# ---- the usual page, and what is handed over ----------------------------------------------------------------------


def api_row(i: int, **changes: Any) -> dict[str, Any]:
    row = {
        "agentExecutionId": None,
        "createdAt": "2026-01-01T00:00:00Z",
        "durationMs": 12,
        "error": None,
        "executedAt": "2026-01-01T00:00:01Z",
        "executionEngine": "runtime",
        "failedAt": None,
        "failedStepCount": 0,
        "flowId": "flow_1",
        "flowName": "Flow ü",
        "record": {"id": f"rec_{i}", "name": f"Record «{i}»", "type": "record"},
        "recordId": f"rec_{i}",
        "recordResultId": f"res_{i}",
        "result": {"summary": f"Processed {i}", "scores": [1, 2.5, -3e-7, 10**30], "ok": True, "none": None},
        "status": "completed",
        "stepCount": 3,
    }
    return {**row, **changes}


def usual_page(*rows: dict[str, Any], **pagination: Any) -> bytes:
    paging = {"hasMore": True, "limit": 100, "offset": 0, "total": 500, **pagination}
    body = {"data": list(rows), "pagination": paging, "summary": {"recordsWithFailedSteps": 1}, "newField": [1]}
    return json.dumps(body, ensure_ascii=False).encode()


def test_the_usual_page_is_read_fast_with_the_models_answer():
    content = usual_page(api_row(0), api_row(1, status="failed", error="boom", result=None), api_row(2, record=None))

    fast = fast_reading(content)

    assert isinstance(fast, ResultRowPage) and [row.record_id for row in fast.data] == ["rec_0", "rec_1", "rec_2"]
    same_reading(fast, models_reading(content))


def test_rows_read_fast_are_not_tracked_by_the_garbage_collector():
    fast = fast_reading(usual_page(api_row(0), api_row(1)))

    # no reference cycles are possible in them: a page of rows adds nothing that triggers a collection
    assert not any(gc.is_tracked(row) or gc.is_tracked(row.record) for row in fast.data)
    assert not gc.is_tracked(fast.pagination)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"\xef\xbb\xbf" + usual_page(api_row(0)), id="byte-order mark"),
        pytest.param(usual_page(api_row(0)).replace(b"rec_0", b"rec_\xff"), id="invalid UTF-8"),
        pytest.param(b"", id="empty body"),
        pytest.param(usual_page(api_row(0, error=API_KEY)), id="the API key (redacted by the models)"),
        pytest.param(usual_page(api_row(0, error=API_KEY.replace("_", "\\u005f"))), id="an escaped API key"),
        pytest.param(usual_page({"record_id": "r1"}), id="snake_case id"),
        pytest.param(usual_page(api_row(0, executed_at="later")), id="snake_case beside camelCase"),
        pytest.param(usual_page(api_row(0, durationMs="5")), id="count as text"),
        pytest.param(usual_page(api_row(0, durationMs=5.0)), id="count as float"),
        pytest.param(usual_page(api_row(0, result=float("nan"))), id="NaN"),
        pytest.param(usual_page(api_row(0)).replace(b'"rec_0"', b'"\\ud800"', 1), id="lone surrogate"),
        pytest.param(usual_page(api_row(0), hasMore="true"), id="hasMore as text"),
        pytest.param(usual_page(api_row(0), has_more=False), id="snake_case hasMore"),
        pytest.param(usual_page(api_row(0), offset=-1), id="negative offset"),
        pytest.param(
            usual_page(api_row(0, result="DEEP")).replace(b'"DEEP"', b"[" * 3000 + b"]" * 3000), id="nested too deeply"
        ),
        pytest.param(b'[{"recordId": "r1"}]', id="not an object"),
    ],
)
def test_what_the_fast_reading_cannot_promise_is_handed_to_the_models(content: bytes):
    assert fast_reading(content) is HANDED_OVER


INTEGERS = {"durationMs", "stepCount", "failedStepCount"}
COERCED_OR_REFUSED = [
    *[
        (to_camel(n), v)
        for n in RecordResult.model_fields
        if to_camel(n) not in {*INTEGERS, "result"}
        for v in (5, True)
    ],
    *[(name, v) for name in sorted(INTEGERS) for v in ("5", 5.0, 5.5, True)],
    ("record", "rec_0"),
    ("record", {"id": "rec_0", "name": 5}),
]


@pytest.mark.parametrize(("name", "value"), COERCED_OR_REFUSED)
def test_a_row_value_the_models_would_coerce_or_refuse_is_handed_to_them(name: str, value: Any):
    assert fast_reading(usual_page(api_row(0, **{name: value}))) is HANDED_OVER


@pytest.mark.parametrize(
    ("name", "value"),
    [("hasMore", "true"), ("hasMore", 1), ("offset", "5"), ("offset", 5.0), ("total", -1), ("limit", -1)],
)
def test_a_paging_value_the_models_would_coerce_or_refuse_is_handed_to_them(name: str, value: Any):
    assert fast_reading(usual_page(api_row(0), **{name: value})) is HANDED_OVER


@pytest.mark.parametrize("name", [*SNAKE, "has_more", "records_with_failed_steps"])
def test_every_snake_case_spelling_of_a_field_is_handed_to_the_models(name: str):
    row, paging = (api_row(0, **{name: None}), {}) if name in SNAKE else (api_row(0), {name: None})
    content = usual_page(row, **paging)
    if name == "records_with_failed_steps":
        content = content.replace(b'"recordsWithFailedSteps": 1', b'"records_with_failed_steps": 1')

    assert fast_reading(content) is HANDED_OVER


def test_a_result_too_deep_for_json_loads_is_a_typed_error_when_it_is_written():
    from runtype_provider.client.results import ResultRow

    row = ResultRow(record_id="r1", result=msgspec.Raw(b"[" * 5000 + b"]" * 5000))

    with pytest.raises(RuntypeResponseError, match="'r1' is nested too deeply"):
        outcome_lines([row], include_result=True)
    assert outcome_lines([row], include_result=False)[0].startswith('{"record_id": "r1"')
