"""runtype_provider.hooks.progress: which read answers "how far is this run" (batch status or the schedule's run
list), and a deferred wait's shared reads choosing the run list while it lists the run as active
(``shared_run_list_polls``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from client.test_shared import RUNS, batch_body, run_row, wait_all

from runtype_provider.api.responses import ScheduleRun
from runtype_provider.client.shared import shared_connection
from runtype_provider.exceptions import RuntypeConfigurationError
from runtype_provider.hooks.progress import SharedRunReader, listed_run, progress_read
from runtype_provider.hooks.runtype import RuntypeHook
from runtype_provider.runs.reference import RunReference
from runtype_provider.triggers.runtype import RuntypeScheduleRunTrigger

pytestmark = pytest.mark.usefixtures("runtype_conn")


@pytest.mark.parametrize(
    ("run", "read"),
    [
        (RunReference(schedule_id="s", run_id="r", batch_execution_id="b"), ("get_batch_status", {"batch_id": "b"})),
        (RunReference(schedule_id="s", run_id="r"), ("list_schedule_runs", {"schedule_id": "s"})),
    ],
)
def test_a_run_is_read_by_its_batch_status_when_its_batch_id_is_known_else_by_its_schedules_run_list(run, read):
    assert progress_read(run) == read


def test_a_run_that_cannot_be_polled_is_refused_before_any_read():
    with pytest.raises(RuntypeConfigurationError):
        progress_read(RunReference(run_id="r"))


def test_the_listed_row_has_the_runs_batch_id_and_run_id_when_known():
    rows = [ScheduleRun(id="r1", batch_execution_id="b"), ScheduleRun(id="r2", batch_execution_id="b")]
    assert listed_run(rows, RunReference(schedule_id="s", run_id="r2", batch_execution_id="b")) is rows[1]
    assert listed_run(rows, RunReference(schedule_id="s", batch_execution_id="b")) is rows[0]
    assert listed_run(rows, RunReference(schedule_id="s", run_id="r3", batch_execution_id="b")) is None


def run_list_waits(router, clock, monkeypatch, run_list_polls: bool) -> tuple[list[dict], Any, dict]:
    """Ten waits on runs with batch ids of schedule sch-1, which finish once the waits have slept (fake clock). The
    run list lists run 9 only once it is finished; batch status says 7 records processed, the list 10. The
    connection's extra ``shared_run_list_polls`` is ``run_list_polls``."""
    conn = {"conn_type": "runtype", "host": "https://api.runtype.com", "password": "rt_test_list"}
    conn["extra"] = {"shared_run_list_polls": run_list_polls}  # type: ignore[assignment]
    monkeypatch.setenv("AIRFLOW_CONN_RUNTYPE_DEFAULT", json.dumps(conn))
    finish = clock.now + 10

    def listing(request: httpx.Request) -> httpx.Response:
        done = clock.now >= finish
        rows = [run_row(i, "completed" if done else "running") for i in range(10) if done or i != 9]
        return httpx.Response(200, json={"data": rows})

    runs = router.get(RUNS).mock(side_effect=listing)
    batches: dict[str, int] = {}

    def status(request: httpx.Request) -> httpx.Response:
        batch_id = request.url.path.rsplit("/", 1)[1]
        batches[batch_id] = batches.get(batch_id, 0) + 1
        return httpx.Response(200, json=batch_body(batch_id, "completed" if clock.now >= finish else "running", 7))

    router.get(url__regex=r"/v1/batch/status/").mock(side_effect=status)
    triggers = [
        RuntypeScheduleRunTrigger(
            run={"schedule_id": "sch-1", "run_id": f"run-{i}", "batch_execution_id": f"b-{i}"},
            poll_interval=10,
        )
        for i in range(10)
    ]
    return wait_all(triggers), runs, batches


