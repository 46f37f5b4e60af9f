"""runtype_provider.tasks.waiting, the task side of a wait: how long it may last, what a timeout says, and how a
trigger's event is taken back (a malformed one never passes as a success)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from runtype_provider.exceptions import RuntypeException
from runtype_provider.operators.runtype import RuntypeRunScheduleOperator
from runtype_provider.runs.reference import RunProgress, RunReference
from runtype_provider.runs.status import RunOutcome
from runtype_provider.sensors.runtype import RuntypeScheduleRunSensor
from runtype_provider.tasks.waiting import RunWaiter

NOT_FINAL = "reported a run as finished without a final status"


class Waiter(RunWaiter):
    def __init__(self, timeout: float | None, execution_timeout: timedelta | None) -> None:
        self.timeout, self.execution_timeout = timeout, execution_timeout


@pytest.mark.parametrize(
    ("timeout", "execution_timeout", "limit"),
    [(None, None, None), (90, None, 90.0), (None, timedelta(minutes=2), 120.0), (600, timedelta(minutes=2), 120.0),
     (90, timedelta(minutes=2), 90.0)],
)  # fmt: skip
def test_a_wait_lasts_at_most_the_earlier_of_timeout_and_execution_timeout(timeout, execution_timeout, limit):
    assert Waiter(timeout, execution_timeout)._wait_limit() == limit


@pytest.mark.parametrize("cancelled", [True, False])
def test_a_timeout_says_how_long_where_the_run_stood_and_whether_it_may_still_run(cancelled: bool) -> None:
    run = RunReference(run_id="run-1", run_url="https://app.runtype.com/r")
    progress = RunProgress(status="running", outcome=RunOutcome.RUNNING, total_records=10, processed_records=4)

    message = RunWaiter._timeout_message(run, 60.0, progress, cancelled)

    assert message.startswith("Runtype run run-1 did not finish within 60 s (last seen running: 4/10 records")
    assert ("the run was cancelled" in message) is cancelled
    assert ("was NOT cancelled and may still be running" in message) is not cancelled
    assert message.endswith("https://app.runtype.com/r")
    assert "(no status was seen)" in RunWaiter._timeout_message(run, None, None, False)


@pytest.mark.parametrize("task", ["operator", "sensor"])
def test_execute_complete_refuses_a_malformed_event(runtype_conn, requests_mock, context, run_reference, task):
    resumed = (
        RuntypeRunScheduleOperator(task_id="run", schedule_id="sch-1")
        if task == "operator"
        else RuntypeScheduleRunSensor(task_id="wait", run=run_reference)
    )

    with pytest.raises(RuntypeException, match=NOT_FINAL):
        resumed.execute_complete(context, {"event": "finished", "run": run_reference})

    assert requests_mock.call_count == 0
