"""How runs progress and when schedules fire, derived from a clock: nothing runs in the background.

Runs (:class:`Run`, read at an instant with :meth:`Run.view`):

* a run is ``queued`` for ``queued_seconds``, then ``running`` for ``running_seconds``, then terminal;
* while running, ``processedRecords = floor(total * elapsed_running / running_seconds)``, records
  are processed in order, and a result row exists only for a processed record;
* record ``i`` (0-based) fails if its id is in the schedule's ``failing_record_ids`` or, without
  that list, iff ``floor((i + 1) * share) > floor(i * share)`` (exactly ``floor(n * share)`` of the
  first ``n`` records fail, evenly spread; see :func:`failure_mask`);
* a normal run ends ``completed`` even when records failed; a run with outcome ``failed`` stops after
  half of its records (at half the running time) with status ``failed`` and its ``error`` message;
* a cancelled run (``cancelled_at``) freezes where it was, as ``cancelled``.

Time (:class:`SimClock`): real monotonic and wall time plus an offset a test can grow, so advancing by ten
minutes finishes the runs that would have finished by then and fires the cron firings in between.

Cron (:func:`parse_cron`, :func:`firings`, :class:`CronRuns`): a minimal 5-field evaluator (``*``, numbers,
``a-b``, ``*/n``, ``a-b/n``, lists; day of week 0-7, 0 and 7 Sunday; no names or ``@daily`` macros; when both
day fields are restricted a day matches if either does, as in Vixie cron) and which firings are due since
the previous check. At most :data:`MAX_FIRINGS` firings per schedule are due per check (the latest ones).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from runtype_provider.testing.fake.wire import UTC, iso

TERMINAL = frozenset({"completed", "failed", "cancelled"})
MAX_ADVANCE = 366 * 86_400.0
"""Largest single clock advance, in seconds (one year)."""
MAX_FIRINGS = 100
"""Most firings of one schedule started by one check (advancing a ``* * * * *`` schedule by a year)."""


# ----------------------------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class Record:
    """A record a run processes."""

    id: str
    name: str
    type: str


def make_records(doc: Mapping[str, Any], count: int) -> tuple[Record, ...]:
    """The records a run of schedule ``doc`` processes: its ``recordIds``, else ``count`` generated ones."""
    filter_type = doc["recordFilter"].get("type") if isinstance(doc.get("recordFilter"), dict) else None
    record_type = doc.get("recordType") or filter_type or "record"
    if doc.get("recordIds") is not None:
        return tuple(Record(rid, f"Record {rid}", record_type) for rid in doc["recordIds"])
    label = record_type.replace("_", " ").title()
    return tuple(Record(f"rec_{record_type}_{i + 1}", f"{label} {i + 1}", record_type) for i in range(count))


def failure_mask(records: tuple[Record, ...], failing_ids: Collection[str] | None, share: float) -> tuple[bool, ...]:
    """Which records fail: those in ``failing_ids`` or, without it, ``share`` of them, evenly spread."""
    if failing_ids is not None:
        return tuple(record.id in failing_ids for record in records)
    fraction = Fraction(str(share))
    return tuple(math.floor((i + 1) * fraction) > math.floor(i * fraction) for i in range(len(records)))


@dataclass
class RunView:
    """A run's state at one instant."""

    status: str
    processed: int
    failed: int
    started_at: datetime | None
    completed_at: datetime | None
    error: str | None


