"""Which finished runs of a schedule a watcher has already reported: the cursor of the event trigger.

A run is *new* when its status is final (:func:`~runtype_provider.runs.status.classify_run_status`), its
``completed_at`` parses, it finished at or after ``after``, and its id is not in ``seen``. Reporting a run
records its id and finish time; ids older than :data:`LOOKBACK` behind the newest reported finish are
forgotten and ``after`` moves up to that point, so a run that shows up in the list late (clock skew,
eventual consistency) within the lookback is still reported once, and the cursor stays bounded
(:data:`MAX_SEEN` ids, about 15 KB of JSON). A final run without a parsable ``completed_at`` cannot be
placed: it is not new until the API gives it one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from runtype_provider.api.responses import ScheduleRun
from runtype_provider.runs.status import classify_run_status

UTC = timezone.utc
LOOKBACK = timedelta(minutes=10)
"""How far behind the newest reported finish a run may still appear and be reported (once)."""
MAX_SEEN = 200
"""Most run ids kept (the latest finished); beyond that the oldest are dropped and ``after`` moves up to the
oldest kept."""
CURSOR_VERSION = 1


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 timestamp as an aware UTC datetime (naive = UTC); None when absent or not a timestamp."""
    if not isinstance(value, str) or not 10 <= len(value) <= 64:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def finished_at(run: ScheduleRun) -> datetime | None:
    """When a run finished, if it did: final status and a parsable ``completed_at``; else None."""
    if not classify_run_status(run.status).is_terminal:
        return None
    return parse_time(run.completed_at)


def _latest_finishes(runs: Iterable[ScheduleRun]) -> dict[str, datetime]:
    """Each finished run id's latest finish time (a hostile list may repeat an id with other times)."""
    latest: dict[str, datetime] = {}
    for run in runs:
        moment = finished_at(run)
        if moment is not None:
            latest[run.id] = max(moment, latest.get(run.id, moment))
    return latest


@dataclass
class RunCursor:
    """``after``: nothing that finished before it is new; ``seen``: reported run ids and their finish times."""

    after: datetime | None = None
    seen: dict[str, datetime] = field(default_factory=dict)

    @classmethod
    def starting_at(cls, moment: datetime) -> RunCursor:
        return cls(after=moment.astimezone(UTC))

    @classmethod
    def baseline(cls, runs: Iterable[ScheduleRun], now: datetime) -> RunCursor:
        """First start from "now": every run already finished is history, never reported.

        ``after`` is the later of the triggerer's clock and the newest finish listed, minus the lookback,
        so neither clock skew nor a run just outside the listed page makes history look new.
        """
        cursor = cls()
        newest = now.astimezone(UTC)
        for run_id, moment in _latest_finishes(runs).items():
            cursor.seen[run_id] = moment
            newest = max(newest, moment)
        cursor.after = newest - LOOKBACK
        cursor._prune()
        return cursor

    def is_new(self, run: ScheduleRun) -> bool:
        moment = finished_at(run)
        if moment is None or run.id in self.seen:
            return False
        return self.after is None or moment >= self.after

    def new_runs(self, runs: Iterable[ScheduleRun]) -> list[ScheduleRun]:
        """The new finished runs among ``runs``, each once, in finishing order (finish time, then id).

        An id listed twice with different finish times counts once, at its latest finish, here and in
        :meth:`record`: judging its copies apart would report it again once the earlier copy fell behind ``after``.
        """
        latest: dict[str, ScheduleRun] = {}
        for run in runs:
            moment = finished_at(run)
            kept = latest.get(run.id)
            if moment is not None and (kept is None or moment > finished_at(kept)):  # type: ignore[operator]
                latest[run.id] = run
        return sorted((run for run in latest.values() if self.is_new(run)), key=lambda r: (finished_at(r), r.id))

    def record(self, run: ScheduleRun) -> None:
        """Remember a reported (or deliberately skipped) finished run."""
        moment = finished_at(run)
        if moment is None:
            return
        self.seen[run.id] = max(moment, self.seen.get(run.id, moment))
        self._prune()

    def _prune(self) -> None:
        if not self.seen:
            return
        floor = max(self.seen.values()) - LOOKBACK
        if self.after is None or floor > self.after:
            self.after = floor
        # Every reported id is kept (up to the bound), even once it finished before ``after``: a server that
        # moves a run's finish time forward must not make it new again.
        ranked = sorted(((m, i) for i, m in self.seen.items()), reverse=True)
        if len(ranked) > MAX_SEEN:
            # Keep runs tied with the last kept one (up to twice the bound), so no kept-out tie looks new again.
            threshold = ranked[MAX_SEEN - 1][0]
            ranked = [item for item in ranked if item[0] >= threshold]
            if len(ranked) > 2 * MAX_SEEN:
                ranked, threshold = ranked[:MAX_SEEN], threshold + timedelta(microseconds=1)
            self.after = max(self.after, threshold)
        self.seen = {i: m for m, i in ranked}

    def to_json(self) -> dict[str, Any]:
        return {
            "version": CURSOR_VERSION,
            "after": iso(self.after) if self.after else None,
            "seen": {run_id: iso(moment) for run_id, moment in self.seen.items()},
        }

    @classmethod
    def from_json(cls, value: Any) -> RunCursor | None:
        """A stored cursor, or None when there is none or it is not one this version wrote (start afresh)."""
        if not isinstance(value, dict) or value.get("version") != CURSOR_VERSION:
            return None
        after = parse_time(value.get("after")) if value.get("after") is not None else None
        if value.get("after") is not None and after is None:
            return None
        seen_value = value.get("seen")
        if not isinstance(seen_value, dict):
            return None
        seen = {k: m for k, v in seen_value.items() if isinstance(k, str) and (m := parse_time(v)) is not None}
        cursor = cls(after=after, seen=seen)
        cursor._prune()
        return cursor
