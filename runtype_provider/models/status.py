"""What a run or record status string means: the one place that decides it.

The API does not enumerate run statuses. Known strings map to an outcome; anything else is
``UNKNOWN``, which every caller treats as still active (keep waiting, attach to it rather than start
another run beside it) and logs once.
"""

from __future__ import annotations

from enum import Enum


class RunOutcome(str, Enum):
    """Where a run stands, whatever status string the API used."""

    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RUNNING = "running"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        """The run will not change any more: success, failure or cancellation."""
        return self in (RunOutcome.SUCCESS, RunOutcome.FAILED, RunOutcome.CANCELLED)

    @property
    def is_active(self) -> bool:
        """Queued, running, or a status we do not know: wait for it, never start a second run beside it."""
        return not self.is_terminal


_RUN_STATUSES: dict[RunOutcome, frozenset[str]] = {
    RunOutcome.SUCCESS: frozenset({"completed", "complete", "success", "succeeded", "done", "finished"}),
    RunOutcome.FAILED: frozenset({"failed", "failure", "error", "errored", "timed_out", "timeout", "interrupted"}),
    RunOutcome.CANCELLED: frozenset({"cancelled", "canceled", "aborted", "cancelling", "canceling"}),
    RunOutcome.RUNNING: frozenset(
        {
            "queued",
            "pending",
            "running",
            "in_progress",
            "processing",
            "started",
            "starting",
            "scheduled",
            "created",
            "paused",
            "retrying",
        }
    ),
}
_STATUS_TO_OUTCOME = {status: outcome for outcome, statuses in _RUN_STATUSES.items() for status in statuses}

RECORD_SUCCESS_STATUSES = frozenset({"success", "succeeded", "completed", "complete", "done"})
RECORD_FAILED_STATUSES = frozenset({"failed", "failure", "error", "errored", "timed_out", "timeout"})


def classify_run_status(status: str | None) -> RunOutcome:
    """Map a run or batch status to an outcome; anything unrecognised is ``UNKNOWN`` (keep waiting)."""
    if not status:
        return RunOutcome.UNKNOWN
    return _STATUS_TO_OUTCOME.get(status.strip().lower(), RunOutcome.UNKNOWN)


def is_active_run_status(status: str | None) -> bool:
    """The one "is this run still going?" rule, for waits and for attaching to a running run alike."""
    return classify_run_status(status).is_active


def is_failed_record_status(status: str | None) -> bool:
    return (status or "").strip().lower() in RECORD_FAILED_STATUSES


def is_succeeded_record_status(status: str | None) -> bool:
    return (status or "").strip().lower() in RECORD_SUCCESS_STATUSES