@dataclass
class Run:
    """A schedule run and its batch execution (one object: the fake links them one to one), or a batch submitted
    directly (``POST /v1/batch/flow``: no ``schedule_id``). Each processed record costs ``cost_per_record``."""

    id: str
    seq: int
    schedule_id: str | None
    batch_id: str
    flow_id: str | None
    agent_id: str | None
    agent_execution_id: str | None
    flow_name: str | None
    records: tuple[Record, ...]
    failed_mask: tuple[bool, ...]
    created_mono: float
    created_wall: datetime
    queued_s: float
    running_s: float
    outcome: str
    error: str | None
    record_error: str
    cancelled_at: float | None = None  # seconds after creation
    cost_per_record: float = 0.0
    billed_share: float = 1.0

    @property
    def _stop_fraction(self) -> float:
        return 0.5 if self.outcome == "failed" else 1.0

    @property
    def end_offset(self) -> float:
        """Seconds after creation at which the run becomes terminal (unless cancelled)."""
        return self.queued_s + self.running_s * self._stop_fraction

    def _wall(self, offset: float) -> datetime:
        return self.created_wall + timedelta(seconds=offset)

    def _processed_at(self, offset: float) -> int:
        total = len(self.records)
        limit = math.floor(total * self._stop_fraction)
        if offset < self.queued_s:
            return 0
        if self.running_s <= 0:
            return limit
        return min(limit, math.floor(total * (offset - self.queued_s) / self.running_s))

    def view(self, now_mono: float) -> RunView:
        """Status, counters and timestamps at monotonic time ``now_mono``."""
        elapsed = now_mono - self.created_mono
        cut = elapsed if self.cancelled_at is None else min(elapsed, self.cancelled_at)
        processed = self._processed_at(cut)
        started = self._wall(self.queued_s) if cut >= self.queued_s else None
        completed: datetime | None = None
        error = None
        if self.cancelled_at is not None:
            status, completed = "cancelled", self._wall(self.cancelled_at)
        elif elapsed < self.queued_s:
            status = "queued"
        elif elapsed < self.end_offset:
            status = "running"
        else:
            status, completed = self.outcome, self._wall(self.end_offset)
            error = self.error if self.outcome == "failed" else None
        failed = sum(self.failed_mask[:processed])
        return RunView(status, processed, failed, started, completed, error)

    def record_duration(self) -> float:
        """Seconds one record takes while running."""
        return self.running_s / len(self.records) if self.records else 0.0

    def result_row(self, index: int, success_status: str) -> dict[str, Any]:
        """The §2.4 result row of processed record ``index``."""
        record = self.records[index]
        duration = self.record_duration()
        began = self._wall(self.queued_s + index * duration)
        failed = self.failed_mask[index]
        return {
            "agentExecutionId": self.agent_execution_id,
            "createdAt": iso(began),
            "durationMs": round(duration * 1000),
            "error": self.record_error if failed else None,
            "executedAt": iso(began),
            "executionEngine": "runtime",
            "failedAt": iso(began + timedelta(seconds=duration)) if failed else None,
            "failedStepCount": 1 if failed else 0,
            "flowId": self.flow_id,
            "flowName": self.flow_name,
            "record": {"id": record.id, "name": record.name, "type": record.type},
            "recordId": record.id,
            "recordResultId": None if failed else f"res_{self.batch_id.removeprefix('batch_')}_{index + 1}",
            "result": None if failed else {"summary": f"Processed {record.name}"},
            "status": "failed" if failed else success_status,
            "stepCount": 3,
        }

    def to_dict(self, now_mono: float) -> dict[str, Any]:
        """The API's ``ScheduleRun`` at monotonic time ``now_mono``."""
        view = self.view(now_mono)
        return {
            "agentExecutionId": self.agent_execution_id,
            "agentId": self.agent_id,
            "batchExecutionId": self.batch_id,
            "completedAt": iso(view.completed_at) if view.completed_at else None,
            "createdAt": iso(self.created_wall),
            "error": view.error,
            "failedRecords": view.failed,
            "flowId": self.flow_id,
            "id": self.id,
            "processedRecords": view.processed,
            "scheduleId": self.schedule_id,
            "startedAt": iso(view.started_at) if view.started_at else None,
            "status": view.status,
            "totalRecords": len(self.records),
        }

    def recent_run(self, now_mono: float) -> dict[str, Any]:
        """The short form of :meth:`to_dict` in a surface schedule's ``recentRuns``."""
        full = self.to_dict(now_mono)
        keys = ("batchExecutionId", "completedAt", "createdAt", "error", "id", "startedAt", "status")
        return {key: full[key] for key in keys}


# ----------------------------------------------------------------------------------------------- clock


