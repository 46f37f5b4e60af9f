"""A run as tasks see it: the reference that identifies it, its dashboard link, its progress, the result of a
wait, and the payload of its asset event (the same from a watcher and from an operator)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic import (
    BaseModel,
    ConfigDict,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel

from runtype_provider.api.base import Count, RuntypeModel
from runtype_provider.exceptions import RuntypeConfigurationError
from runtype_provider.runs.status import RunOutcome, classify_run_status, deciding_batch

if TYPE_CHECKING:  # response models: only a call builds one, so a DAG file never defines them
    from runtype_provider.api.responses import BatchStatus, ScheduleRun

MAX_RUN_BATCHES = 100
"""Most batches one run (one reference) may have: a task splitting its records submits at most this many, and a
reference listing more is refused (each poll reads every batch still going)."""


class RunProgress(RuntypeModel):
    """A run's status and record counts, from batch status or from the schedule's run list."""

    status: str | None = None
    outcome: RunOutcome = RunOutcome.UNKNOWN
    total_records: Count | None = None
    processed_records: Count | None = None
    failed_records: Count | None = None
    error: str | None = None
    run_id: str | None = None
    batch_execution_id: str | None = None
    completed_at: str | None = None
    listed: bool = True
    """False while a run polled through its schedule's run list is not in that list (yet)."""
    batches: dict[str, int] | None = None
    """A run of several batches: how many batches are in each status (None, and no key, for one batch)."""

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _without_none(handler(self), "batches")

    @classmethod
    def from_batch(cls, batch: BatchStatus, run: RunReference) -> RunProgress:
        return cls(
            status=batch.status,
            outcome=classify_run_status(batch.status),
            total_records=batch.total_records,
            processed_records=batch.processed_records,
            failed_records=batch.failed_records,
            error=batch.error,
            run_id=run.run_id,
            batch_execution_id=batch.batch_execution_id or run.batch_execution_id,
            completed_at=batch.completed_at,
        )

    @classmethod
    def from_run(cls, run: ScheduleRun) -> RunProgress:
        return cls(
            status=run.status,
            outcome=classify_run_status(run.status),
            total_records=run.total_records,
            processed_records=run.processed_records,
            failed_records=run.failed_records,
            error=run.error,
            run_id=run.id,
            batch_execution_id=run.batch_execution_id,
            completed_at=run.completed_at,
        )

    @classmethod
    def from_run_list(cls, runs: Iterable[ScheduleRun], run: RunReference) -> RunProgress:
        """The run's entry in its schedule's run list; no status yet when it is not listed (keep waiting)."""
        found = next((item for item in runs if item.id == run.run_id), None)
        return cls(run_id=run.run_id, status=None, listed=False) if found is None else cls.from_run(found)

    @classmethod
    def combine(cls, parts: Sequence[RunProgress], run: RunReference) -> RunProgress:
        """The progress of a run of several batches from each batch's (in order): record counts summed (the total
        is None when a batch did not say it), status, outcome and error of the batch that decides the run's
        status (:func:`~runtype_provider.runs.status.deciding_batch`)."""
        if len(parts) == 1:
            return parts[0]
        decided = parts[deciding_batch([part.outcome for part in parts])]
        ended = decided.outcome.is_terminal  # the last batch to end finished the run
        totals = [part.total_records for part in parts]
        counts: dict[str, int] = {}
        for part in parts:
            counts[part.status or "unknown"] = counts.get(part.status or "unknown", 0) + 1
        return cls(
            status=decided.status,
            outcome=decided.outcome,
            total_records=None if None in totals else sum(t or 0 for t in totals),
            processed_records=_sum(part.processed_records for part in parts),
            failed_records=_sum(part.failed_records for part in parts),
            error=f"batch {decided.batch_execution_id}: {decided.error}" if decided.error else None,
            run_id=run.run_id,
            batch_execution_id=run.batch_execution_id,
            completed_at=max((p.completed_at or "" for p in parts), default="") or None if ended else None,
            batches=dict(sorted(counts.items())),
        )

    def describe(self) -> str:
        """One log line: ``running: 40/100 records processed, 3 failed`` (plus ``; batches: 2 completed, 1 running``
        for a run of several batches)."""
        return f"{self.status or 'unknown'}: {self.counts()}"

    def counts(self) -> str:
        """``40/100 records processed, 3 failed`` (plus the batches of a run of several): :meth:`describe` without
        the status, for a line that names the status itself."""
        total = "?" if self.total_records is None else self.total_records
        processed = 0 if self.processed_records is None else self.processed_records
        failed = 0 if self.failed_records is None else self.failed_records
        line = f"{processed}/{total} records processed, {failed} failed"
        if self.batches:
            line += "; batches: " + ", ".join(f"{n} {status}" for status, n in self.batches.items())
        return line


