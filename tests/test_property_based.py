"""Property-based tests: whatever the API answers or a DAG passes in, only the provider's typed errors come out.

Over arbitrary input: every response model (through ``Endpoint.parse``), the pagination state machines
(arbitrary page sequences always end within the page cap, rows in order, each exactly once), the trigger
event parser and the request-body builders. Each property runs 200 examples; the file takes seconds.
"""

from __future__ import annotations

import inspect
import json
import tempfile
from datetime import timezone
from typing import Any

import hypothesis.configuration
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic.alias_generators import to_camel

from runtype_provider.api import responses as schemas
from runtype_provider.api.bodies import build_schedule_body, build_surface_schedule_body
from runtype_provider.api.paging import iter_cursor, iter_offset
from runtype_provider.api.spec import ENDPOINTS
from runtype_provider.client.request import parse_answer
from runtype_provider.exceptions import RuntypeException, RuntypeResponseError
from runtype_provider.runs.watch import RunWaitEvent

# Hypothesis keeps caches on disk; keep them out of the checkout.
hypothesis.configuration.set_hypothesis_home_dir(tempfile.mkdtemp(prefix="runtype-hypothesis-"))

FAST = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# ---- strategies ------------------------------------------------------------------------------------------------

MODELS = [m for m in vars(schemas).values() if isinstance(m, type) and issubclass(m, schemas.RuntypeModel)]
FIELD_NAMES = sorted({to_camel(name) for m in MODELS for name in m.model_fields} | {"data", "pagination"})
RUN_FIELDS = ["schedule_id", "run_id", "batch_execution_id", "product_id", "surface_id", "run_url"]
PROGRESS_FIELDS = ["status", "outcome", "total_records", "processed_records", "failed_records", "error", "run_id"]

keys = st.sampled_from(FIELD_NAMES) | st.text(max_size=8)
leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and infinities too: Python's json module decodes them
    | st.text(max_size=12)
    | st.sampled_from(["completed", "failed", "running", "", "0", "-1", "1.5", "true", "2025-01-11T08:00:00Z"])
)
json_values = st.recursive(
    leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6), max_leaves=20
)


