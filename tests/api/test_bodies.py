"""runtype_provider.api.bodies: request bodies, validated strictly before any request, errors naming the argument;
whatever a DAG passes in, only typed errors come out (hypothesis)."""

from __future__ import annotations

import inspect
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from client.test_request import FAST, json_values
from hypothesis import given
from hypothesis import strategies as st

from runtype_provider.api.bodies import build_schedule_body, build_surface_schedule_body
from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeException
from runtype_provider.version_compat import AirflowException

# ---- request bodies -----------------------------------------------------------------------------------------


def test_recurring_flow_schedule_body():
    body = build_schedule_body(
        flow_id="flow_1",
        record_type="company",
        record_ids=["rec_1", "rec_2"],
        cron="0   8 * * 1-5",
        timezone="Europe/Paris",
        name="Weekday sync",
        inputs={"lang": "fr"},
        record_filter={"type": "company"},
        execution_options={"chunk_size": 10, "maxRetries": 0, "customFlag": True},
    )
    assert body == {
        "target": {"flowId": "flow_1", "recordType": "company", "recordIds": ["rec_1", "rec_2"]},
        "trigger": {"type": "recurring", "cron": "0 8 * * 1-5", "timezone": "Europe/Paris"},
        "executionOptions": {"chunkSize": 10, "maxRetries": 0, "customFlag": True},
        "name": "Weekday sync",
        "inputs": {"lang": "fr"},
        "recordFilter": {"type": "company"},
    }


