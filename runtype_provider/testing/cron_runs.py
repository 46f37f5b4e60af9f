"""The local Runtype's clock (which a test can move forward) and the runs its own cron starts.

``SimClock`` gives the state both its monotonic time (run progress) and its wall time (timestamps, cron),
each real time plus one offset that :meth:`SimClock.advance` grows: advancing by ten minutes finishes the
runs that would have finished by then and fires the cron firings in between.

``CronRuns`` (on when ``Settings.cron_runs`` is true; off by default so the clock of other tests never
starts runs behind their back) decides which firings are due: each enabled recurring schedule fires at
its ``cron`` times (in its ``timezone``), each enabled one-time schedule at its ``runAt``, counted from
when the schedule was created or cron runs were switched on, whichever is later. Nothing runs in the
background: the state asks for due firings on every API call and on every clock advance, and starts
each run *at its firing time*, so it progresses exactly as if it had been started then. At most
:data:`MAX_FIRINGS` firings per schedule are started per check (the latest ones).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from runtype_provider.testing._cron import parse_cron

UTC = timezone.utc
MAX_ADVANCE = 366 * 86_400.0
"""Largest single clock advance, in seconds (one year)."""
MAX_FIRINGS = 100
"""Most firings of one schedule started by one check (advancing a ``* * * * *`` schedule by a year)."""


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


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def firings(doc: dict[str, Any], after: datetime, until: datetime) -> list[datetime]:
    """Firing times of a schedule document in ``(after, until]`` (UTC), the latest :data:`MAX_FIRINGS`."""
    if not doc.get("enabled"):
        return []
    if doc.get("triggerType") == "one_time":
        run_at = _parse(doc.get("runAt"))
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
    """Which cron firings are due since the previous check, per schedule."""

    def __init__(self, since: datetime) -> None:
        self.since = since
        self._checked: dict[str, datetime] = {}

    def restart(self, since: datetime) -> None:
        """Count firings from ``since`` on (cron runs switched on, or the state reset)."""
        self.since = since
        self._checked.clear()

    def due(self, schedules: Iterable[tuple[str, dict[str, Any]]], now: datetime) -> list[tuple[str, datetime]]:
        """``(schedule_id, firing time)`` of every firing since the last check, oldest first."""
        due: list[tuple[str, datetime]] = []
        for schedule_id, doc in schedules:
            created = _parse(doc.get("createdAt")) or self.since
            after = self._checked.get(schedule_id, max(self.since, created))
            self._checked[schedule_id] = now
            due.extend((schedule_id, moment) for moment in firings(doc, after, now))
        return sorted(due, key=lambda item: (item[1], item[0]))


def start_due_runs(state: Any) -> list[str]:
    """Start the runs of ``state`` (a ``State``) whose cron firing is due, each at its firing time; their ids.

    A no-op unless ``Settings.cron_runs``. Called by the server before every API call and by :func:`advance`.
    """
    with state._lock:
        if not state.settings.cron_runs:
            return []
        docs = [(sid, schedule.doc) for sid, schedule in state._schedules.items()]
        due = state._cron.due(docs, state.clock.now())
        return [state._start_run(state._schedules[sid], at=moment).id for sid, moment in due]


def advance(state: Any, seconds: Any) -> dict[str, Any]:
    """Move the clock of ``state`` forward (runs progress, cron fires): ``POST /_local/clock/advance``.

    Returns ``{"now": <new wall time>, "offsetSeconds": <total advance>, "cronRuns": [<run ids started>]}``.
    """
    with state._lock:
        started = start_due_runs(state)  # firings up to now belong to now, not to the advanced time
        offset = state.clock.advance(seconds)
        started += start_due_runs(state)
        now = state.clock.now().astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {"now": now, "offsetSeconds": offset, "cronRuns": started}
