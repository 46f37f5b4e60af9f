"""The store of the local Runtype, driven in process: seeding (keywords or a ``SeedSpec``), schedule knobs,
the request log (bound, masking, late bodies), the random admin token, and the local cron starting runs as the
clock advances."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from datetime import datetime, timezone

import pytest

from runtype_provider.testing.fake import store
from runtype_provider.testing.fake.handlers import State
from runtype_provider.testing.fake.settings import DEFAULT_API_KEY, MAX_RECORDS, AdminTokenWarning, SeedSpec, Settings
from runtype_provider.testing.fake.simulation import MAX_FIRINGS, SimClock
from runtype_provider.testing.fake.store import advance, new_admin_token, start_due_runs
from runtype_provider.testing.fake.wire import ApiError

UTC = timezone.utc

T0 = datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"run_outcome": "exploded"}, "run_outcome"),
        ({"failure_share": 1.5}, "failure_share"),
        ({"product_id": "p"}, "product_id and surface_id"),
        ({"cron": "61 * * * *"}, "minute"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
    ],
)
def test_seed_schedule_rejects_bad_arguments(state, kwargs, message):
    with pytest.raises(ValueError, match=message):
        state.seed_schedule(**kwargs)


def test_seed_schedule_rejects_a_duplicate_id(state):
    state.seed_schedule(schedule_id="sch_x")
    with pytest.raises(ValueError, match="already exists"):
        state.seed_schedule(schedule_id="sch_x")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"record_ids": "abc"}, "record_ids"),
        ({"record_ids": [f"r{i}" for i in range(MAX_RECORDS + 1)]}, "record_ids"),
        ({"record_count": MAX_RECORDS + 1}, "record_count"),
        ({"record_count": 2.5}, "record_count"),
        ({"failing_record_ids": "abc"}, "failing_record_ids"),
        ({"schedule_id": 5}, "schedule_id"),
        ({"queued_seconds": math.inf}, "queued_seconds"),
    ],
)
def test_seed_schedule_validates_before_adding_anything(state, kwargs, field):
    with pytest.raises(ValueError, match=field):
        state.seed_schedule(**kwargs)
    assert state.list_schedules({})["data"] == []


def test_seed_schedule_takes_a_seed_spec_or_the_same_fields_as_keywords(state):
    spec = SeedSpec(
        schedule_id="sch_spec", name="Spec", record_ids=["a", "b"], failing_record_ids=["b"], cron="0 9 * * *"
    )
    from_spec = state.seed_schedule(spec)
    from_keywords = state.seed_schedule(**{**asdict(spec), "schedule_id": "sch_keywords"})
    varying = {"id", "createdAt", "updatedAt"}
    assert {k: v for k, v in from_spec.items() if k not in varying} == {
        k: v for k, v in from_keywords.items() if k not in varying
    }
    assert (from_spec["id"], from_spec["cron"], from_spec["recordIds"]) == ("sch_spec", "0 9 * * *", ["a", "b"])
    assert state.configure_schedule("sch_spec")["failing_record_ids"] == ["b"]
    with pytest.raises(TypeError):
        state.seed_schedule(spec, name="both")
    with pytest.raises(TypeError, match="no_such_field"):
        state.seed_schedule(no_such_field=1)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"record_count": 2.5}, "record_count"),
        ({"record_count": MAX_RECORDS + 1}, "record_count"),
        ({"failing_record_ids": "abc"}, "failing_record_ids"),
        ({"failing_record_ids": [f"r{i}" for i in range(MAX_RECORDS + 1)]}, "failing_record_ids"),
        ({"running_seconds": math.nan}, "running_seconds"),
        ({"failure_share": 0.5, "error": 5}, "error"),
    ],
)
def test_configure_schedule_validates_before_changing_anything(state, clock, changes, field):
    schedule_id = state.seed_schedule(record_ids=["a", "b"])["id"]
    before = state.configure_schedule(schedule_id)
    with pytest.raises(ValueError, match=field):
        state.configure_schedule(schedule_id, **changes)
    assert state.configure_schedule(schedule_id) == before
    run_id = state.run_schedule_now(schedule_id)["runId"]
    clock.advance(20)
    assert state.get_run_results(run_id, {})["pagination"]["total"] == 2


# ---------------------------------------------------------------------------- the request log


def test_the_state_keeps_at_most_max_logged_requests_and_lowering_it_trims_at_once():
    state = State(Settings(max_logged_requests=5))
    for i in range(12):
        state.log_request("GET", f"/v1/schedules/s{i}")
    assert [e["path"] for e in state.requests()] == [f"/v1/schedules/s{i}" for i in range(7, 12)]
    assert state.request_log_stats() == {"logged": 5, "dropped": 7, "refused_hosts": 0}
    state.configure(max_logged_requests=2)
    assert [e["path"] for e in state.requests()] == ["/v1/schedules/s10", "/v1/schedules/s11"]
    assert state.request_log_stats()["dropped"] == 10
    state.clear_requests()
    assert state.request_log_stats() == {"logged": 0, "dropped": 0, "refused_hosts": 0}


def test_a_body_that_arrives_after_the_log_was_cleared_is_not_kept():
    state = State()
    entry = state.log_request("POST", "/v1/schedules")
    state.clear_requests()
    state.log_body(entry, b'{"a": 1}')
    assert state.requests() == [] and entry.raw_body is None


def test_the_state_masks_every_configured_secret_and_the_random_admin_token():
    state = State(Settings(api_key="rt_test_k/1", read_only_api_key="rt_test_ro"))
    token = state.admin_token
    entry = state.log_request("POST", f"/v1/{token}", "a=rt_test_k%2F1&b=rt_test_ro")
    state.log_body(entry, json.dumps({token: ["x rt_test_k/1 y"]}).encode())
    [logged] = state.requests()
    assert logged["path"] == "/v1/[redacted]"
    assert logged["query"] == "a=[redacted]&b=[redacted]"
    assert logged["body"] == {"[redacted]": ["x [redacted] y"]}


@pytest.mark.parametrize(("authorization", "known"), [
    ("Bearer rt_test_local_demo_key", True), ("bearer rt_test_local_demo_key", True), ("Bearer nope", False),
    (None, False), ("rt_test_local_demo_key", False),
])  # fmt: skip
def test_authenticated_knows_the_api_keys(authorization, known):
    assert State().authenticated(authorization) is known


# ---------------------------------------------------------------------------- the admin token


def test_the_default_admin_token_is_random_per_state_and_no_api_key():
    first, second = State(), State(Settings(read_only_api_key="rt_test_ro"))
    assert first.settings.admin_token is None
    assert len(first.admin_token) >= 32 and first.admin_token != second.admin_token
    assert first.admin_token not in (first.settings.api_key, DEFAULT_API_KEY)
    assert second.admin_token not in (second.settings.api_key, "rt_test_ro")
    first.authorize_admin(f"Bearer {first.admin_token}")
    with pytest.raises(ApiError) as refused:
        first.authorize_admin(f"Bearer {DEFAULT_API_KEY}")
    assert refused.value.status == 401


def test_the_random_admin_token_survives_reset_and_an_unset_admin_token():
    state = State()
    token = state.admin_token
    state.reset()
    state.configure(admin_token="rt_test_explicit")
    assert state.admin_token == "rt_test_explicit"
    state.configure(admin_token=None)
    assert state.admin_token == token


def test_new_admin_token_never_returns_an_api_key(monkeypatch):
    tokens = iter([DEFAULT_API_KEY, "rt_test_ro", "rt_test_fresh"])
    monkeypatch.setattr(store.secrets, "token_urlsafe", lambda n: next(tokens))
    assert new_admin_token(Settings(read_only_api_key="rt_test_ro")) == "rt_test_fresh"


def test_an_explicit_admin_token_wins_and_warns_when_it_is_an_api_key():
    assert State(Settings(admin_token="rt_test_adm")).admin_token == "rt_test_adm"
    with pytest.warns(AdminTokenWarning, match="admin_token is an API key"):
        state = State(Settings(admin_token=DEFAULT_API_KEY))
    assert state.admin_token == DEFAULT_API_KEY
    with pytest.warns(AdminTokenWarning):
        State(Settings(read_only_api_key="rt_test_ro")).configure(admin_token="rt_test_ro")


def test_allowed_hosts_are_fixed_at_startup():
    state = State(Settings(allowed_hosts=("runtype.test",)))
    assert state.configure(running_seconds=3)["allowed_hosts"] == ("runtype.test",)
    with pytest.raises(ValueError, match="allowed_hosts can only be set when the server starts"):
        state.configure(allowed_hosts=["evil.example"])
    with pytest.raises(ValueError, match="allowed_hosts"):
        State().configure(allowed_hosts=["runtype.test"])
    assert state.settings.allowed_hosts == ("runtype.test",)


# ---------------------------------------------------------------------------- the local cron and its clock


def make_state(**settings) -> State:
    state = State(Settings(queued_seconds=1, running_seconds=10, **settings))
    state.clock = SimClock(state.clock._monotonic, wall=lambda: T0)
    state._clock = state.clock.monotonic
    state._cron.restart(T0)
    return state


def runs_of(state: State, schedule_id: str) -> list[dict]:
    return state.list_schedule_runs(schedule_id)["data"]


def test_cron_runs_start_at_their_firing_times_and_finish_as_time_advances() -> None:
    state = make_state(cron_runs=True)
    state.seed_schedule(schedule_id="sch_cron", cron="*/5 * * * *", record_count=4)
    state.seed_schedule(schedule_id="sch_daily", cron="0 8 * * *")  # next firing tomorrow: never here
    state.seed_schedule(schedule_id="sch_paused", cron="* * * * *", enabled=False)

    answer = advance(state, 15 * 60)

    assert len(answer["cronRuns"]) == 3 and answer["offsetSeconds"] == 900.0
    runs = runs_of(state, "sch_cron")
    assert sorted(r["createdAt"] for r in runs) == [
        "2026-03-02T09:05:00.000Z",
        "2026-03-02T09:10:00.000Z",
        "2026-03-02T09:15:00.000Z",
    ]
    # Started at 09:05 and 09:10: finished 11 s later; the 09:15 run (started 30 s ago) too.
    assert {r["status"] for r in runs} == {"completed"}
    assert {r["completedAt"] for r in runs} >= {"2026-03-02T09:05:11.000Z"}
    assert runs_of(state, "sch_daily") == [] and runs_of(state, "sch_paused") == []
    # Another minute: no firing; a run started by hand still works beside cron runs.
    assert advance(state, 60)["cronRuns"] == []
    state.run_schedule_now("sch_cron")
    assert runs_of(state, "sch_cron")[0]["status"] == "queued"


def test_cron_runs_are_off_by_default_and_count_from_when_switched_on() -> None:
    state = make_state()
    state.seed_schedule(schedule_id="sch_cron", cron="* * * * *")
    assert advance(state, 600)["cronRuns"] == [] and runs_of(state, "sch_cron") == []

    state.configure(cron_runs=True)
    assert start_due_runs(state) == []  # no back-fill of the ten minutes before
    assert len(advance(state, 120)["cronRuns"]) == 2


def test_one_time_schedules_fire_once_and_big_advances_are_bounded() -> None:
    state = make_state(cron_runs=True)
    state.seed_schedule(schedule_id="sch_once", run_at="2026-03-02T10:00:00Z")
    state.seed_schedule(schedule_id="sch_minutely", cron="* * * * *")

    advance(state, 7 * 86_400)
    advance(state, 86_400)

    assert len(runs_of(state, "sch_once")) == 1
    minutely = runs_of(state, "sch_minutely")
    assert len(minutely) == 2 * MAX_FIRINGS  # the latest firings of each advance, not 11,520 runs
    assert minutely[0]["createdAt"] == "2026-03-10T09:00:00.000Z"
