"""The schedule rules of the local Runtype (``testing.fake.schedules``), called directly: ``nextRunAt``, field type
checks, trigger and target checks, validated updates, the translation of the nested global body and the flat
product-surface body into schedule fields, and a schedule's flow name; then the same rules as the API's create and
update operations answer them over HTTP (400 with ``details``)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from runtype_provider.testing.fake.schedules import (
    GLOBAL_PATHS,
    Schedule,
    checked_updates,
    global_updates,
    next_run_at,
    surface_updates,
    trigger_errors,
    type_errors,
)
from runtype_provider.testing.fake.settings import MAX_RECORDS, SimConfig
from runtype_provider.testing.fake.wire import ApiError

UTC = timezone.utc
NOW = datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC)  # a Monday
RECURRING = {"enabled": True, "triggerType": "recurring", "cron": "0 8 * * 1-5", "flowId": "flow_1"}


def codes(errors: list[dict]) -> list[tuple[str | None, str | None]]:
    return [(item["path"], item["code"]) for item in errors]


def raised(call, *args, **kwargs) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    assert (caught.value.status, caught.value.error) == (400, "Validation failed")
    return caught.value


def schedule(**doc) -> Schedule:
    return Schedule(id="sch_1", seq=1, doc={**RECURRING, **doc}, sim=SimConfig())


# ---------------------------------------------------------------------------- nextRunAt


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (RECURRING, "2026-03-03T08:00:00.000Z"),  # no timezone: UTC; 08:00 today has passed
        ({**RECURRING, "timezone": "America/New_York"}, "2026-03-02T13:00:00.000Z"),
        ({**RECURRING, "timezone": None}, "2026-03-03T08:00:00.000Z"),
        ({**RECURRING, "enabled": False}, None),
        ({"enabled": True, "triggerType": "one_time", "runAt": "2026-03-02T10:00:00.000Z"}, "2026-03-02T10:00:00.000Z"),
        ({"enabled": True, "triggerType": "one_time", "runAt": "2026-03-02T09:00:00.000Z"}, None),  # in the past
        ({"enabled": True, "triggerType": "one_time", "runAt": None}, None),
        ({"enabled": False, "triggerType": "one_time", "runAt": "2026-03-02T10:00:00.000Z"}, None),
    ],
)
def test_next_run_at(doc, expected):
    assert next_run_at(doc, NOW) == expected


# ---------------------------------------------------------------------------- field types


@pytest.mark.parametrize(
    ("updates", "expected"),
    [
        ({"flowId": 5}, [("target.flowId", "INVALID_TYPE")]),
        ({"cron": ["0 8 * * *"]}, [("trigger.cron", "INVALID_TYPE")]),
        ({"triggerType": 1}, [("trigger.type", "INVALID_TYPE")]),
        ({"recordIds": ["a", 2]}, [("target.recordIds", "INVALID_TYPE")]),
        ({"recordIds": "a"}, [("target.recordIds", "INVALID_TYPE")]),
        ({"recordIds": ["r"] * (MAX_RECORDS + 1)}, [("target.recordIds", "TOO_MANY_RECORDS")]),
        ({"inputs": []}, [("inputs", "INVALID_TYPE")]),
        ({"enabled": "yes"}, [("enabled", "INVALID_TYPE")]),
        (
            {"enabled": None, "executionOptions": None},
            [("enabled", "INVALID_TYPE"), ("executionOptions", "INVALID_TYPE")],
        ),
        ({"flowId": None, "cron": None, "recordIds": None, "inputs": None}, []),  # null clears a field
        ({"recordIds": ["r"] * MAX_RECORDS, "enabled": False, "messages": "anything"}, []),
    ],
)
def test_type_errors_name_the_field_at_its_body_path(updates, expected):
    assert codes(type_errors(updates, GLOBAL_PATHS)) == expected


def test_type_errors_say_what_was_expected():
    (error,) = type_errors({"runAt": 20260302}, {})
    assert error == {"message": "runAt must be a ISO-8601 string", "path": "runAt", "code": "INVALID_TYPE"}
    (error,) = type_errors({"recordIds": ["r"] * (MAX_RECORDS + 1)}, {})
    assert error["message"] == f"recordIds must have at most {MAX_RECORDS} items"


# ---------------------------------------------------------------------------- trigger and target


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (RECURRING, []),
        ({**RECURRING, "timezone": "Europe/Berlin", "flowId": None, "agentId": "agent_1"}, []),
        ({"triggerType": "one_time", "runAt": "2026-03-02T10:00:00Z", "flowId": "f"}, []),
        ({**RECURRING, "triggerType": None}, [("triggerType", "INVALID_ENUM")]),
        ({**RECURRING, "triggerType": "weekly"}, [("triggerType", "INVALID_ENUM")]),
        ({**RECURRING, "cron": None}, [("cron", "MISSING_REQUIRED_FIELD")]),
        ({**RECURRING, "cron": "0 25 * * *"}, [("cron", "INVALID_CRON")]),
        ({"triggerType": "one_time", "flowId": "f"}, [("runAt", "MISSING_REQUIRED_FIELD")]),
        ({"triggerType": "one_time", "runAt": "soon", "flowId": "f"}, [("runAt", "INVALID_FORMAT")]),
        ({**RECURRING, "runAt": "soon"}, [("runAt", "INVALID_FORMAT")]),  # checked whatever the trigger type
        ({**RECURRING, "timezone": "Mars/Olympus"}, [("timezone", "INVALID_TIMEZONE")]),
        ({**RECURRING, "agentId": "agent_1"}, [("flowId", "CONFLICTING_FIELDS")]),
        ({**RECURRING, "flowId": None}, [("flowId", "MISSING_REQUIRED_FIELD")]),
        (
            {"triggerType": "weekly", "timezone": "Nowhere", "flowId": None},
            [("triggerType", "INVALID_ENUM"), ("timezone", "INVALID_TIMEZONE"), ("flowId", "MISSING_REQUIRED_FIELD")],
        ),
    ],
)
def test_trigger_errors(doc, expected):
    assert codes(trigger_errors(doc, {})) == expected


def test_trigger_errors_use_the_given_paths_in_path_and_message():
    errors = trigger_errors({"triggerType": "weekly", "flowId": "f"}, GLOBAL_PATHS)
    assert errors == [
        {"message": "trigger.type must be one of recurring, one_time", "path": "trigger.type", "code": "INVALID_ENUM"}
    ]
    assert codes(trigger_errors({**RECURRING, "cron": None}, GLOBAL_PATHS)) == [
        ("trigger.cron", "MISSING_REQUIRED_FIELD")
    ]


# ---------------------------------------------------------------------------- validated updates


def test_checked_updates_of_a_new_schedule_normalise_run_at_to_utc():
    updates = checked_updates(
        None, {"triggerType": "one_time", "runAt": "2030-02-01T10:00:00+01:00", "flowId": "f"}, {}
    )
    assert updates == {"triggerType": "one_time", "runAt": "2030-02-01T09:00:00.000Z", "cron": None, "flowId": "f"}


def test_switching_the_trigger_type_clears_the_other_trigger():
    one_time = schedule(triggerType="one_time", cron=None, runAt="2030-02-01T09:00:00.000Z")
    assert checked_updates(one_time, {"triggerType": "recurring", "cron": "0 9 * * *"}, {}) == {
        "triggerType": "recurring",
        "cron": "0 9 * * *",
        "runAt": None,
    }
    assert checked_updates(schedule(), {"triggerType": "one_time", "runAt": "2030-02-01T09:00:00Z"}, {}) == {
        "triggerType": "one_time",
        "runAt": "2030-02-01T09:00:00.000Z",
        "cron": None,
    }


def test_checked_updates_validate_the_merged_schedule():
    assert checked_updates(schedule(), {"name": "Renamed"}, {}) == {"name": "Renamed"}
    error = raised(checked_updates, schedule(), {"triggerType": "one_time"}, GLOBAL_PATHS)
    assert codes(error.details) == [("trigger.runAt", "MISSING_REQUIRED_FIELD")]
    error = raised(checked_updates, schedule(), {"agentId": "agent_1"}, GLOBAL_PATHS)
    assert codes(error.details) == [("target.flowId", "CONFLICTING_FIELDS")]


def test_type_errors_are_reported_before_trigger_errors():
    error = raised(checked_updates, None, {"cron": 5}, {})
    assert codes(error.details) == [("cron", "INVALID_TYPE")]


# ---------------------------------------------------------------------------- the nested global body


def test_global_body_translates_target_and_trigger_into_schedule_fields():
    body = {
        "target": {"flowId": "flow_1", "recordType": "company", "recordIds": ["a"], "unknown": 1},
        "trigger": {"type": "recurring", "cron": "0 8 * * *", "timezone": "UTC"},
        "name": "Nightly",
        "inputs": {"k": "v"},
        "messages": [],
        "recordFilter": {"type": "company"},
        "executionOptions": {"chunkSize": 10},
        "ignored": True,
    }
    assert global_updates(body, partial=False) == {
        "flowId": "flow_1",
        "agentId": None,
        "recordType": "company",
        "recordIds": ["a"],
        "cron": "0 8 * * *",
        "timezone": "UTC",
        "triggerType": "recurring",
        "name": "Nightly",
        "inputs": {"k": "v"},
        "messages": [],
        "recordFilter": {"type": "company"},
        "executionOptions": {"chunkSize": 10},
    }


def test_global_body_setting_one_target_kind_clears_the_other():
    assert global_updates({"target": {"agentId": "agent_1"}}, partial=True) == {"agentId": "agent_1", "flowId": None}
    assert global_updates({"target": {"flowId": "f", "agentId": "a"}}, partial=True) == {"flowId": "f", "agentId": "a"}
    assert global_updates({"name": "Only a name"}, partial=True) == {"name": "Only a name"}


@pytest.mark.parametrize(
    ("body", "partial", "expected"),
    [
        ([], True, [("", "INVALID_TYPE")]),
        ({"target": None, "trigger": {"type": "recurring"}}, False, [("target", "MISSING_REQUIRED_FIELD")]),
        ({"target": "flow_1"}, True, [("target", "INVALID_TYPE")]),
        ({"target": {}, "trigger": ["recurring"]}, False, [("trigger", "INVALID_TYPE")]),
    ],
)
def test_global_body_errors(body, partial, expected):
    assert codes(raised(global_updates, body, partial=partial).details) == expected


# ---------------------------------------------------------------------------- the flat product-surface body


def test_surface_body_keeps_the_schedule_fields_only():
    body = {"flowId": "f", "triggerType": "recurring", "cron": "0 9 * * 1", "name": "dropped", "agentId": "dropped"}
    assert surface_updates(body, partial=False) == {"flowId": "f", "triggerType": "recurring", "cron": "0 9 * * 1"}
    assert surface_updates({"enabled": False, "executionOptions": None}, partial=True) == {
        "enabled": False,
        "executionOptions": {},
    }


@pytest.mark.parametrize(
    ("body", "partial", "expected"),
    [
        ("flowId=f", False, [("", "INVALID_TYPE")]),
        (None, True, [("", "INVALID_TYPE")]),
        ({"flowId": "f", "triggerType": None}, False, [("triggerType", "MISSING_REQUIRED_FIELD")]),
    ],
)
def test_surface_body_errors(body, partial, expected):
    assert codes(raised(surface_updates, body, partial=partial).details) == expected


# ---------------------------------------------------------------------------- flow name


def test_flow_name_is_the_seeded_name_else_derived_from_the_flow_id():
    assert schedule().flow_name() == "Flow flow_1"
    named = Schedule(id="sch_2", seq=2, doc=dict(RECURRING), sim=SimConfig(flow_name="Weekly digest"))
    assert named.flow_name() == "Weekly digest"
    assert schedule(flowId=None, agentId="agent_1").flow_name() is None


# ---------------------------------------------------------------------------- over HTTP: 400 with details

VALID = {"target": {"flowId": "flow_1"}, "trigger": {"type": "recurring", "cron": "0 8 * * *"}}
BASE = "/v1/products/prod_1/surfaces/surf_1/schedules"


def assert_error_body(body: dict) -> None:
    assert isinstance(body["error"], str) and body["error"]
    assert body["details"], body
    for item in body["details"]:
        assert {"message", "path", "code"} <= set(item)


@pytest.fixture
def surface(runtype_server):
    return runtype_server.add_surface("prod_1", "surf_1")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, [("target", "MISSING_REQUIRED_FIELD"), ("trigger", "MISSING_REQUIRED_FIELD")]),
        ({**VALID, "target": {"recordType": "company"}}, [("target.flowId", "MISSING_REQUIRED_FIELD")]),
        ({**VALID, "target": {"flowId": "f", "agentId": "a"}}, [("target.flowId", "CONFLICTING_FIELDS")]),
        ({**VALID, "trigger": {"type": "recurring"}}, [("trigger.cron", "MISSING_REQUIRED_FIELD")]),
        ({**VALID, "trigger": {"type": "recurring", "cron": "every day"}}, [("trigger.cron", "INVALID_CRON")]),
        ({**VALID, "trigger": {"type": "one_time"}}, [("trigger.runAt", "MISSING_REQUIRED_FIELD")]),
        ({**VALID, "trigger": {"type": "one_time", "runAt": "tomorrow"}}, [("trigger.runAt", "INVALID_FORMAT")]),
        ({**VALID, "trigger": {"type": "weekly", "cron": "0 8 * * *"}}, [("trigger.type", "INVALID_ENUM")]),
        (
            {**VALID, "trigger": {**VALID["trigger"], "timezone": "Nowhere/City"}},
            [("trigger.timezone", "INVALID_TIMEZONE")],
        ),
        ({**VALID, "target": {"flowId": "f", "recordIds": ["a", 2]}}, [("target.recordIds", "INVALID_TYPE")]),
        ({**VALID, "executionOptions": []}, [("executionOptions", "INVALID_TYPE")]),
        ({**VALID, "target": "flow_1"}, [("target", "INVALID_TYPE")]),
        ([VALID], [("", "INVALID_TYPE")]),
    ],
)
def test_create_validation_errors_are_400_with_details(api, body, expected):
    response = api("POST", "/v1/schedules", json=body, expect=400)
    assert_error_body(response)
    assert [(item["path"], item["code"]) for item in response["details"]] == expected


def test_update_validates_the_merged_schedule(api, runtype_server):
    schedule_id = runtype_server.seed_schedule()["id"]
    response = api("PUT", f"/v1/schedules/{schedule_id}", json={"trigger": {"type": "one_time"}}, expect=400)
    assert [(d["path"], d["code"]) for d in response["details"]] == [("trigger.runAt", "MISSING_REQUIRED_FIELD")]
    assert api("GET", f"/v1/schedules/{schedule_id}")["triggerType"] == "recurring"


def test_create_validates_the_flat_body(api, surface):
    body = api("POST", BASE, json={"cron": "0 9 * * 1"}, expect=400)
    assert [(d["path"], d["code"]) for d in body["details"]] == [
        ("flowId", "MISSING_REQUIRED_FIELD"),
        ("triggerType", "MISSING_REQUIRED_FIELD"),
    ]
    body = api("POST", BASE, json={"flowId": "f", "triggerType": "one_time"}, expect=400)
    assert [(d["path"], d["code"]) for d in body["details"]] == [("runAt", "MISSING_REQUIRED_FIELD")]
