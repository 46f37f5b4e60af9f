"""What a finished run means for the task: shared by the run operator and the sensor, on every path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runtype_provider.exceptions import RuntypeConfigurationError, RuntypeRunError
from runtype_provider.runs.reference import RunProgress, RunReference, RunResult
from runtype_provider.runs.status import RunOutcome


@dataclass(frozen=True)
class FailedRecordsPolicy:
    """How many failed records a completed run may have before the task fails.

    ``None``: never fail because of failed records (they are logged and counted);
    an integer N: fail when more than N records failed (0 = any); ``"X%"``: fail when more than X percent
    of the run's records failed. A share needs the run's total: when records failed but the total is
    missing or zero, a percentage below 100% counts as exceeded (the share could not be computed, so the
    run cannot be shown to be within it). A plain dataclass: operators parse it when a DAG file is parsed,
    where building a pydantic schema would cost more than the check.
    """

    max_count: int | None = None
    max_percent: float | None = None

    @classmethod
    def parse(cls, value: Any, argument: str = "allowed_failed_records") -> FailedRecordsPolicy:
        if value is None:
            return cls()
        if isinstance(value, bool):
            raise RuntypeConfigurationError(f"{argument!r} must be None, an integer or a percentage like '5%'")
        if isinstance(value, int):
            if value < 0:
                raise RuntypeConfigurationError(f"{argument!r} must be >= 0, got {value}")
            return cls(max_count=value)
        if isinstance(value, str) and value.strip().endswith("%"):
            try:
                percent = float(value.strip()[:-1])
            except ValueError:
                percent = -1.0
            if not 0 <= percent <= 100:
                raise RuntypeConfigurationError(f"{argument!r} percentage must be from 0% to 100%, got {value!r}")
            return cls(max_percent=percent)
        if isinstance(value, str) and value.strip().isdigit():
            return cls(max_count=int(value.strip()))
        raise RuntypeConfigurationError(
            f"{argument!r} must be None, an integer or a percentage like '5%', got {value!r}"
        )

    def is_exceeded(self, failed: int, total: int | None) -> bool:
        if self.max_count is not None:
            return failed > self.max_count
        if self.max_percent is not None:
            if not total:
                return self.share_unknown(failed, total)
            return failed * 100 > self.max_percent * total
        return False

    def share_unknown(self, failed: int, total: int | None) -> bool:
        """A percentage policy that needs the failed share of a run whose total is missing or zero.

        ``100%`` allows every record to fail, so it needs no share.
        """
        return self.max_percent is not None and self.max_percent < 100 and failed > 0 and not total

    def describe(self) -> str:
        if self.max_count is not None:
            return "no failed records" if self.max_count == 0 else f"at most {self.max_count} failed records"
        if self.max_percent is not None:
            return f"at most {self.max_percent:g}% failed records"
        return "any number of failed records"


def conclude_run(progress: RunProgress, run: RunReference, policy: FailedRecordsPolicy, log: Any) -> dict[str, Any]:
    """Judge a terminal run: return the task's result (reference + status + counts) or raise RuntypeRunError."""
    result = RunResult(run=run, progress=progress).to_xcom()
    name = run.name
    where = f" of schedule {run.schedule_id}" if run.schedule_id else ""
    link = f" See {run.run_url}" if run.run_url else ""
    counts = progress.counts()  # the wait engine leaves the final status line to this verdict
    if progress.outcome is RunOutcome.FAILED:
        reason = f": {progress.error}" if progress.error else ""
        raise RuntypeRunError(
            f"Runtype run {name}{where} failed (status {progress.status!r}){reason}. {counts}.{link}", run=result
        )
    if progress.outcome is RunOutcome.CANCELLED:
        raise RuntypeRunError(
            f"Runtype run {name}{where} was cancelled (status {progress.status!r}) before it finished: {counts}.{link}",
            run=result,
        )
    failed = progress.failed_records or 0
    if policy.share_unknown(failed, progress.total_records):
        raise RuntypeRunError(
            f"Runtype run {name}{where} completed with {failed} records failed, but the share of failed records "
            f"could not be computed: the run's total record count is {progress.total_records!r}; "
            f"allowed: {policy.describe()}.{link}",
            run=result,
        )
    if policy.is_exceeded(failed, progress.total_records):
        raise RuntypeRunError(
            f"Runtype run {name}{where} completed with {failed} of {progress.total_records} records failed; "
            f"allowed: {policy.describe()}.{link}",
            run=result,
        )
    if failed:
        log.warning("Runtype run %s completed with %s of %s records failed", name, failed, progress.total_records)
    else:
        log.info("Runtype run %s completed: %s", name, progress.describe())
    return result
