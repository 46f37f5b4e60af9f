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

from runtype_provider.api.bodies import build_batch_body, build_body, build_schedule_body, build_surface_schedule_body
from runtype_provider.api.spec import MAX_BATCH_RECORDS
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


# ---- POST /v1/batch/flow ------------------------------------------------------------------------------------

INLINE = {"name": "Acme", "type": "company", "metadata": {"tier": "gold"}}


def test_batch_body_with_every_field():
    body = build_batch_body(
        flow_id="flow_1",
        record_ids=["r1", "r2"],
        records=[INLINE],
        inputs={"lang": "fr"},
        messages=[{"role": "user", "content": "hi"}],
        options={"chunk_size": 10, "recordConcurrency": 4, "max_retries": 0, "customFlag": True},
    )
    assert body == {
        "flowId": "flow_1",
        "recordIds": ["r1", "r2"],
        "records": [INLINE],
        "inputs": {"lang": "fr"},
        "messages": [{"role": "user", "content": "hi"}],
        "options": {"chunkSize": 10, "recordConcurrency": 4, "maxRetries": 0, "customFlag": True},
    }


def test_batch_body_for_an_inline_flow_or_an_agent_and_json_text():
    definition = {"name": "Inline", "steps": [{"type": "prompt"}], "id": "flow_pinned"}
    assert build_batch_body(flow_definition=json.dumps(definition), records=json.dumps([INLINE])) == {
        "flowDefinition": definition,
        "records": [INLINE],
    }
    assert build_batch_body(agent_id="agent_1", record_ids='["r1"]') == {"agentId": "agent_1", "recordIds": ["r1"]}


def test_batch_body_accepts_exactly_the_record_cap():
    ids = [f"r{i}" for i in range(MAX_BATCH_RECORDS - 1)]
    assert len(build_batch_body(flow_id="f", record_ids=ids, records=[INLINE])["recordIds"]) == MAX_BATCH_RECORDS - 1


class Huge(list):
    """A list that claims ten million items and fails if any is looked at: the count check must come first."""

    def __len__(self) -> int:
        return 10_000_000

    def __iter__(self) -> Any:
        raise AssertionError("an item was looked at before the count was refused")

    def __getitem__(self, index: Any) -> Any:
        raise AssertionError("an item was looked at before the count was refused")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"record_ids": ["r"]}, "exactly one of 'flow_id', 'flow_definition' or 'agent_id'$"),
        ({"flow_id": "f", "agent_id": "a", "record_ids": ["r"]}, "got flow_id and agent_id"),
        ({"flow_id": "f", "flow_definition": {"name": "n", "steps": []}, "record_ids": ["r"]},
         "got flow_id and flow_definition"),
        ({"flow_id": "f"}, "at least one record"),
        ({"flow_id": "f", "record_ids": [], "records": []}, "at least one record"),
        ({"flow_id": "f", "record_ids": Huge()}, "'record_ids' has 10000000 items; one batch takes at most 50000"),
        ({"flow_id": "f", "records": Huge()}, "'records' has 10000000 items"),
        ({"flow_id": "f", "record_ids": ["r"] * 30_000, "records": [INLINE] * 30_000}, "together have 60000 records"),
        ({"flow_id": "f", "record_ids": "r1"}, "'record_ids' must be a list"),
        ({"flow_id": "f", "record_ids": {"r1"}}, "'record_ids' must be a list"),
        ({"flow_id": "f", "record_ids": ["r1", ""]}, r"'record_ids\[1\]' must be a non-empty string"),
        ({"flow_id": "f", "record_ids": ["r1", 7]}, r"'record_ids\[1\]' must be a non-empty string"),
        ({"flow_id": "f", "record_ids": ["r1", "r1"]}, "'record_ids' names 'r1' twice"),
        ({"flow_id": "f", "records": [INLINE, INLINE]}, "names 'Acme' twice"),
        ({"flow_id": "f", "records": ["Acme"]}, r"'records\[0\]' must be a dict"),
        ({"flow_id": "f", "records": [{**INLINE, "type": ""}]}, r"'records\[0\].type' must be a non-empty string"),
        ({"flow_id": "f", "records": [{"name": "a", "type": "t"}]}, r"'records\[0\].metadata' must be a dict"),
        ({"flow_id": "f", "records": [{**INLINE, "metadata": {"x": float("nan")}}]}, "'records' must be plain JSON"),
        ({"flow_definition": {"steps": []}, "record_ids": ["r"]}, "'flow_definition.name' is required"),
        ({"flow_definition": {"name": "n", "steps": "x"}, "record_ids": ["r"]}, "'flow_definition.steps' must be"),
        ({"flow_definition": {"name": "n", "steps": [], "id": 5}, "record_ids": ["r"]}, "'flow_definition.id'"),
        ({"flow_id": " ", "record_ids": ["r"]}, "'flow_id' must be a non-empty string"),
        ({"flow_id": "f", "record_ids": ["r"], "messages": ["hi"]}, r"'messages\[0\]' must be a dict"),
        ({"flow_id": "f", "record_ids": ["r"], "inputs": [1]}, "'inputs' must be a dict"),
        ({"flow_id": "f", "record_ids": ["r"], "inputs": {"x": float("inf")}}, "'inputs' must be plain JSON"),
        ({"flow_id": "f", "record_ids": ["r"], "options": {"chunk_size": 0}}, "'options.chunk_size'"),
        ({"flow_id": "f", "record_ids": ["r"], "options": {"maxRetries": "3"}}, "'options.maxRetries'"),
        ({"flow_id": "f", "record_ids": ["r"], "options": {"logging_policy": "on"}}, "'options.loggingPolicy'"),
        ({"flow_id": "f", "record_ids": ["r"], "options": [1]}, "'options' must be a dict"),
    ],
)  # fmt: skip
def test_batch_body_refuses_bad_arguments_by_name(kwargs, message):
    with pytest.raises(RuntypeConfigurationError, match=message):
        build_batch_body(**kwargs)


