"""Run progress, the run reference (exactly its fields) and the result of a wait."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from runtype_provider.api.responses import (
    BatchStatus,
    ScheduleRun,
)
from runtype_provider.exceptions import RuntypeConfigurationError
from runtype_provider.runs.reference import RunCost, RunProgress, RunReference, build_run_url
from runtype_provider.runs.status import RunOutcome

EXAMPLES = json.loads((Path(__file__).resolve().parents[1] / "data" / "runtype_api_examples.json").read_text())
SCHEDULE = EXAMPLES["schedule"]
RUN = {**EXAMPLES["run"], "status": "running", "processedRecords": 40, "failedRecords": 3}


def test_run_progress_from_batch():
    batch = BatchStatus.model_validate(
        {"batchExecutionId": "b1", "status": "failed", "totalRecords": 10, "processedRecords": 4, "failedRecords": 4}
    )
    progress = RunProgress.from_batch(batch, RunReference(run_id="r1", batch_execution_id="b0"))
    assert (progress.outcome, progress.run_id, progress.batch_execution_id, progress.total_records) == (
        RunOutcome.FAILED,
        "r1",
        "b1",
        10,
    )


def test_run_progress_from_run():
    progress = RunProgress.from_run(ScheduleRun.model_validate(RUN))
    assert (progress.run_id, progress.outcome, progress.processed_records) == ("run_001", RunOutcome.RUNNING, 40)


def test_run_progress_describe():
    progress = RunProgress.from_run(ScheduleRun.model_validate(RUN))
    assert progress.describe() == "running: 40/100 records processed, 3 failed"
    assert RunProgress().describe() == "unknown: 0/? records processed, 0 failed"


def test_progress_from_run_list_finds_the_run_or_has_no_status_yet():
    runs = [ScheduleRun(id="a", status="failed"), ScheduleRun(id="b", status="completed")]
    found = RunProgress.from_run_list(runs, RunReference(schedule_id="s", run_id="b"))
    assert (found.run_id, found.status, found.outcome) == ("b", "completed", RunOutcome.SUCCESS)
    missing = RunProgress.from_run_list(runs, RunReference(schedule_id="s", run_id="c"))
    assert (missing.run_id, missing.status, missing.outcome) == ("c", None, RunOutcome.UNKNOWN)


# ---- run references ---------------------------------------------------------------------------------------

REFERENCE = {"schedule_id": "sch_123", "run_id": "run_001", "batch_execution_id": "batch_abc"}


def test_coerce_returns_a_reference_unchanged():
    reference = RunReference(**REFERENCE)
    assert RunReference.coerce(reference) is reference


def test_coerce_accepts_a_dict():
    assert RunReference.coerce(REFERENCE) == RunReference(**REFERENCE)


def test_coerce_accepts_a_json_string():
    assert RunReference.coerce(json.dumps(REFERENCE)) == RunReference(**REFERENCE)


def test_coerce_drops_what_is_not_a_reference_field():
    # A previous task's return value (reference + status + counts) must not ride along into the next task.
    reference = RunReference.coerce({**REFERENCE, "status": "queued", "failed_records": 3})
    assert set(reference.to_xcom()) == {
        "schedule_id",
        "run_id",
        "batch_execution_id",
        "product_id",
        "surface_id",
        "run_url",
    }


def test_reference_round_trips_through_xcom_json():
    reference = RunReference(**REFERENCE, product_id="p1", surface_id="s1", run_url="https://app.runtype.com/x")
    assert RunReference.coerce(json.dumps(reference.to_xcom())) == reference


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("{not json", "is not a valid Runtype run reference"),
        ("[1, 2]", "is not a valid Runtype run reference"),
        ({"run_id": 123}, "is not a valid Runtype run reference"),
        ({"schedule_id": ["a"]}, "is not a valid Runtype run reference"),
        (42, "must be a run reference dict"),
        (["run_001"], "must be a run reference dict"),
        (None, "must be a run reference dict"),
    ],
)
def test_coerce_refuses_what_is_not_a_reference(value, fragment):
    with pytest.raises(RuntypeConfigurationError, match=f"'run' {fragment}"):
        RunReference.coerce(value)


def test_coerce_errors_name_the_given_argument():
    with pytest.raises(RuntypeConfigurationError, match=r"^'upstream_run' must be a run reference dict"):
        RunReference.coerce(3.5, argument="upstream_run")


@pytest.mark.parametrize(
    "fields", [{"batch_execution_id": "b1"}, {"run_id": "r1", "schedule_id": "s1"}, REFERENCE], ids=str
)
def test_pollable_references(fields):
    RunReference(**fields).require_pollable()


@pytest.mark.parametrize("fields", [{}, {"run_id": "r1"}, {"schedule_id": "s1"}], ids=str)
def test_references_that_cannot_be_polled_are_refused(fields):
    with pytest.raises(RuntypeConfigurationError, match="'run' needs 'batch_execution_id', or both 'run_id'"):
        RunReference(**fields).require_pollable()


@pytest.mark.parametrize("field", ["total_records", "processed_records", "failed_records"])
def test_progress_counts_are_never_negative(field):
    with pytest.raises(ValidationError, match=field):
        RunProgress.model_validate({"status": "completed", field: -1})


@pytest.mark.parametrize(
    ("ids", "url"),
    [
        ({"schedule_id": "..", "run_id": "."}, "https://app.runtype.com/schedules/%2E%2E/runs/%2E"),
        ({"batch_execution_id": ".."}, "https://app.runtype.com/batches/%2E%2E"),
        ({"schedule_id": "..a", "run_id": "a/b"}, "https://app.runtype.com/schedules/..a/runs/a%2Fb"),
    ],
)
def test_ids_never_move_the_link_to_another_page(ids, url):
    assert build_run_url("https://app.runtype.com", RunReference(**ids)) == url


@pytest.mark.parametrize("value", ["run_1", "  b-7 ", "x" * 500])
def test_a_bare_id_given_as_run_says_what_to_write_instead_not_the_validation_text(value):
    with pytest.raises(RuntypeConfigurationError) as caught:
        RunReference.coerce(value)

    message = str(caught.value)
    assert message.startswith("'run' is not a valid Runtype run reference: got the string")
    assert "run=run_task.output" in message
    assert "batch_execution_id=" in message and "run_id=" in message
    assert "validation error" not in message and "json_invalid" not in message and len(message) < 400


def test_run_cost_gives_the_billed_cost_only_when_runtype_said():
    from types import SimpleNamespace

    assert RunCost.from_answer(SimpleNamespace(total_cost_usd=1.5, billed_cost_usd=None)).to_xcom() == {
        "total_cost_usd": 1.5
    }
    both = RunCost.from_answer(SimpleNamespace(total_cost_usd=1.5, billed_cost_usd=1.0))
    assert both.to_xcom() == {"total_cost_usd": 1.5, "billed_cost_usd": 1.0}
    assert both.describe() == "$1.5000 (billed $1.0000)" and RunCost().describe() == "?"


# ---- a run of several batches ---------------------------------------------------------------------------------


def test_a_run_of_several_batches_lists_them_all_and_a_run_of_one_keeps_its_old_shape():
    run = RunReference(batch_execution_ids=["b-1", "b-2", "b-3"], run_url="https://x/batches/b-1")
    assert run.batch_execution_id == "b-1" and run.batch_ids == ("b-1", "b-2", "b-3")
    assert run.name == "b-1..b-3 (3 batches)"
    assert run.to_xcom()["batch_execution_ids"] == ["b-1", "b-2", "b-3"]
    assert RunReference.coerce(json.dumps(run.to_xcom())) == run  # XCom and the trigger's kwargs round-trip
    assert [part.batch_execution_id for part in run.batches()] == ["b-1", "b-2", "b-3"]
    one = RunReference(batch_execution_ids=["b-1"])
    assert one == RunReference(batch_execution_id="b-1") and "batch_execution_ids" not in one.to_xcom()
    assert one.batches() == [one] and one.name == "b-1" and RunReference(run_id="r").batch_ids == ()


@pytest.mark.parametrize(("ids", "fragment"), [
    ({"batch_execution_id": "b-9", "batch_execution_ids": ["b-1", "b-2"]}, "must be the first of batch_execution_ids"),
    ({"batch_execution_ids": ["b-1", "b-1"]}, "distinct, non-empty batch ids"),
    ({"batch_execution_ids": ["b-1", " "]}, "distinct, non-empty batch ids"),
    ({"batch_execution_ids": [f"b-{n}" for n in range(101)]}, "lists 101 batches; a run has at most 100"),
    ({"batch_execution_ids": "b-1"}, "batch_execution_ids"),
])  # fmt: skip
def test_a_wrong_list_of_batches_is_refused_naming_it(ids, fragment):
    with pytest.raises(RuntypeConfigurationError, match=fragment):
        RunReference.coerce(ids)


def batch_progress(batch: str, status: str, total: int | None = 3, processed: int = 3, failed: int = 0,
                   **more: object) -> RunProgress:  # fmt: skip
    answer = {"batchExecutionId": batch, "status": status, "totalRecords": total, "processedRecords": processed,
              "failedRecords": failed, **more}  # fmt: skip
    return RunProgress.from_batch(BatchStatus.model_validate(answer), RunReference(batch_execution_id=batch))


def test_a_runs_progress_sums_its_batches_and_takes_the_status_of_the_one_rule():
    run = RunReference(batch_execution_ids=["b-1", "b-2", "b-3"])
    parts = [batch_progress("b-1", "completed", failed=1, completedAt="2026-01-01T00:01:00Z"),
             batch_progress("b-2", "failed", processed=2, error="boom", completedAt="2026-01-01T00:03:00Z"),
             batch_progress("b-3", "running", total=1, processed=0)]  # fmt: skip

    going = RunProgress.combine(parts, run)
    assert (going.status, going.outcome, going.total_records, going.processed_records, going.failed_records) == (
        "running", RunOutcome.RUNNING, 7, 5, 1
    )  # fmt: skip
    assert going.completed_at is None and going.batch_execution_id == "b-1"
    assert going.describe() == "running: 5/7 records processed, 1 failed; batches: 1 completed, 1 failed, 1 running"

    parts[2] = batch_progress("b-3", "completed", total=1, processed=1, completedAt="2026-01-01T00:02:00Z")
    ended = RunProgress.combine(parts, run)
    assert (ended.status, ended.outcome, ended.error) == ("failed", RunOutcome.FAILED, "batch b-2: boom")
    assert ended.completed_at == "2026-01-01T00:03:00Z"  # when the last batch ended
    assert RunProgress.combine([parts[0]], run) is parts[0]
    assert RunProgress.combine([parts[0], batch_progress("b-2", "queued", total=None)], run).total_records is None
    assert "batches" not in parts[0].model_dump() and "batches" not in parts[0].to_api()  # one batch: as before


def test_a_runs_cost_is_the_sum_of_its_batches():
    both = RunCost.sum([RunCost(total_cost_usd=0.5, billed_cost_usd=0.4),
                        RunCost(total_cost_usd=0.25, billed_cost_usd=0.2)])  # fmt: skip
    assert (both.total_cost_usd, both.billed_cost_usd) == (0.75, pytest.approx(0.6))
    assert RunCost.sum([RunCost(total_cost_usd=0.5), RunCost(total_cost_usd=0.25, billed_cost_usd=0.2)]) == RunCost(
        total_cost_usd=0.75
    )  # a batch without a billed figure: no billed figure for the run
    assert RunCost.sum([RunCost(total_cost_usd=0.5), RunCost()]).total_cost_usd is None