def _without_none(data: dict[str, Any], key: str) -> dict[str, Any]:
    """A dump without ``key`` (or its camelCase alias) when it is None: what a run of one batch always looked like."""
    for spelling in (key, to_camel(key)):
        if spelling in data and data[spelling] is None:
            del data[spelling]
    return data


def _sum(counts: Iterable[int | None]) -> int | None:
    known = [count for count in counts if count is not None]
    return sum(known) if known else None


class RunReference(BaseModel):
    """What identifies one schedule run across tasks: exactly these fields, plain snake_case JSON.

    Pushed to XCom by the run operator (``run_reference``) and accepted by the sensor, the trigger and
    the results operator. Other keys of an incoming dict (a previous task's status and counts) are
    dropped, so nothing rides along from one task into the next.

    A run of several batches (the batch operator's ``records_per_batch``) lists them all, in submission order, in
    ``batch_execution_ids``; ``batch_execution_id`` is the first. :attr:`batch_ids` and :meth:`batches` are the
    one place that knows a run may have several batches. A run of one batch has no ``batch_execution_ids`` key.
    """

    model_config = ConfigDict(extra="ignore", defer_build=True)

    schedule_id: str | None = None
    run_id: str | None = None
    batch_execution_id: str | None = None
    product_id: str | None = None
    surface_id: str | None = None
    run_url: str | None = None
    batch_execution_ids: list[str] | None = None
    """Every batch of a run split over several batches, in order (None for one batch)."""

    @model_validator(mode="after")
    def _one_list_of_batches(self) -> RunReference:
        ids = self.batch_execution_ids
        if ids is None:
            return self
        if any(not batch.strip() for batch in ids) or len(set(ids)) != len(ids):
            raise ValueError("batch_execution_ids must list distinct, non-empty batch ids")
        if len(ids) > MAX_RUN_BATCHES:
            raise ValueError(f"batch_execution_ids lists {len(ids)} batches; a run has at most {MAX_RUN_BATCHES}")
        if ids and self.batch_execution_id is None:
            self.batch_execution_id = ids[0]
        elif ids and self.batch_execution_id != ids[0]:
            raise ValueError("batch_execution_id must be the first of batch_execution_ids")
        if len(ids) <= 1:
            self.batch_execution_ids = None
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _without_none(handler(self), "batch_execution_ids")  # one batch: the reference as it always was

    @classmethod
    def coerce(cls, value: Any, *, argument: str = "run") -> RunReference:
        """Accept a reference as a model, a dict (e.g. from XCom) or a JSON object string; anything else is refused
        with a message naming ``argument`` and what to write, never the raw validation text."""
        if isinstance(value, RunReference):
            return value
        if isinstance(value, str):
            text = value.strip()
            if not text.startswith(("{", "[")):  # JSON text is read below; a bare id is a mistake
                shown = repr(value) if len(value) <= 80 else repr(value[:80]) + "…"
                raise RuntypeConfigurationError(
                    f"{argument!r} is not a valid Runtype run reference: got the string {shown}; give the run "
                    "operator's output (run=run_task.output) or its JSON, or name the run by its ids with "
                    "batch_execution_id=..., or run_id=... with schedule_id=..."
                )
        elif not isinstance(value, dict):
            raise RuntypeConfigurationError(
                f"{argument!r} must be a run reference dict (e.g. the run operator's XCom), got {type(value).__name__}"
            )
        try:
            return cls.model_validate_json(value) if isinstance(value, str) else cls.model_validate(value)
        except ValidationError as err:
            wrong = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in err.errors()[:3])
            raise RuntypeConfigurationError(
                f"{argument!r} is not a valid Runtype run reference ({wrong}); it takes schedule_id, run_id, "
                "batch_execution_id, product_id, surface_id, run_url and batch_execution_ids, as the run and batch "
                "operators' output has them"
            ) from None

    @property
    def name(self) -> str:
        """How logs and messages name the run: its run id, else its batch id; a run of several batches by its
        first and last batch and their number (``b-1..b-3 (3 batches)``)."""
        ids = self.batch_ids
        if len(ids) > 1:
            return f"{ids[0]}..{ids[-1]} ({len(ids)} batches)"
        return self.run_id or self.batch_execution_id or "?"

    @property
    def batch_ids(self) -> tuple[str, ...]:
        """Every batch of the run, in order (none when only its run id is known)."""
        if self.batch_execution_ids:
            return tuple(self.batch_execution_ids)
        return (self.batch_execution_id,) if self.batch_execution_id else ()

    def batches(self) -> list[RunReference]:
        """The run as one reference per batch, in order, to read each; ``[self]`` for a run of one batch."""
        if not self.batch_execution_ids:
            return [self]
        return [RunReference(batch_execution_id=batch) for batch in self.batch_execution_ids]

    def require_pollable(self, argument: str = "run") -> None:
        """A run can be polled by batch id, or by run id within its schedule."""
        if not self.batch_execution_id and not (self.run_id and self.schedule_id):
            raise RuntypeConfigurationError(
                f"{argument!r} needs 'batch_execution_id', or both 'run_id' and 'schedule_id', to track the run"
            )

    def to_xcom(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class RunResult(BaseModel):
    """A finished wait: the reference plus the run's final status and counts (the task's return value)."""

    model_config = ConfigDict(defer_build=True)

    run: RunReference
    progress: RunProgress

    def to_xcom(self) -> dict[str, Any]:
        """The reference's fields plus ``status``, ``outcome`` and the record counts, flat."""
        return {
            **self.run.to_xcom(),
            "status": self.progress.status,
            "outcome": self.progress.outcome.value,
            "total_records": self.progress.total_records,
            "processed_records": self.progress.processed_records,
            "failed_records": self.progress.failed_records,
        }


def build_run_url(dashboard_url: str, run: RunReference) -> str:
    """Dashboard link: the surface schedule for product-surface runs, else the schedule's run."""
    base = dashboard_url.rstrip("/")

    def q(value: str) -> str:
        # "." and ".." would move the link to another page: spell their dots encoded too.
        return quote(value, safe="") if value.strip(".") else "%2E" * len(value)

    if run.product_id and run.surface_id and run.schedule_id:
        return f"{base}/products/{q(run.product_id)}/surfaces/{q(run.surface_id)}/schedules/{q(run.schedule_id)}"
    if run.schedule_id:
        url = f"{base}/schedules/{q(run.schedule_id)}"
        return f"{url}/runs/{q(run.run_id)}" if run.run_id else url
    if run.batch_execution_id:
        return f"{base}/batches/{q(run.batch_execution_id)}"
    return base


PAYLOAD_KEYS = (
    "schedule_id",
    "run_id",
    "batch_execution_id",
    "status",
    "outcome",
    "total_records",
    "processed_records",
    "failed_records",
    "finished_at",
    "run_url",
)
"""Keys of a finished run's event payload, always all present (``None`` when Runtype did not say)."""


def run_event_payload(run: RunReference, progress: RunProgress) -> dict[str, Any]:
    """The payload of one finished run's asset event: the same from a watcher and from an operator."""
    return {
        "schedule_id": run.schedule_id,
        "run_id": progress.run_id or run.run_id,
        "batch_execution_id": progress.batch_execution_id or run.batch_execution_id,
        "status": progress.status,
        "outcome": progress.outcome.value,
        "total_records": progress.total_records,
        "processed_records": progress.processed_records,
        "failed_records": progress.failed_records,
        "finished_at": progress.completed_at,
        "run_url": run.run_url,
    }


class RunCost(BaseModel):
    """What a batch cost, in US dollars: ``total_cost_usd`` and, when Runtype says, ``billed_cost_usd``.

    Read from ``GET /v1/batch/:id/cost`` after the batch ends (and while a budget is watched); the batch
    operator adds :meth:`to_xcom` to its return value. A run of several batches costs their :meth:`sum`."""

    model_config = ConfigDict(defer_build=True)

    total_cost_usd: float | None = None
    billed_cost_usd: float | None = None

    @classmethod
    def from_answer(cls, answer: Any) -> RunCost:
        """From the API's cost answer (any object with ``total_cost_usd`` / ``billed_cost_usd``)."""
        return cls(
            total_cost_usd=getattr(answer, "total_cost_usd", None),
            billed_cost_usd=getattr(answer, "billed_cost_usd", None),
        )

    @classmethod
    def sum(cls, costs: Sequence[RunCost]) -> RunCost:
        """A run's cost from its batches': dollars added; a figure some batch did not give is None."""
        totals = [cost.total_cost_usd for cost in costs]
        billed = [cost.billed_cost_usd for cost in costs]
        return cls(
            total_cost_usd=None if None in totals else sum(t or 0.0 for t in totals),
            billed_cost_usd=None if None in billed else sum(b or 0.0 for b in billed),
        )

    def to_xcom(self) -> dict[str, Any]:
        """``total_cost_usd`` always, ``billed_cost_usd`` only when Runtype gave it."""
        out: dict[str, Any] = {"total_cost_usd": self.total_cost_usd}
        if self.billed_cost_usd is not None:
            out["billed_cost_usd"] = self.billed_cost_usd
        return out

    def describe(self) -> str:
        total = "?" if self.total_cost_usd is None else f"${self.total_cost_usd:.4f}"
        billed = "" if self.billed_cost_usd is None else f" (billed ${self.billed_cost_usd:.4f})"
        return total + billed