def test_one_time_schedule_body_from_an_aware_datetime():
    run_at = datetime(2025, 2, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    body = build_schedule_body(agent_id="agent_1", run_at=run_at, messages=[{"role": "user", "content": "go"}])
    assert body == {
        "target": {"agentId": "agent_1"},
        "trigger": {"type": "one_time", "runAt": "2025-02-01T09:30:00+02:00"},
        "messages": [{"role": "user", "content": "go"}],
    }


def test_one_time_schedule_body_from_an_iso_string():
    body = build_schedule_body(flow_id="f1", trigger_type="one_time", run_at="2025-02-01T09:00:00Z")
    assert body["trigger"] == {"type": "one_time", "runAt": "2025-02-01T09:00:00Z"}


def test_partial_update_sends_only_what_changes():
    assert build_schedule_body(partial=True, name="Renamed") == {"name": "Renamed"}


def test_surface_schedule_body_is_flat():
    body = build_surface_schedule_body(
        flow_id="flow_1",
        cron="*/15 * * * *",
        timezone="UTC",
        enabled=True,
        record_type="company",
        execution_options={"logging_policy": "on", "recordConcurrency": 5},
    )
    assert body == {
        "flowId": "flow_1",
        "triggerType": "recurring",
        "cron": "*/15 * * * *",
        "timezone": "UTC",
        "enabled": True,
        "executionOptions": {"loggingPolicy": "on", "recordConcurrency": 5},
        "recordType": "company",
    }


def test_surface_partial_update_keeps_false():
    assert build_surface_schedule_body(partial=True, enabled=False) == {"enabled": False}


@pytest.mark.parametrize(("rendered", "expected"), [("False", False), ("false ", False), ("True", True)])
def test_surface_enabled_rendered_by_a_template_becomes_a_bool(rendered, expected):
    assert build_surface_schedule_body(partial=True, enabled=rendered) == {"enabled": expected}


def test_json_text_rendered_by_a_template_is_decoded_for_dict_and_list_fields():
    body = build_schedule_body(
        flow_id="f1",
        cron="0 * * * *",
        record_ids='["r1", "r2"]',
        inputs='{"lang": "en"}',
        execution_options='{"chunkSize": 5}',
        record_filter='{"type": "company", "where": {"op": "or", "conditions": [{"field": "tier", "op": "in", '
        '"value": ["gold"]}, {"op": "and", "conditions": [{"field": "vip", "op": "isTrue"}]}]}}',
    )
    assert body["target"]["recordIds"] == ["r1", "r2"]
    assert body["inputs"] == {"lang": "en"}
    assert body["executionOptions"] == {"chunkSize": 5}
    assert body["recordFilter"]["where"]["conditions"][1]["conditions"][0] == {"field": "vip", "op": "isTrue"}


GLOBAL = build_schedule_body
SURFACE = build_surface_schedule_body
RECURRING = {"flow_id": "f1", "cron": "0 * * * *"}


@pytest.mark.parametrize(
    ("builder", "kwargs", "message"),
    [
        (GLOBAL, {"flow_id": "f1", "agent_id": "a1", "cron": "0 * * * *"}, "exactly one of 'flow_id' or 'agent_id'"),
        (GLOBAL, {"cron": "0 * * * *"}, "exactly one of 'flow_id' or 'agent_id'"),
        (GLOBAL, {"flow_id": "f1"}, "needs 'cron' (recurring) or 'run_at' (one_time)"),
        (GLOBAL, {**RECURRING, "run_at": "2025-02-01T09:00:00Z"}, "either 'cron' (recurring) or 'run_at'"),
        (SURFACE, {**RECURRING, "run_at": "2025-02-01T09:00:00Z"}, "either 'cron' (recurring) or 'run_at'"),
        (GLOBAL, {"flow_id": "f1", "trigger_type": "recurring"}, "'cron' is required"),
        (GLOBAL, {"flow_id": "f1", "trigger_type": "one_time"}, "'run_at' is required"),
        (GLOBAL, {"flow_id": "f1", "trigger_type": "weekly", "cron": "0 * * * *"}, "'trigger_type' must be"),
        (GLOBAL, {"flow_id": "f1", "cron": "* * * *"}, "'cron' must be a 5-field cron expression"),
        (GLOBAL, {"flow_id": "f1", "cron": "* * * * * *"}, "'cron' must be a 5-field cron expression"),
        (GLOBAL, {"flow_id": "f1", "cron": "every day"}, "'cron' must be a 5-field cron expression"),
        (SURFACE, {"flow_id": "f1", "cron": "0 8 * * $"}, "'cron' must be a 5-field cron expression"),
        (GLOBAL, {"flow_id": "f1", "run_at": datetime(2025, 2, 1, 9)}, "'run_at' must be timezone-aware"),
        (SURFACE, {"flow_id": "f1", "run_at": "2025-02-01T09:00:00"}, "'run_at' must include a timezone offset"),
        (GLOBAL, {"flow_id": "f1", "run_at": "tomorrow"}, "'run_at' must be an ISO-8601 datetime"),
        (GLOBAL, {**RECURRING, "execution_options": [("chunkSize", 1)]}, "'execution_options' must be a dict"),
        (GLOBAL, {**RECURRING, "execution_options": {"chunkSize": "10"}}, "'execution_options.chunkSize'"),
        (GLOBAL, {**RECURRING, "execution_options": {"chunk_size": 0}}, "'execution_options.chunk_size'"),
        (GLOBAL, {**RECURRING, "execution_options": {"recordConcurrency": True}}, "'execution_options.recordConc"),
        (GLOBAL, {**RECURRING, "execution_options": {"maxRetries": -1}}, "'execution_options.maxRetries'"),
        (GLOBAL, {**RECURRING, "execution_options": {"timeoutMs": 1.5}}, "'execution_options.timeoutMs'"),
        (GLOBAL, {**RECURRING, "execution_options": {"skipCacheWarm": "yes"}}, "'execution_options.skipCacheWarm'"),
        (GLOBAL, {**RECURRING, "execution_options": {"modelOverride": 5}}, "'execution_options.modelOverride'"),
        (SURFACE, {**RECURRING, "execution_options": {"loggingPolicy": "loud"}}, "'execution_options.loggingPolicy'"),
        (
            GLOBAL,
            {**RECURRING, "execution_options": {"loggingPolicy": "off"}},
            "'execution_options.loggingPolicy' is only accepted by product-surface schedules",
        ),
        (GLOBAL, {**RECURRING, "record_ids": "rec_1"}, "'record_ids' must be a list of non-empty strings"),
        (SURFACE, {**RECURRING, "record_ids": ["rec_1", ""]}, "'record_ids' must be a list of non-empty strings"),
        (GLOBAL, {**RECURRING, "record_ids": [1]}, "'record_ids' must be a list of non-empty strings"),
        (GLOBAL, {"partial": True, "timezone": "UTC"}, "'timezone' needs 'cron' or 'run_at'"),
        (GLOBAL, {"partial": True}, "an update needs at least one field to change"),
        (SURFACE, {"partial": True}, "an update needs at least one field to change"),
        (SURFACE, {"cron": "0 * * * *"}, "a product-surface schedule needs 'flow_id'"),
        (SURFACE, {"partial": True, "enabled": "no"}, "'enabled' must be True or False, got 'no'"),
        (SURFACE, {"partial": True, "enabled": 1}, "'enabled' must be True or False, got 1"),
        (GLOBAL, {**RECURRING, "record_filter": {"field": "tier", "op": "eq"}}, "'record_filter.type' (the record"),
        (GLOBAL, {**RECURRING, "record_filter": ["company"]}, "'record_filter' must be a dict, got ['company']"),
        (GLOBAL, {**RECURRING, "record_filter": "{not json"}, "'record_filter' must be a dict (or its JSON text)"),
        (
            SURFACE,
            {**RECURRING, "record_filter": {"type": "company", "where": {"field": "tier", "op": "like"}}},
            "'record_filter.where.op' must be one of between, contains,",
        ),
        (
            GLOBAL,
            {**RECURRING, "record_filter": {"type": "company", "where": {"op": "eq", "value": 1}}},
            "'record_filter.where.field' must be a non-empty string",
        ),
        (
            GLOBAL,
            {**RECURRING, "record_filter": {"type": "c", "where": {"op": "xor", "conditions": [{"field": "a"}]}}},
            "'record_filter.where.op' of a group must be 'and' or 'or', got 'xor'",
        ),
        (
            GLOBAL,
            {**RECURRING, "record_filter": {"type": "c", "where": {"op": "and", "conditions": []}}},
            "'record_filter.where.conditions' must be a non-empty list",
        ),
        (
            GLOBAL,
            {
                **RECURRING,
                "record_filter": {
                    "type": "c",
                    "where": {
                        "op": "and",
                        "conditions": [
                            {"op": "or", "conditions": [{"op": "and", "conditions": [{"field": "a", "op": "isSet"}]}]}
                        ],
                    },
                },
            },
            "'record_filter.where.conditions[0].conditions[0]': groups nest at most two levels deep",
        ),
        (
            GLOBAL,
            {**RECURRING, "record_filter": {"type": "c", "where": {"op": "and", "conditions": [{"field": "a"}]}}},
            "'record_filter.where.conditions[0].op' must be one of",
        ),
        (GLOBAL, {**RECURRING, "inputs": ["en"]}, "'inputs' must be a dict, got ['en']"),
        (GLOBAL, {**RECURRING, "messages": {"role": "user"}}, "'messages' must be a list, got {'role': 'user'}"),
        (GLOBAL, {**RECURRING, "record_type": ""}, "'record_type' must be a non-empty string"),
        (GLOBAL, {**RECURRING, "timezone": 2}, "'timezone' must be a non-empty string, got 2"),
        (GLOBAL, {"flow_id": 7, "cron": "0 * * * *"}, "'flow_id' must be a non-empty string, got 7"),
    ],
)
def test_body_builders_refuse_bad_arguments_by_name(builder, kwargs, message):
    with pytest.raises(RuntypeConfigurationError) as caught:
        builder(**kwargs)
    assert message in str(caught.value)


def test_configuration_errors_are_value_errors_and_airflow_exceptions():
    with pytest.raises(RuntypeConfigurationError) as caught:
        build_schedule_body(cron="0 * * * *")
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, AirflowException)


@pytest.mark.parametrize("op", [["eq"], {"eq": 1}, None, 3])
def test_a_filter_op_that_is_not_a_string_is_refused_by_name(op):
    with pytest.raises(RuntypeConfigurationError, match=r"^'record_filter\.where\.op' must be one of"):
        build_schedule_body(partial=True, record_filter={"type": "company", "where": {"field": "tier", "op": op}})


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ({"inputs": {"x": float("nan")}}, "inputs"),
        ({"messages": [{"weight": float("inf")}]}, "messages"),
        ({"inputs": {"when": object()}}, "inputs"),
        ({"execution_options": {"custom": float("-inf")}}, "execution_options"),
        (
            {"record_filter": {"type": "company", "where": {"field": "score", "op": "gt", "value": float("nan")}}},
            "record_filter",
        ),
    ],
)
def test_values_that_are_not_plain_json_are_refused_by_name(arguments, argument):
    with pytest.raises(RuntypeConfigurationError, match=f"^'{argument}' must be plain JSON data"):
        build_schedule_body(partial=True, **arguments)


# ---- properties: any keywords give a body of strict JSON or a typed error -------------------------------------------

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