def shaped(fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts over known field names (arbitrary values), so parsing gets past the top level."""
    return st.dictionaries(st.sampled_from(fields), json_values, max_size=len(fields))


# ---- response models ---------------------------------------------------------------------------------------


@FAST
@given(operation=st.sampled_from(sorted(ENDPOINTS)), data=json_values | shaped(FIELD_NAMES))
def test_parsing_any_answer_raises_only_a_typed_error(operation, data):
    endpoint = ENDPOINTS[operation]
    try:
        parsed = parse_answer(endpoint, data)
    except Exception as err:
        assert isinstance(err, RuntypeResponseError), repr(err)
        assert (err.method, err.path) == (endpoint.method, endpoint.path)
        return
    items = parsed if endpoint.unwrap else [parsed, *(parsed.data if isinstance(parsed, schemas.Page) else [])]
    for item in items:
        for name in ("total_records", "processed_records", "failed_records", "success_count", "record_count"):
            assert getattr(item, name, None) is None or getattr(item, name) >= 0


# ---- pagination --------------------------------------------------------------------------------------------

cursors = st.none() | st.sampled_from(["", "c1", "c2", "c3"]) | st.text(min_size=1, max_size=6)
cursor_specs = st.lists(st.tuples(st.integers(0, 3), st.booleans(), cursors), max_size=15)
offset_specs = st.lists(
    st.tuples(
        st.integers(0, 3),  # rows on the page
        st.booleans(),  # hasMore
        st.none() | st.integers(0, 40),  # total
        st.sampled_from([0, 0, 0, 0, 1, -1]),  # how far the answered offset is off the requested one
    ),
    max_size=15,
)


@FAST
@given(specs=cursor_specs, max_pages=st.integers(1, 12), endless=st.booleans())
def test_cursor_paging_always_ends_with_every_row_once_in_order(specs, max_pages, endless):
    fetched: list[Any] = []
    asked: list[str | None] = []

    def fetch(cursor: str | None) -> Any:
        assert len(fetched) < max_pages, "fetched past the page cap"
        n = len(fetched)
        rows, has_more, next_cursor = specs[n] if n < len(specs) else (1, endless, f"fresh-{n}")
        page = schemas.SchedulePage.model_validate(
            {
                "data": [{"id": f"p{n}r{i}"} for i in range(rows)],
                "pagination": {"hasMore": has_more, "nextCursor": next_cursor},
            }
        )
        asked.append(cursor)
        fetched.append(page)
        return page

    received, failed = [], False
    try:
        for row in iter_cursor(fetch, "/v1/schedules", max_pages=max_pages):
            received.append(row.id)
    except RuntypeResponseError:
        failed = True
    assert 1 <= len(fetched) <= max_pages
    assert received == [row.id for page in fetched for row in page.data]
    assert len(set(received)) == len(received)
    assert asked == [None] + [page.pagination.next_cursor for page in fetched[:-1]]
    assert failed is fetched[-1].pagination.has_more  # ends quietly only when the server says so


@FAST
@given(specs=offset_specs, max_pages=st.integers(1, 12), endless=st.booleans())
def test_offset_paging_always_ends_with_every_row_once_in_order(specs, max_pages, endless):
    fetched: list[tuple[int, Any]] = []

    def fetch(offset: int) -> Any:
        assert len(fetched) < max_pages, "fetched past the page cap"
        n = len(fetched)
        rows, has_more, total, skew = specs[n] if n < len(specs) else (1, endless, None, 0)
        page = schemas.RecordResultPage.model_validate(
            {
                "data": [{"recordId": f"p{n}r{i}"} for i in range(rows)],
                "pagination": {"hasMore": has_more, "offset": max(0, offset + skew), "total": total},
            }
        )
        fetched.append((offset, page))
        return page

    received, failed = [], False
    try:
        for row in iter_offset(fetch, "/v1/schedules/batch/b1/results", max_pages=max_pages):
            received.append(row.record_id)
    except RuntypeResponseError:
        failed = True
    assert 1 <= len(fetched) <= max_pages
    accepted = [page for offset, page in fetched if page.pagination.offset == offset]
    assert accepted == [page for _, page in fetched][: len(accepted)]  # nothing after a refused page
    assert received == [row.record_id for page in accepted for row in page.data]
    assert len(set(received)) == len(received)
    assert [offset for offset, _ in fetched] == [sum(len(p.data) for p in accepted[:i]) for i in range(len(fetched))]
    last_offset, last = fetched[-1]
    ended_by_total = last.pagination.total is not None and len(received) >= last.pagination.total
    if not failed:
        assert last.pagination.offset == last_offset and (not last.pagination.has_more or ended_by_total)


# ---- the trigger's event ---------------------------------------------------------------------------------------

events = st.sampled_from(["finished", "timeout", "error"]) | json_values
payloads = json_values | st.fixed_dictionaries(
    {"event": events},
    optional={
        "run": json_values | st.dictionaries(st.sampled_from(RUN_FIELDS), json_values),
        "progress": json_values | st.dictionaries(st.sampled_from(PROGRESS_FIELDS), json_values),
        "message": json_values,
    },
)


@FAST
@given(payload=payloads)
def test_a_trigger_event_parses_or_raises_a_typed_error(payload):
    try:
        event = RunWaitEvent.from_payload(payload)
    except Exception as err:
        assert isinstance(err, RuntypeException), repr(err)
        return
    if event.event == "finished":
        assert event.progress is not None and event.progress.outcome.is_terminal


# ---- request bodies --------------------------------------------------------------------------------------------

FILTER_OPS = ["eq", "in", "between", "isSet", "and", "or", "nope"]
texts = st.text(min_size=1, max_size=8)
condition = st.fixed_dictionaries(
    {"field": texts | json_values, "op": st.sampled_from(FILTER_OPS) | json_values}, optional={"value": json_values}
)
group = st.fixed_dictionaries(
    {"op": st.sampled_from(FILTER_OPS) | json_values, "conditions": st.lists(condition | json_values, max_size=3)}
)
record_filters = st.fixed_dictionaries(
    {"type": st.just("company") | json_values},
    optional={
        "where": condition | group | st.fixed_dictionaries({"op": st.just("and"), "conditions": st.lists(group)})
    },
)
datetimes = st.datetimes(timezones=st.none() | st.just(timezone.utc))
arbitrary = json_values | json_values.map(json.dumps) | datetimes
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "cron": st.sampled_from(["* * * * *", "0 8 * * 1-5", "*/5 * * * *", "61 * *", ""]),
    "run_at": datetimes | datetimes.map(lambda d: d.isoformat()) | st.just("2030-01-01T09:00:00Z"),
    "trigger_type": st.sampled_from(["recurring", "one_time", "cron"]),
    "record_filter": record_filters | record_filters.map(json.dumps),
    "execution_options": st.dictionaries(
        st.sampled_from(["chunkSize", "record_concurrency", "loggingPolicy", "maxRetries", "custom"]), json_values
    ),
    "enabled": st.sampled_from([True, False, "true", "False", "yes"]),
    "record_ids": st.lists(texts, max_size=3),
    "inputs": st.dictionaries(texts, json_values, max_size=3),
    "messages": st.lists(json_values, max_size=3),
}


def keyword_values(builder: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Each keyword maybe present: mostly a plausible value (to get past the first check), else anything."""
    names = [n for n in inspect.signature(builder).parameters if n != "partial"]
    return st.fixed_dictionaries({}, optional={n: st.one_of(PLAUSIBLE.get(n, texts), arbitrary) for n in names})


def one_keyword(builder: Any) -> st.SearchStrategy[dict[str, Any]]:
    """A valid base body with one keyword set to a plausible or arbitrary value: reaches every check."""
    names = [n for n in inspect.signature(builder).parameters if n != "partial"]
    return st.sampled_from(names).flatmap(
        lambda n: st.fixed_dictionaries({n: st.one_of(PLAUSIBLE.get(n, texts), arbitrary)})
    )


def assert_only_typed_errors(builder: Any, partial: bool, kwargs: dict[str, Any]) -> None:
    try:
        body = builder(partial=partial, **kwargs)
    except Exception as err:
        assert isinstance(err, RuntypeException), repr(err)
        return
    assert isinstance(body, dict)
    json.dumps(body, allow_nan=False)  # what the HTTP client will send: strict JSON


BUILDERS = {"schedule": build_schedule_body, "surface_schedule": build_surface_schedule_body}
BASE = {"flow_id": "flow_1", "cron": "0 8 * * *"}


@FAST
@given(kind=st.sampled_from(sorted(BUILDERS)), partial=st.booleans(), data=st.data())
def test_a_body_builder_raises_only_typed_errors(kind, partial, data):
    builder = BUILDERS[kind]
    kwargs = data.draw(keyword_values(builder))
    assert_only_typed_errors(builder, partial, kwargs)


@FAST
@given(kind=st.sampled_from(sorted(BUILDERS)), partial=st.booleans(), data=st.data())
def test_a_body_builder_raises_only_typed_errors_for_any_one_keyword(kind, partial, data):
    builder = BUILDERS[kind]
    change = data.draw(one_keyword(builder))
    base = {"flow_id": "flow_1"} if "trigger_type" in change or "run_at" in change or partial else BASE
    assert_only_typed_errors(builder, partial, {**base, **change})
