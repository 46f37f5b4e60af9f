"""What a run or record status string means: the one place that decides it.

The API does not enumerate run statuses. Known strings map to an outcome; anything else is
``UNKNOWN``, which every caller treats as still active (keep waiting, attach to it rather than start
another run beside it) and logs once.
"""

from __future__ import annotations

from collections.abc import Sequence
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


_COMBINED_PRECEDENCE = {RunOutcome.RUNNING: 0, RunOutcome.UNKNOWN: 0, RunOutcome.FAILED: 1, RunOutcome.CANCELLED: 2,
                        RunOutcome.SUCCESS: 3}  # fmt: skip


def deciding_batch(outcomes: Sequence[RunOutcome]) -> int:
    """The one rule for a run of several batches: the index of the batch whose status is the run's. A batch still
    active (running or of unknown status) keeps the run active; once all ended, a failed batch fails the run, else
    a cancelled one cancels it, else (all succeeded) it succeeded. The first such batch decides (its status and
    error describe the run)."""
    if not outcomes:
        raise ValueError("a run has at least one batch")
    return min(range(len(outcomes)), key=lambda index: _COMBINED_PRECEDENCE[outcomes[index]])


def is_active_run_status(status: str | None) -> bool:
    """The one "is this run still going?" rule, for waits and for attaching to a running run alike."""
    return classify_run_status(status).is_active


def is_failed_record_status(status: str | None) -> bool:
    return (status or "").strip().lower() in RECORD_FAILED_STATUSES


def is_succeeded_record_status(status: str | None) -> bool:
    return (status or "").strip().lower() in RECORD_SUCCESS_STATUSES


def _record_status_group(status: str | None) -> frozenset[str] | None:
    """The synonyms a record status belongs to (the docs say ``success`` on run results and ``completed``
    on batch results), or None for any other status."""
    text = (status or "").strip().lower()
    return next((group for group in (RECORD_SUCCESS_STATUSES, RECORD_FAILED_STATUSES) if text in group), None)


def record_status_matches(status: str | None, wanted: str) -> bool:
    """Whether a result row's status is the ``status_filter`` asked for (synonyms of success or failure match)."""
    group = _record_status_group(wanted)
    if group is not None:
        return (status or "").strip().lower() in group
    return (status or "").strip().lower() == wanted.strip().lower()


def server_record_status_filter(wanted: str | None, *, batch_results: bool) -> str | None:
    """The ``status`` query parameter to send for a ``status_filter``: a success or failure synonym is sent as the
    documented spelling of the endpoint (``completed`` on batch results, ``success`` on run results; ``failed`` on
    both), any other value as given. Sending it keeps a 1%-failures listing to 1% of the pages; the client still
    filters (:func:`record_status_matches`), in case the server ignores the parameter."""
    group = _record_status_group(wanted)
    if group is RECORD_SUCCESS_STATUSES:
        return "completed" if batch_results else "success"
    if group is RECORD_FAILED_STATUSES:
        return "failed"
    return wanted
