"""Exactly one batch per chunk of a task instance's records without an idempotency key (Airflow 3.3+ task state
store).

``POST /v1/batch/flow`` takes no idempotency key, so a worker that dies inside the POST leaves a retry not knowing
whether a batch exists. The batch operator therefore keeps, in ``context["task_state_store"]``, the run it submits
(:class:`RunSubmission`: target, input fingerprint, records per batch) and, for each batch (chunk of records):

1. the *intent* (wall-clock time) before its POST;
2. its batch id right after it;

and, apart, what finished batches of earlier tries cost (:data:`SPENT_KEY`), for a budget that holds across retries.

A retry finding the same work (target, fingerprint, batch sizes) re-attaches to each batch with an id (2); a batch
with (1) alone goes through :func:`reconcile_candidates` and else ``on_unknown_submission``; batches without an
intent are submitted. On Airflow 3.1/3.2 there is no store: :class:`SubmissionStore` does nothing, and a worker that
dies after a POST (before the run ends) makes the retry submit every batch again.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import Any

SUBMISSION_KEY = "runtype_batch_submission"
"""Task state store key of the run's intents and batch ids; renaming it breaks in-flight retries."""
SPENT_KEY = "runtype_batch_spent_usd"
"""Task state store key of the cost of earlier tries' finished batches (a budget holds across retries)."""
ON_UNKNOWN_SUBMISSION = ("fail", "resubmit")
RECONCILE_CLOCK_SKEW = 60.0
"""Seconds a candidate batch may have started before the intent's time (worker and server clocks differ)."""
MAX_RECONCILE_CHECKS = 5
"""Candidates whose flow is checked (one batch-status request each); more candidates than this: ambiguous."""


