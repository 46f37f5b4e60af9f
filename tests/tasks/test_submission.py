"""runtype_provider.tasks.submission: what the task state store keeps and the reconciliation rule."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from runtype_provider.tasks.submission import (
    RECONCILE_CLOCK_SKEW,
    SPENT_KEY,
    SUBMISSION_KEY,
    BatchIntent,
    RunSubmission,
    Submission,
    SubmissionStore,
    reconcile_candidates,
)

INTENT = Submission("flow:f", "fp", 3, intent_at=1_800_000_000.0)  # 2027-01-15T08:00:00Z
RUN = RunSubmission("flow:f", "fp", (3,), (BatchIntent(1_800_000_000.0),))


class Log:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, message: str, *args: Any) -> None:
        self.warnings.append(message % args)


def item(batch: str, started: str | None, total: int | None = 3) -> SimpleNamespace:
    return SimpleNamespace(id=batch, started_at=started, total_records=total)


def test_a_submission_round_trips_and_a_malformed_one_is_ignored():
    assert Submission.from_state(INTENT.to_state()) == INTENT
    assert Submission.from_state({"target": "flow:f"}) is None
    assert Submission.from_state("b-1") is None


def test_a_run_keeps_each_batchs_intent_then_its_id_in_order():
    run = RunSubmission("flow:f", "fp", (3, 3, 1))
    run = run.with_intent(0, 10.0).with_batch(0, "b-1").with_intent(1, 11.0)
    assert run.batches == (BatchIntent(10.0, "b-1"), BatchIntent(11.0))
    assert run.batch(1) == Submission("flow:f", "fp", 3, 11.0) and run.known_ids() == ["b-1"]
    assert run.with_intent(0, 12.0).batches == (BatchIntent(12.0), BatchIntent(11.0))  # a batch submitted again
    with pytest.raises(ValueError, match="batch 3 begun before batch 2"):
        run.with_intent(3, 13.0)
    assert RunSubmission.from_state(run.to_state()) == run
    assert run.to_state() == {"target": "flow:f", "fingerprint": "fp", "batch_sizes": [3, 3, 1], "batches": [
        {"intent_at": 10.0, "batch_execution_id": "b-1"}, {"intent_at": 11.0, "batch_execution_id": None}]}  # fmt: skip


def test_the_same_work_is_the_same_target_input_and_split():
    assert RUN.same_work(RunSubmission("flow:f", "fp", (3,)))
    assert not RUN.same_work(RunSubmission("flow:f", "fp", (2, 1)))  # another records_per_batch
    assert not RUN.same_work(RunSubmission("flow:g", "fp", (3,)))
    assert not RUN.same_work(RunSubmission("flow:f", "fp2", (3,)))


def test_the_state_kept_before_runs_were_split_reads_as_a_run_of_one_batch():
    old = {**INTENT.to_state(), "batch_execution_id": "b-1"}
    assert RunSubmission.from_state(old) == RunSubmission("flow:f", "fp", (3,), (BatchIntent(INTENT.intent_at, "b-1"),))
    assert RunSubmission.from_state({"target": "flow:f"}) is None


@pytest.mark.parametrize("state", [
    {"target": "f", "fingerprint": "x", "batch_sizes": [], "batches": []},
    {"target": "f", "fingerprint": "x", "batch_sizes": [0], "batches": []},
    {"target": "f", "fingerprint": "x", "batch_sizes": [1], "batches": [{"intent_at": 1}, {"intent_at": 2}]},
    {"target": "f", "fingerprint": "x", "batch_sizes": "3", "batches": [{}]},
    {"target": "f", "fingerprint": "x", "batch_sizes": [1], "batches": ["b-1"]},
    {"target": "f", "batch_sizes": [1], "batches": []},
    "b-1",
])  # fmt: skip
def test_a_malformed_run_is_ignored(state):
    assert RunSubmission.from_state(state) is None


def test_without_a_store_nothing_is_kept_and_nothing_fails():
    store = SubmissionStore(None, Log())
    store.record(RUN)
    store.set_spent(1.0)
    assert (store.available, store.earlier(), store.spent()) == (False, None, 0.0)


def test_a_failing_store_only_warns():
    class Broken:
        def get(self, key: str) -> Any:
            raise RuntimeError("down")

        set = delete = get

    log = Log()
    store = SubmissionStore(Broken(), log)
    store.record(RUN)
    store.forget()
    assert store.earlier() is None and store.spent() == 0.0
    assert any(SUBMISSION_KEY in w and "may submit the batch again" in w for w in log.warnings)
    assert any(SPENT_KEY in w for w in log.warnings)


def test_candidates_started_since_the_intent_with_the_same_record_count():
    summary = SimpleNamespace(
        batches=[
            item("b-1", "2027-01-15T08:00:30Z"),
            item("b-skew", "2027-01-15T07:59:30"),  # within the clock skew, no zone: UTC
            item("b-old", "2027-01-15T07:58:00Z"),
            item("b-size", "2027-01-15T08:00:30Z", total=4),
            item("b-unknown", None),
            item("b-bad", "yesterday"),
        ],
        recent=[item("b-1", "2027-01-15T08:00:30Z")],
    )
    assert RECONCILE_CLOCK_SKEW == 60.0
    assert reconcile_candidates(summary, INTENT) == ["b-1", "b-skew"]


def test_the_runs_other_batches_are_never_candidates():
    summary = SimpleNamespace(batches=[item("b-1", "2027-01-15T08:00:30Z"), item("b-2", "2027-01-15T08:00:31Z")])
    assert reconcile_candidates(summary, INTENT, known=["b-1"]) == ["b-2"]
