"""The demo data set (``runtype_provider.testing.demo_data``): it holds every schedule the example DAGs name,
``seed_demo`` seeds it into a ``State`` or a ``LocalRuntype``, and its run outcomes are the fixed ones it declares."""

from __future__ import annotations

import pytest

from runtype_provider.testing import LocalRuntype
from runtype_provider.testing.demo_data import (
    ASSET_FAILING,
    ASSET_RECORDS,
    BATCH_FAILING,
    BATCH_FLOW,
    BATCH_RECORDS,
    BATCH_RECOVERING,
    CHAIN_FAILING,
    CHAIN_RECORDS,
    CORE_FAILING,
    CORE_RECORDS,
    DEMO_SCHEDULES,
    RETRY_FLOW,
    SURFACE,
    seed_demo,
)
from runtype_provider.testing.fake.handlers import State
from runtype_provider.testing.fake.settings import Settings

DEMO_IDS = [spec["schedule_id"] for spec in DEMO_SCHEDULES]


@pytest.fixture
def seeded() -> State:
    """A state holding the demo data whose runs finish at once (no queued or running time)."""
    state = State(Settings(queued_seconds=0, running_seconds=0))
    seed_demo(state)
    return state


def record_ids(state: State, schedule_id: str, status: str | None = None) -> list[str]:
    """The record ids of one fresh run of ``schedule_id`` (only those with ``status`` if given)."""
    run_id = state.run_schedule_now(schedule_id)["runId"]
    query = {"limit": "100", **({"status": status} if status else {})}
    return [row["recordId"] for row in state.get_run_results(run_id, query)["data"]]


def test_the_example_dags_name_schedules(example_dag_schedules):
    assert len(example_dag_schedules) >= 5


def test_the_demo_data_holds_every_schedule_an_example_dag_names(example_dag_schedules):
    assert set(DEMO_IDS) >= example_dag_schedules
    assert len(set(DEMO_IDS)) == len(DEMO_IDS)


def test_seed_demo_returns_every_schedule_in_order_and_stores_it():
    state = State()
    seeded = seed_demo(state)
    assert [s["id"] for s in seeded] == DEMO_IDS
    assert [s["name"] for s in seeded] == [spec["name"] for spec in DEMO_SCHEDULES]
    assert {s["id"] for s in state.list_schedules({"limit": "100"})["data"]} == set(DEMO_IDS)
    with pytest.raises(ValueError, match="already exists"):
        seed_demo(state)  # the ids are fixed: the set is seeded once per state


def test_seed_demo_accepts_a_local_runtype():
    server = LocalRuntype()
    assert [s["id"] for s in seed_demo(server)] == DEMO_IDS
    assert server.state.get_schedule("sch_weekday_crm_sync")["cron"] == "0 8 * * 1-5"


@pytest.mark.parametrize(
    ("schedule_id", "records", "failing"),
    [
        ("sch_nightly_enrichment", CORE_RECORDS, CORE_FAILING),
        ("sch_enrich_companies", CHAIN_RECORDS, CHAIN_FAILING),
        ("sch_account_refresh", ASSET_RECORDS, ASSET_FAILING),
        ("sch_weekday_crm_sync", ["rec_1", "rec_2", "rec_3", "rec_4", "rec_5"], ["rec_3"]),
    ],
)
def test_named_records_fail_exactly_as_declared(seeded, schedule_id, records, failing):
    assert record_ids(seeded, schedule_id) == records
    assert record_ids(seeded, schedule_id, "failed") == failing


@pytest.mark.parametrize(("schedule_id", "count"), [("sch_lead_scoring", 4), ("sch_weekly_digest", 3)])
def test_generated_records_all_succeed(seeded, schedule_id, count):
    assert len(record_ids(seeded, schedule_id)) == count
    assert record_ids(seeded, schedule_id, "failed") == []


def test_churn_watch_fails_a_quarter_of_its_records(seeded):
    assert record_ids(seeded, "sch_churn_watch", "failed") == ["rec_account_4", "rec_account_8"]


def test_the_broken_pipeline_run_fails_with_its_error(seeded):
    seeded.run_schedule_now("sch_broken_pipeline")
    (run,) = seeded.list_schedule_runs("sch_broken_pipeline")["data"]
    assert (run["status"], run["error"]) == ("failed", "Flow step 'fetch' failed: upstream returned 500")


def test_the_weekly_digest_is_the_one_schedule_on_the_demo_surface(seeded):
    listed = seeded.list_surface_schedules(SURFACE["product_id"], SURFACE["surface_id"])["data"]
    assert [(s["id"], s["flowName"]) for s in listed] == [("sch_weekly_digest", "Weekly digest")]


def test_the_cron_schedule_has_its_timezone_and_a_next_run():
    schedule = seed_demo(State())[DEMO_IDS.index("sch_weekday_crm_sync")]
    assert (schedule["triggerType"], schedule["timezone"], schedule["flowId"]) == (
        "recurring",
        "America/New_York",
        "flow_crm_sync",
    )
    assert schedule["nextRunAt"] is not None


# ---- batches (issue 17, items 4 and 8) -------------------------------------------------------------------------


def batch_rows(state: State, record_ids: list[str], flow_id: str = BATCH_FLOW) -> list[tuple[str, str]]:
    """(record id, status) of each record of one finished batch of ``record_ids``."""
    batch = state.submit_batch({"flowId": flow_id, "recordIds": record_ids})["batchExecutionId"]
    return [(row["recordId"], row["status"]) for row in state.get_batch_results(batch, {"limit": "100"})["data"]]


def test_in_a_batch_the_failing_leads_fail_and_only_the_recovering_ones_succeed_on_retry(seeded):
    first = batch_rows(seeded, BATCH_RECORDS)
    assert [rid for rid, status in first if status == "failed"] == BATCH_FAILING
    assert {status for rid, status in first if rid not in BATCH_FAILING} == {"completed"}
    assert set(BATCH_RECOVERING) < set(BATCH_FAILING)
    assert batch_rows(seeded, BATCH_FAILING) == [
        (rid, "completed" if rid in BATCH_RECOVERING else "failed") for rid in BATCH_FAILING
    ]  # a retry on the same flow recovers the transient failures only
    assert batch_rows(seeded, BATCH_RECOVERING, "flow_other") == [(rid, "failed") for rid in BATCH_RECOVERING]
    # The chaining example's failed records succeed in a batch on its retry flow.
    assert batch_rows(seeded, CHAIN_FAILING, RETRY_FLOW) == [(rid, "completed") for rid in CHAIN_FAILING]
    assert not set(BATCH_FAILING) & set(CHAIN_RECORDS + CORE_RECORDS + ASSET_RECORDS)


def test_seeding_keeps_failing_record_ids_already_set():
    state = State(Settings(failing_record_ids=("r-x", "lead_alan")))
    seed_demo(state)
    assert state.settings.failing_record_ids == ("r-x", "lead_alan", "lead_barbara")