@dataclass(frozen=True)
class Submission:
    """One batch submission: what :func:`reconcile_candidates` matches (a run's :meth:`RunSubmission.batch`), and
    the whole stored state before runs were split (read by :meth:`RunSubmission.from_state`)."""

    target: str
    fingerprint: str
    total_records: int
    intent_at: float
    """Wall-clock (epoch) seconds, taken just before the POST."""
    batch_execution_id: str | None = None

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, value: Any) -> Submission | None:
        """The stored submission; None for anything malformed (then nothing is re-attached or reconciled)."""
        if not isinstance(value, dict):
            return None
        try:
            return cls(
                target=str(value["target"]),
                fingerprint=str(value["fingerprint"]),
                total_records=int(value["total_records"]),
                intent_at=float(value["intent_at"]),
                batch_execution_id=value.get("batch_execution_id") or None,
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class BatchIntent:
    """One batch of a run as the store keeps it: when its POST began (epoch seconds) and, once known, its id."""

    intent_at: float
    batch_execution_id: str | None = None


@dataclass(frozen=True)
class RunSubmission:
    """A task's run as the task state store keeps it: what it submits (target, input fingerprint, the record count
    of each batch, in order) and, for the batches begun so far (by index), their intents and ids."""

    target: str
    fingerprint: str
    sizes: tuple[int, ...]
    batches: tuple[BatchIntent, ...] = ()

    def same_work(self, other: RunSubmission) -> bool:
        """Same target, same input, split alike: an earlier try's batches are this try's."""
        return (self.target, self.fingerprint, self.sizes) == (other.target, other.fingerprint, other.sizes)

    def batch(self, index: int) -> Submission:
        """Batch ``index`` (begun) as one submission, for reconciling."""
        begun = self.batches[index]
        return Submission(self.target, self.fingerprint, self.sizes[index], begun.intent_at, begun.batch_execution_id)

    def with_intent(self, index: int, intent_at: float) -> RunSubmission:
        """Batch ``index`` is about to be posted (replacing what was kept for it); batches are begun in order."""
        if index > len(self.batches):
            raise ValueError(f"batch {index} begun before batch {len(self.batches)}")
        return replace(self, batches=(*self.batches[:index], BatchIntent(intent_at), *self.batches[index + 1 :]))

    def with_batch(self, index: int, batch_execution_id: str) -> RunSubmission:
        """Batch ``index`` exists: its id."""
        batches = list(self.batches)
        batches[index] = BatchIntent(batches[index].intent_at, batch_execution_id)
        return replace(self, batches=tuple(batches))

    def known_ids(self) -> list[str]:
        """Every batch id kept (ended or not)."""
        return [b.batch_execution_id for b in self.batches if b.batch_execution_id]

    def to_state(self) -> dict[str, Any]:
        return {"target": self.target, "fingerprint": self.fingerprint, "batch_sizes": list(self.sizes),
                "batches": [asdict(b) for b in self.batches]}  # fmt: skip

    @classmethod
    def from_state(cls, value: Any) -> RunSubmission | None:
        """The stored run; a :class:`Submission` kept before runs were split reads as a run of one batch; None for
        anything malformed (then nothing is re-attached or reconciled)."""
        if isinstance(value, dict) and "batch_sizes" not in value:
            old = Submission.from_state(value)
            return None if old is None else cls(
                old.target, old.fingerprint, (old.total_records,), (BatchIntent(old.intent_at, old.batch_execution_id),)
            )  # fmt: skip
        try:
            sizes = tuple(int(n) for n in value["batch_sizes"])
            batches = tuple(BatchIntent(float(b["intent_at"]), b.get("batch_execution_id") or None)
                            for b in value["batches"])  # fmt: skip
            run = cls(str(value["target"]), str(value["fingerprint"]), sizes, batches)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        if not sizes or min(sizes) < 1 or len(batches) > len(sizes):
            return None
        return run


class SubmissionStore:
    """The task state store's view for one batch task; every method is a no-op without a store (Airflow < 3.3).
    A store that fails is logged, never fatal: the batch itself matters more than its bookkeeping."""

    def __init__(self, store: Any, log: Any) -> None:
        self.store = store
        self.log = log

    @property
    def available(self) -> bool:
        return self.store is not None

    def earlier(self) -> RunSubmission | None:
        """The run an earlier try recorded and did not see to its end."""
        return RunSubmission.from_state(self._get(SUBMISSION_KEY))

    def record(self, run: RunSubmission) -> None:
        """Keep a batch's intent (before its POST) or its id (right after it)."""
        self._set(SUBMISSION_KEY, run.to_state(), "a retry may submit the batch again")

    def forget(self) -> None:
        """The run ended (or none will be waited for): a later try, a clear included, submits afresh."""
        self._delete(SUBMISSION_KEY)

    def spent(self) -> float:
        value = self._get(SPENT_KEY)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0

    def set_spent(self, usd: float) -> None:
        self._set(SPENT_KEY, usd, "the cost budget of later tries will not count it")

    def clear_spent(self) -> None:
        self._delete(SPENT_KEY)

    def _get(self, key: str) -> Any:
        if self.store is None:
            return None
        try:
            return self.store.get(key)
        except Exception as err:
            self.log.warning("Could not read %s from the task state store (%s)", key, err)
            return None

    def _set(self, key: str, value: Any, consequence: str) -> None:
        if self.store is None:
            return
        try:
            self.store.set(key, value)
        except Exception as err:
            self.log.warning("Could not keep %s in the task state store (%s): %s", key, err, consequence)

    def _delete(self, key: str) -> None:
        if self.store is None:
            return
        try:
            self.store.delete(key)
        except Exception as err:
            self.log.warning("Could not drop %s from the task state store (%s)", key, err)


def _started_at(text: Any) -> float | None:
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def reconcile_candidates(summary: Any, submission: Submission, known: Collection[str] = ()) -> list[str]:
    """Ids of the batches in ``GET /v1/batch/summary`` (active and recent) that could be the one the intent's POST
    created: started no earlier than the intent's time (less :data:`RECONCILE_CLOCK_SKEW`) with the same total
    record count, and not ``known`` (the run's other batches). The summary names a batch's flow only by name, so the
    caller checks each candidate's flow id."""
    found: dict[str, None] = {}
    for item in (*(getattr(summary, "batches", None) or ()), *(getattr(summary, "recent", None) or ())):
        started = _started_at(getattr(item, "started_at", None))
        if (
            getattr(item, "id", None)
            and item.id not in known
            and started is not None
            and started >= submission.intent_at - RECONCILE_CLOCK_SKEW
            and getattr(item, "total_records", None) == submission.total_records
        ):
            found[item.id] = None
    return list(found)