def test_run_list_polls_answer_many_waits_and_take_final_counts_from_batch_status(router, clock, monkeypatch):
    events, runs, batches = run_list_waits(router, clock, monkeypatch, True)

    assert runs.call_count == 2
    # Final status and counts come from batch status, as with per-run polling (the run list says 10 processed).
    assert {(e["progress"]["status"], e["progress"]["processed_records"]) for e in events} == {("completed", 7)}
    # A batch is read when its run is final in the list (the read confirms it), or not listed (run 9's first poll),
    # or when its wait was the list's only reader so far (the first wait's first poll): at most 12 reads, not 20.
    assert sum(batches.values()) <= 12 and set(batches) == {f"b-{i}" for i in range(10)} and batches["b-0"] == 2

    per_run_events, _, per_run_batches = run_list_waits(router, clock, monkeypatch, False)  # a read per poll
    assert (sum(per_run_batches.values()), runs.call_count) == (20, 2)
    assert [e["progress"] for e in per_run_events] == [e["progress"] for e in events]


@pytest.mark.parametrize(
    ("listed", "batch_reads"),
    [("completed", 1), ("mystery", 1), ("running", 0), (None, 1)],
    ids=["final-confirmed", "unknown-confirmed", "running-from-list", "unlisted-falls-back"],
)
def test_a_run_list_row_answers_only_while_it_says_queued_or_running(router, listed, batch_reads):
    """The list answers a poll only for a known active status; otherwise the batch status (per-run read) does."""
    rows = [run_row(i, listed or "running") for i in range(2) if listed or i != 0]
    router.get(RUNS).mock(return_value=httpx.Response(200, json={"data": rows}))
    status = router.get("/v1/batch/status/b-0").mock(
        return_value=httpx.Response(200, json=batch_body("b-0", "running", 4))
    )

    async def poll() -> Any:
        async with shared_connection("runtype_default", RuntypeHook.aread_connection) as share:
            readers = [SharedRunReader(share, {}, sleep=asyncio.sleep, run_list_polls=True) for _ in range(2)]
            refs = [RunReference(schedule_id="sch-1", run_id=f"run-{i}", batch_execution_id=f"b-{i}") for i in range(2)]
            for reader in readers:
                reader._key("list_schedule_runs", schedule_id="sch-1")  # both count as readers of the list
            return await readers[0].get_run_progress_async(refs[0])

    progress = asyncio.run(poll())

    assert status.call_count == batch_reads
    assert (progress.status, progress.listed) == ("running", True)
    assert progress.processed_records == (None if batch_reads == 0 else 4)  # the list's row has no counts


def test_a_deferred_wait_on_a_run_of_several_batches_reads_each_batch_still_going_once_per_poll(router, clock):
    """The trigger waits on a run of three batches: b-1 ended at once (read once), b-2 and b-3 are read each poll
    until they end; the event carries the summed counts and the reference with every batch."""
    finish = clock.now + 20
    calls: dict[str, int] = {}

    def status(request: httpx.Request) -> httpx.Response:
        batch_id = request.url.path.rsplit("/", 1)[1]
        calls[batch_id] = calls.get(batch_id, 0) + 1
        done = batch_id == "b-1" or clock.now >= finish
        return httpx.Response(200, json=batch_body(batch_id, "completed" if done else "running", 10 if done else 4))

    router.get(url__regex=r"/v1/batch/status/").mock(side_effect=status)
    run = RunReference(batch_execution_ids=["b-1", "b-2", "b-3"])
    [event] = wait_all([RuntypeScheduleRunTrigger(run=run.to_xcom(), poll_interval=10)])

    assert event["event"] == "finished" and event["run"]["batch_execution_ids"] == ["b-1", "b-2", "b-3"]
    progress = event["progress"]
    assert (progress["status"], progress["total_records"], progress["failed_records"]) == ("completed", 30, 3)
    assert calls == {"b-1": 1, "b-2": 3, "b-3": 3}  # polls at 0, 10 and 20 s
