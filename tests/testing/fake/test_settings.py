"""Validation of the server settings: at construction and on every runtime change, before anything changes."""

from __future__ import annotations

import math
from dataclasses import asdict

import pytest

from runtype_provider.testing.fake.handlers import State
from runtype_provider.testing.fake.hosts import MAX_ALLOWED_HOSTS
from runtype_provider.testing.fake.settings import MAX_LOGGED_REQUESTS, MAX_RECORDS, Settings


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"queued_seconds": math.nan}, "queued_seconds"),
        ({"running_seconds": math.inf}, "running_seconds"),
        ({"running_seconds": True}, "running_seconds"),
        ({"running_seconds": 1, "failure_share": math.nan}, "failure_share"),
        ({"default_record_count": MAX_RECORDS + 1}, "default_record_count"),
        ({"default_record_count": 1.5}, "default_record_count"),
        ({"max_active_schedules": 2.5}, "max_active_schedules"),
        ({"cost_per_record_usd": -0.01}, "cost_per_record_usd"),
        ({"cost_per_record_usd": math.nan}, "cost_per_record_usd"),
        ({"billed_cost_share": 1.5}, "billed_cost_share"),
        ({"daily_record_limit": -1}, "daily_record_limit"),
        ({"daily_record_limit": 1.5}, "daily_record_limit"),
        ({"failing_record_ids": "r1"}, "failing_record_ids"),
        ({"failing_record_ids": [1]}, "failing_record_ids"),
        ({"recovering_record_ids": "r1"}, "recovering_record_ids"),
        ({"api_key": ""}, "api_key"),
        ({"admin_token": ""}, "admin_token"),
        ({"max_logged_requests": -1}, "max_logged_requests"),
        ({"max_logged_requests": MAX_LOGGED_REQUESTS + 1}, "max_logged_requests"),
        ({"max_logged_requests": 2.5}, "max_logged_requests"),
        ({"allowed_hosts": "localhost"}, "allowed_hosts"),
    ],
)
def test_configure_validates_everything_before_changing_anything(state, changes, field):
    before = asdict(state.settings)
    with pytest.raises(ValueError, match=field):
        state.configure(**changes)
    assert asdict(state.settings) == before


def test_configure_returns_the_settings_without_secrets(state):
    assert not {"api_key", "read_only_api_key", "admin_token"} & set(state.configure(running_seconds=3))


def test_settings_are_validated_at_construction():
    with pytest.raises(ValueError, match="default_record_count"):
        State(Settings(default_record_count=MAX_RECORDS + 1))
    with pytest.raises(ValueError, match="queued_seconds"):
        State(Settings(queued_seconds=math.nan))


# ---------------------------------------------------------------------------- latency_seconds


def test_latency_defaults_to_zero_and_can_be_changed_at_runtime(state):
    assert state.settings.latency_seconds == 0
    assert state.configure(latency_seconds=0.03)["latency_seconds"] == 0.03
    assert state.configure(latency_seconds=1)["latency_seconds"] == 1


@pytest.mark.parametrize("latency", [-0.01, math.nan, math.inf, True, "0.1", None, 61])
def test_a_latency_that_is_not_a_number_from_0_to_60_seconds_is_refused_by_name(state, latency):
    before = asdict(state.settings)
    with pytest.raises(ValueError, match="latency_seconds"):
        state.configure(latency_seconds=latency)
    assert asdict(state.settings) == before
    with pytest.raises(ValueError, match="latency_seconds"):
        State(Settings(latency_seconds=latency))


# ---------------------------------------------------------------------------- allowed_hosts, max_logged_requests


@pytest.mark.parametrize(
    "hosts",
    [["*"], ["*.example"], [""], ["evil.example:80"], ["localhost."], [5], "runtype.test", None,
     [f"h{i}.test" for i in range(MAX_ALLOWED_HOSTS + 1)]],
)  # fmt: skip
def test_allowed_hosts_must_be_explicit_host_names(hosts):
    with pytest.raises(ValueError, match="allowed_hosts"):
        State(Settings(allowed_hosts=hosts))


def test_allowed_hosts_default_to_none_and_take_names_and_ip_literals():
    assert Settings().allowed_hosts == ()
    hosts = ("runtype.test", "HOST-1.example", "10.0.0.5", "[fe80::1]")
    assert State(Settings(allowed_hosts=hosts)).settings.public()["allowed_hosts"] == hosts


def test_max_logged_requests_accepts_zero_to_the_cap():
    assert State(Settings(max_logged_requests=0)).settings.max_logged_requests == 0
    assert (
        State(Settings(max_logged_requests=MAX_LOGGED_REQUESTS)).configure(max_logged_requests=7)["max_logged_requests"]
        == 7
    )
