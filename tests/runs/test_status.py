"""What a run or record status means: the one classification every module uses."""

from __future__ import annotations

import pytest

from runtype_provider.runs.status import RunOutcome, classify_run_status, is_failed_record_status

# ---- status classification --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("completed", RunOutcome.SUCCESS),
        ("complete", RunOutcome.SUCCESS),
        ("success", RunOutcome.SUCCESS),
        ("succeeded", RunOutcome.SUCCESS),
        ("done", RunOutcome.SUCCESS),
        ("finished", RunOutcome.SUCCESS),
        ("failed", RunOutcome.FAILED),
        ("failure", RunOutcome.FAILED),
        ("error", RunOutcome.FAILED),
        ("errored", RunOutcome.FAILED),
        ("timed_out", RunOutcome.FAILED),
        ("timeout", RunOutcome.FAILED),
        ("interrupted", RunOutcome.FAILED),
        ("cancelled", RunOutcome.CANCELLED),
        ("canceled", RunOutcome.CANCELLED),
        ("aborted", RunOutcome.CANCELLED),
        ("cancelling", RunOutcome.CANCELLED),
        ("queued", RunOutcome.RUNNING),
        ("pending", RunOutcome.RUNNING),
        ("running", RunOutcome.RUNNING),
        ("in_progress", RunOutcome.RUNNING),
        ("processing", RunOutcome.RUNNING),
        ("started", RunOutcome.RUNNING),
        ("scheduled", RunOutcome.RUNNING),
        ("created", RunOutcome.RUNNING),
        ("paused", RunOutcome.RUNNING),
        ("retrying", RunOutcome.RUNNING),
        ("COMPLETED", RunOutcome.SUCCESS),
        ("  Failed ", RunOutcome.FAILED),
        ("Running", RunOutcome.RUNNING),
        ("hibernating", RunOutcome.UNKNOWN),
        ("", RunOutcome.UNKNOWN),
        (None, RunOutcome.UNKNOWN),
    ],
)
def test_classify_run_status(status, outcome):
    assert classify_run_status(status) is outcome


@pytest.mark.parametrize(
    ("outcome", "terminal"),
    [
        (RunOutcome.SUCCESS, True),
        (RunOutcome.FAILED, True),
        (RunOutcome.CANCELLED, True),
        (RunOutcome.RUNNING, False),
        (RunOutcome.UNKNOWN, False),
    ],
)
def test_terminal_outcomes(outcome, terminal):
    assert outcome.is_terminal is terminal


@pytest.mark.parametrize(
    ("status", "failed"),
    [("failed", True), ("ERROR", True), ("timeout", True), ("success", False), ("completed", False), (None, False)],
)
def test_is_failed_record_status(status, failed):
    assert is_failed_record_status(status) is failed


# ---- a run of several batches: the one combining rule ---------------------------------------------------------


@pytest.mark.parametrize(
    ("outcomes", "decides"),
    [
        (["success", "running", "failed"], 1),  # any batch still going: the run is going
        (["success", "failed", "unknown"], 2),  # an unknown status counts as going
        (["success", "cancelled", "failed"], 2),  # all ended: a failure beats a cancellation
        (["cancelled", "success", "success"], 0),
        (["success", "success"], 0),  # all succeeded: the first speaks for the run
        (["failed", "failed"], 0),
    ],
)
def test_one_rule_decides_which_batch_speaks_for_a_run_of_several(outcomes, decides):
    from runtype_provider.runs.status import deciding_batch

    assert deciding_batch([RunOutcome(o) for o in outcomes]) == decides


def test_a_run_without_batches_has_no_deciding_batch():
    from runtype_provider.runs.status import deciding_batch

    with pytest.raises(ValueError, match="at least one batch"):
        deciding_batch([])
