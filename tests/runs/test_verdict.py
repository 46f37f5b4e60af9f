"""The failed-records policy and the judgement of a finished run."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeRunError
from runtype_provider.runs.reference import RunProgress, RunReference
from runtype_provider.runs.status import classify_run_status
from runtype_provider.runs.verdict import FailedRecordsPolicy, conclude_run

REFERENCE = {"schedule_id": "sch_123", "run_id": "run_001", "batch_execution_id": "batch_abc"}


# ---- failed-records policy and the judgement of a finished run -------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, FailedRecordsPolicy()),
        (0, FailedRecordsPolicy(max_count=0)),
        (5, FailedRecordsPolicy(max_count=5)),
        ("7", FailedRecordsPolicy(max_count=7)),
        ("2.5%", FailedRecordsPolicy(max_percent=2.5)),
        (" 10 % ", FailedRecordsPolicy(max_percent=10.0)),
    ],
)
def test_failed_records_policy_parse(value, expected):
    assert FailedRecordsPolicy.parse(value) == expected


@pytest.mark.parametrize("value", [True, -1, "150%", "x%", "lots", 1.5, ["1"]])
def test_failed_records_policy_refuses_bad_values_by_name(value):
    with pytest.raises(RuntypeConfigurationError, match=r"^'allowed_failed_records'"):
        FailedRecordsPolicy.parse(value)


@pytest.mark.parametrize(
    ("policy", "failed", "total", "exceeded"),
    [
        (None, 100, 100, False),
        (0, 0, 100, False),
        (0, 1, 100, True),
        (3, 3, 100, False),
        (3, 4, 100, True),
        ("5%", 5, 100, False),
        ("5%", 6, 100, True),
        ("5%", 1, None, True),
        ("5%", 1, 0, True),
        ("5%", 0, None, False),
        ("5%", 0, 0, False),
        ("100%", 1, None, False),
        ("0%", 1, 1000, True),
    ],
)
def test_failed_records_policy_is_exceeded(policy, failed, total, exceeded):
    assert FailedRecordsPolicy.parse(policy).is_exceeded(failed, total) is exceeded


def progress(status: str, failed: int = 0, total: int = 10, error: str | None = None) -> RunProgress:
    return RunProgress(
        status=status,
        outcome=classify_run_status(status),
        total_records=total,
        processed_records=total,
        failed_records=failed,
        error=error,
    )


def test_conclude_run_returns_the_reference_with_status_and_counts():
    run = RunReference(**REFERENCE)
    result = conclude_run(progress("completed"), run, FailedRecordsPolicy(), logging.getLogger("t"))
    assert result == {
        **run.to_xcom(),
        "status": "completed",
        "outcome": "success",
        "total_records": 10,
        "processed_records": 10,
        "failed_records": 0,
    }


@pytest.mark.parametrize(
    ("state", "fragment"),
    [
        (progress("failed", error="Flow crashed"), "failed (status 'failed'): Flow crashed"),
        (progress("cancelled"), "was cancelled (status 'cancelled')"),
        (progress("completed", failed=2), "completed with 2 of 10 records failed; allowed: at most 1 failed records"),
    ],
)
def test_conclude_run_raises_for_bad_endings(state, fragment):
    run = RunReference(**REFERENCE, run_url="https://app.runtype.com/schedules/sch_123/runs/run_001")
    with pytest.raises(RuntypeRunError) as caught:
        conclude_run(state, run, FailedRecordsPolicy.parse(1), logging.getLogger("t"))
    message = str(caught.value)
    assert message.startswith("Runtype run run_001 of schedule sch_123 ")
    assert fragment in message
    assert message.endswith("See https://app.runtype.com/schedules/sch_123/runs/run_001")
    assert caught.value.run["status"] == state.status


def test_conclude_run_warns_about_tolerated_failed_records(caplog: Any):
    with caplog.at_level(logging.INFO, logger="conclude"):
        conclude_run(
            progress("completed", failed=2),
            RunReference(**REFERENCE),
            FailedRecordsPolicy(),
            logging.getLogger("conclude"),
        )
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "Runtype run run_001 completed with 2 of 10 records failed")
    ]


@pytest.mark.parametrize("total", [None, 0])
def test_a_percentage_policy_fails_when_the_failed_share_cannot_be_computed(total):
    state = RunProgress(
        status="completed", outcome=classify_run_status("completed"), total_records=total, failed_records=3
    )
    with pytest.raises(RuntypeRunError) as caught:
        conclude_run(state, RunReference(**REFERENCE), FailedRecordsPolicy.parse("5%"), logging.getLogger("t"))
    message = str(caught.value)
    assert "completed with 3 records failed, but the share of failed records could not be computed" in message
    assert f"the run's total record count is {total!r}; allowed: at most 5% failed records." in message
    assert caught.value.run["failed_records"] == 3


@pytest.mark.parametrize(("policy", "failed"), [("5%", 0), ("100%", 3), (None, 3)])
def test_a_missing_total_is_fine_when_no_share_is_needed(policy, failed):
    state = RunProgress(status="completed", outcome=classify_run_status("completed"), failed_records=failed)
    result = conclude_run(state, RunReference(**REFERENCE), FailedRecordsPolicy.parse(policy), logging.getLogger("t"))
    assert (result["outcome"], result["total_records"], result["failed_records"]) == ("success", None, failed)


def test_a_run_with_no_counts_at_all_concludes_on_its_status():
    state = RunProgress(status="completed", outcome=classify_run_status("completed"))
    result = conclude_run(state, RunReference(**REFERENCE), FailedRecordsPolicy.parse("5%"), logging.getLogger("t"))
    assert (result["status"], result["processed_records"], result["failed_records"]) == ("completed", None, None)
