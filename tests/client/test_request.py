"""runtype_provider.client.request: a request bound to the API table (ids quoted, query and body kept), and an
answer parsed into its model or a typed error naming the request, whatever the API answers (hypothesis)."""

from __future__ import annotations

import tempfile
from typing import Any

import hypothesis.configuration
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic.alias_generators import to_camel

from runtype_provider.api import responses as schemas
from runtype_provider.api.spec import ENDPOINTS
from runtype_provider.client.request import ApiRequest, build_request, parse_answer
from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeResponseError

# Hypothesis keeps caches on disk; keep them out of the checkout.
hypothesis.configuration.set_hypothesis_home_dir(tempfile.mkdtemp(prefix="runtype-hypothesis-"))

FAST = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

MODELS = [m for m in vars(schemas).values() if isinstance(m, type) and issubclass(m, schemas.RuntypeModel)]
FIELD_NAMES = sorted({to_camel(name) for m in MODELS for name in m.model_fields} | {"data", "pagination"})

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
"""Any JSON value (keys mostly the API's field names); tests/api/test_bodies.py and tests/runs/test_watch.py use
it too."""


def shaped(fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts over known field names (arbitrary values), so parsing gets past the top level."""
    return st.dictionaries(st.sampled_from(fields), json_values, max_size=len(fields))


def test_a_request_quotes_each_id_and_keeps_the_query_and_body():
    request = build_request(
        "update_surface_schedule", product_id="p 1", surface_id="s/1", schedule_id="sch?1", body={"cron": "0 8 * * *"}
    )
    assert (request.method, request.path) == ("PUT", "/v1/products/p%201/surfaces/s%2F1/schedules/sch%3F1")
    assert request.body == {"triggerType": "recurring", "cron": "0 8 * * *"}
    assert request.idempotent is True
    listing = build_request("list_schedules", query={"limit": "5", "cursor": None})
    assert (listing.path, listing.query, listing.body) == ("/v1/schedules", {"limit": "5"}, None)


@pytest.mark.parametrize(
    ("operation", "arguments"),
    [
        ("get_schedule", {}),
        ("get_schedule", {"schedule_id": "s", "run_id": "r"}),
        ("list_schedules", {"query": {"offset": "1"}}),
    ],
)
def test_a_request_with_the_wrong_arguments_is_a_programming_error(operation, arguments):
    with pytest.raises(TypeError, match=operation):
        build_request(operation, **arguments)


@pytest.mark.parametrize(
    ("operation", "ids", "argument"),
    [
        ("cancel_batch", {"batch_id": ".."}, "batch_id"),
        ("get_schedule", {"schedule_id": "."}, "schedule_id"),
        ("get_run_results", {"run_id": ".."}, "run_id"),
        ("delete_surface_schedule", {"product_id": "..", "surface_id": "s", "schedule_id": "x"}, "product_id"),
        ("delete_surface_schedule", {"product_id": "p", "surface_id": "..", "schedule_id": "x"}, "surface_id"),
        ("delete_surface_schedule", {"product_id": "p", "surface_id": "s", "schedule_id": ".."}, "schedule_id"),
    ],
)
def test_every_request_refuses_dot_segment_ids_by_name(operation, ids, argument):
    with pytest.raises(RuntypeConfigurationError, match=f"^'{argument}' must not be"):
        build_request(operation, **ids)


@pytest.mark.parametrize("operation", list(ENDPOINTS))
def test_parse_turns_a_wrong_shape_into_a_typed_error_naming_the_request(operation):
    endpoint = ENDPOINTS[operation]
    with pytest.raises(RuntypeResponseError) as caught:
        parse_answer(endpoint, [1, 2])
    err = caught.value
    assert (err.method, err.path) == (endpoint.method, endpoint.path)
    assert str(err).startswith(f"Runtype API {endpoint.method} {endpoint.path} returned an unexpected body: ")


def test_a_request_parses_its_answer_naming_its_own_path():
    request = build_request("get_batch_status", batch_id="b 1")
    with pytest.raises(RuntypeResponseError, match=r"^Runtype API GET /v1/batch/status/b%201 returned an unexpected"):
        request.parse({"totalRecords": -1})
    assert request.parse({}).status is None


def test_parse_turns_a_body_nested_too_deeply_into_a_typed_error(monkeypatch):
    from runtype_provider.api import responses as schemas

    def too_deep(data):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(schemas.Schedule, "model_validate", too_deep)
    with pytest.raises(
        RuntypeResponseError, match=r"^Runtype API GET /v1/schedules/s1 returned a body nested too deeply"
    ):
        build_request("get_schedule", schedule_id="s1").parse({})


@pytest.mark.parametrize(
    ("operation", "ids", "family"),
    [("create_schedule", {}, "global"), ("update_surface_schedule", {"product_id": "p", "surface_id": "s",
      "schedule_id": "x"}, "product-surface")],
)  # fmt: skip
def test_an_unknown_schedule_field_is_refused_by_name(operation, ids, family):
    with pytest.raises(RuntypeConfigurationError, match=f"'flowid' not accepted by {family} schedules"):
        build_request(operation, body={"flowid": "f1", "cron": "0 8 * * *"}, **ids)


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


# ---- the target the lean client writes: the query encoded as httpx encodes ``params`` ---------------------------

QUERY_VALUES = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.booleans(),
    st.none(),
    st.lists(st.text(max_size=8) | st.integers(0, 99), max_size=3),
)


@settings(max_examples=300, deadline=None, database=None)
@given(query=st.dictionaries(st.sampled_from(["cursor", "limit", "status", "search", "ids", "view"]), QUERY_VALUES))
def test_the_target_encodes_the_query_exactly_as_httpx_does(query):
    import httpx

    request = ApiRequest("GET", "/v1/schedules/s1/runs", lambda data: data, params=query)
    sent = {k: v for k, v in query.items() if v is not None}  # None means "not sent", for both

    expected = httpx.URL("http://h" + request.path, params=sent or None)

    assert "http://h" + request.target == str(expected)