class SimClock:
    """Real monotonic and wall time plus an offset that only grows (:meth:`advance`)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic, wall: Callable[[], datetime] | None = None):
        self._monotonic = monotonic
        self._wall = wall or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self.offset = 0.0

    def monotonic(self) -> float:
        return self._monotonic() + self.offset

    def now(self) -> datetime:
        return self._wall() + timedelta(seconds=self.offset)

    def advance(self, seconds: Any) -> float:
        """Move both clocks forward by ``seconds`` (0 < seconds <= one year); returns the total offset."""
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or not 0 < seconds <= MAX_ADVANCE
        ):
            raise ValueError(f"seconds must be a number above 0 and at most {MAX_ADVANCE:g}, got {seconds!r}")
        with self._lock:
            self.offset += float(seconds)
            return self.offset

    def reset(self) -> None:
        with self._lock:
            self.offset = 0.0


# ----------------------------------------------------------------------------------------------- cron

_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression: the allowed values of each field."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Monday ... 6 = Sunday (Python convention)
    days_restricted: bool
    weekdays_restricted: bool

    def next_after(self, moment: datetime, tz: tzinfo) -> datetime | None:
        """Return the first firing time strictly after ``moment`` (aware), in ``tz``; None within 5 years."""
        local = moment.astimezone(tz).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = local.replace(hour=0, minute=0)
        for _ in range(366 * 5):
            if self._day_matches(day):
                for hour in self.hours:
                    for minute in self.minutes:
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= local:
                            return candidate
            day = (day + timedelta(days=1)).replace(hour=0, minute=0)
        return None

    def _day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = day.weekday() in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return dom or dow
        return dom and dow


def _parse_cron_field(text: str, name: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() else None
        if step_text and (step is None or step < 1):
            raise ValueError(f"invalid step in {name} field: {part!r}")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            if not (first.isdigit() and last.isdigit()):
                raise ValueError(f"invalid range in {name} field: {part!r}")
            start, end = int(first), int(last)
        elif base.isdigit():
            start = int(base)
            end = high if step else start
        else:
            raise ValueError(f"invalid {name} field: {part!r}")
        if not low <= start <= end <= high:
            raise ValueError(f"{name} field out of range {low}-{high}: {part!r}")
        values.update(range(start, end + 1, step or 1))
    return values


def parse_cron(expression: str) -> Cron:
    """Parse a 5-field cron expression; raise ``ValueError`` with a readable message when invalid."""
    parts = expression.split()
    if len(parts) != 5:
        raise ValueError(f"cron must have 5 fields (minute hour day month weekday), got {len(parts)}")
    minute, hour, dom, month, dow = (
        _parse_cron_field(text, name, low, high) for text, (name, low, high) in zip(parts, _CRON_FIELDS, strict=True)
    )
    return Cron(
        minutes=tuple(sorted(minute)),
        hours=tuple(sorted(hour)),
        days=frozenset(dom),
        months=frozenset(month),
        # cron: 0/7 = Sunday, 1 = Monday; Python: 0 = Monday, 6 = Sunday.
        weekdays=frozenset((value - 1) % 7 for value in dow),
        days_restricted=parts[2] != "*",
        weekdays_restricted=parts[4] != "*",
    )


def _parse_moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def firings(doc: Mapping[str, Any], after: datetime, until: datetime) -> list[datetime]:
    """Firing times of a schedule document in ``(after, until]`` (UTC), the latest :data:`MAX_FIRINGS`."""
    if not doc.get("enabled"):
        return []
    if doc.get("triggerType") == "one_time":
        run_at = _parse_moment(doc.get("runAt"))
        return [run_at] if run_at is not None and after < run_at <= until else []
    if not doc.get("cron"):
        return []
    cron, zone = parse_cron(doc["cron"]), ZoneInfo(doc.get("timezone") or "UTC")
    found: list[datetime] = []
    moment: datetime | None = after
    while moment is not None:
        moment = cron.next_after(moment, zone)
        if moment is None or moment > until:
            break
        found.append(moment.astimezone(UTC))
        if len(found) > MAX_FIRINGS:
            found.pop(0)
            # Skip ahead: only the latest firings are kept, so jump close to ``until``.
            moment = max(moment, until - (found[-1] - found[0]) - timedelta(minutes=1))
    return found[-MAX_FIRINGS:]


class CronRuns:
    """Which cron firings are due since the previous check, per schedule.

    Each enabled recurring schedule fires at its ``cron`` times (in its ``timezone``), each enabled one-time
    schedule at its ``runAt``, counted from when the schedule was created or cron runs were switched on,
    whichever is later.
    """

    def __init__(self, since: datetime) -> None:
        self.since = since
        self._checked: dict[str, datetime] = {}

    def restart(self, since: datetime) -> None:
        """Count firings from ``since`` on (cron runs switched on, or the state reset)."""
        self.since = since
        self._checked.clear()

    def due(self, schedules: Iterable[tuple[str, Mapping[str, Any]]], now: datetime) -> list[tuple[str, datetime]]:
        """``(schedule_id, firing time)`` of every firing since the last check, oldest first."""
        due: list[tuple[str, datetime]] = []
        for schedule_id, doc in schedules:
            created = _parse_moment(doc.get("createdAt")) or self.since
            after = self._checked.get(schedule_id, max(self.since, created))
            self._checked[schedule_id] = now
            due.extend((schedule_id, moment) for moment in firings(doc, after, now))
        return sorted(due, key=lambda item: (item[1], item[0]))
