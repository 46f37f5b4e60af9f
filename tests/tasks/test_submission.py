"""runtype_provider.tasks.submission: what the task state store keeps and the reconciliation rule."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from runtype_provider.tasks.submission import (
    RECONCILE_CLOCK_SKEW,
    SPENT_KEY,
    SUBMISSION_KEY,
    Submission,
    SubmissionStore,
    reconcile_candidates,
)

INTENT = Submission("flow:f", "fp", 3, intent_at=1_800_000_000.0)  # 2027-01-15T08:00:00Z


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


def test_without_a_store_nothing_is_kept_and_nothing_fails():
    store = SubmissionStore(None, Log())
    store.record(INTENT)
    store.set_spent(1.0)
    assert (store.available, store.earlier(), store.spent()) == (False, None, 0.0)


def test_a_failing_store_only_warns():
    class Broken:
        def get(self, key: str) -> Any:
            raise RuntimeError("down")

        set = delete = get

    log = Log()
    store = SubmissionStore(Broken(), log)
    store.record(INTENT)
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