def test_build_body_wires_the_batch_kind_and_refuses_unknown_arguments():
    assert build_body("batch", {"flow_id": "f", "record_ids": ["r"]}) == {"flowId": "f", "recordIds": ["r"]}
    with pytest.raises(RuntypeConfigurationError, match="'cron' not accepted by batches; the fields are agent_id"):
        build_body("batch", {"flow_id": "f", "record_ids": ["r"], "cron": "* * * * *"})


BATCH_PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "record_ids": st.lists(st.text(max_size=5), max_size=5) | st.just(Huge()),
    "records": st.lists(
        st.fixed_dictionaries({"name": st.text(max_size=5), "type": st.text(max_size=5), "metadata": json_values}),
        max_size=3,
    ),
    "flow_definition": st.fixed_dictionaries({"name": st.text(max_size=5), "steps": st.lists(json_values, max_size=2)}),
    "options": st.dictionaries(st.sampled_from(["chunk_size", "maxRetries", "x"]), json_values, max_size=3),
    "messages": st.lists(st.fixed_dictionaries({"role": st.text(max_size=5)}), max_size=2),
}


@FAST
@given(data=st.data())
def test_the_batch_body_builder_raises_only_typed_errors(data):
    names = [n for n in inspect.signature(build_batch_body).parameters]
    kwargs = {
        name: data.draw(st.one_of(BATCH_PLAUSIBLE.get(name, texts), arbitrary), label=name)
        for name in data.draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    }
    try:
        body = build_batch_body(**kwargs)
    except Exception as err:
        assert isinstance(err, RuntypeConfigurationError), repr(err)
        return
    assert 1 <= len(body.get("recordIds", [])) + len(body.get("records", [])) <= MAX_BATCH_RECORDS
    json.dumps(body, allow_nan=False)


def test_the_schedule_builders_take_exactly_the_fields_of_the_table() -> None:
    """One field list (api.spec.SCHEDULE_FIELDS): the builders and the create/update operators cannot drift apart."""
    import inspect

    from runtype_provider.api.bodies import build_schedule_body, build_surface_schedule_body
    from runtype_provider.api.spec import SCHEDULE_FIELDS

    for family, builder in (("schedule", build_schedule_body), ("surface_schedule", build_surface_schedule_body)):
        assert set(inspect.signature(builder).parameters) - {"partial"} == set(SCHEDULE_FIELDS[family])
