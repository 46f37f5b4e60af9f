"""Which finished runs of a schedule a watcher has already reported: the cursor of the event trigger.

A run is *new* when its status is final (:func:`~runtype_provider.runs.status.classify_run_status`), its
``completed_at`` parses, it finished at or after ``after``, and its id is not in ``seen``. Reporting a run
records its id and finish time; ids older than :data:`LOOKBACK` behind the newest reported finish are
forgotten and ``after`` moves up to that point, so a run that shows up in the list late (clock skew,
eventual consistency) within the lookback is still reported once, and the cursor stays bounded
(:data:`MAX_SEEN` ids, about 15 KB of JSON). A final run without a parsable ``completed_at`` cannot be
placed: it is not new until the API gives it one.

A finish time ahead of the triggerer's clock (a skewed server clock, a naive local time read as UTC) is
taken as "now" (plus :data:`FUTURE_TOLERANCE`) wherever it would move ``after``: such runs are told apart by
their ids only, and ``after`` never passes the present, so no future time hides the runs that finish before
it. A stored ``after`` beyond the present (written by an older version) is pulled back when loaded.

:class:`CursorKeeper` keeps one watcher's cursor in the asset state store (Airflow 3.3+) under
:func:`cursor_key`: a key of what the watcher watches, so the watchers of one asset never share one.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from runtype_provider.api.responses import ScheduleRun
from runtype_provider.runs.status import classify_run_status

UTC = timezone.utc
LOOKBACK = timedelta(minutes=10)
"""How far behind the newest reported finish a run may still appear and be reported (once)."""
MAX_SEEN = 200
"""Most run ids kept (the latest finished); beyond that the oldest are dropped and ``after`` moves up to the
oldest kept."""
FUTURE_TOLERANCE = timedelta(minutes=1)
"""How far ahead of the triggerer's clock a finish time may move ``after`` (ordinary clock drift)."""
CURSOR_VERSION = 1
LEGACY_CURSOR_KEY = "runtype_run_cursor"
"""The one key every watcher of an asset used before :func:`cursor_key`: read once, when a watcher's own key
is absent, so an upgrade neither replays nor skips."""
MAX_KEY_LENGTH = 200
"""Longer cursor keys are replaced by a digest (the store's keys hold 512 characters)."""
_MULTI_ASSET = "concrete inlets and outlets"  # AssetStateStoreAccessors' error when one trigger serves 2 assets


def _now() -> datetime:
    return datetime.now(UTC)


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

        ``after`` is the later of the triggerer's clock and the newest finish listed (at most
        :data:`FUTURE_TOLERANCE` ahead of that clock), minus the lookback, so neither a server clock slightly
        ahead nor a run just outside the listed page makes history look new; every listed run is remembered.
        """
        cursor = cls()
        now = now.astimezone(UTC)
        newest = now
        for run_id, moment in _latest_finishes(runs).items():
            cursor.seen[run_id] = moment
            newest = max(newest, min(moment, now + FUTURE_TOLERANCE))
        cursor.after = newest - LOOKBACK
        cursor._prune(now)
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

    def record(self, run: ScheduleRun, now: datetime | None = None) -> None:
        """Remember a reported (or deliberately skipped) finished run; ``now`` is the triggerer's clock.

        ``after`` moves up to the lookback behind its finish, taken as at most ``now`` (plus the tolerance)."""
        moment = finished_at(run)
        if moment is None:
            return
        now = (now or _now()).astimezone(UTC)
        self.seen[run.id] = max(moment, self.seen.get(run.id, moment))
        floor = min(moment, now + FUTURE_TOLERANCE) - LOOKBACK
        if self.after is None or floor > self.after:
            self.after = floor
        self._prune(now)

    def _prune(self, now: datetime) -> None:
        """Bound ``seen``; pull back an ``after`` beyond ``now`` (an older version trusted a future finish)."""
        limit = now.astimezone(UTC) + FUTURE_TOLERANCE
        if self.after is not None and self.after > limit:
            self.after = limit - LOOKBACK
        if not self.seen:
            return
        if self.after is None:
            self.after = min(max(self.seen.values()), limit) - LOOKBACK
        # Every reported id is kept (up to the bound), even once it finished before ``after``: a server that
        # moves a run's finish time forward must not make it new again. Runs finishing "in the future" rank
        # as now (ahead of every other), so they are the last to be forgotten while they stay ahead.
        ranked = sorted(((min(m, limit), m, i) for i, m in self.seen.items()), reverse=True)
        if len(ranked) > MAX_SEEN:
            # Keep runs tied with the last kept one (up to twice the bound), so no kept-out tie looks new again.
            threshold = ranked[MAX_SEEN - 1][0]
            ranked = [item for item in ranked if item[0] >= threshold]
            if len(ranked) > 2 * MAX_SEEN:
                ranked, threshold = ranked[:MAX_SEEN], threshold + timedelta(microseconds=1)
            self.after = max(self.after, min(threshold, limit))  # never past the present
        self.seen = {i: m for _, m, i in ranked}

    def to_json(self) -> dict[str, Any]:
        return {
            "version": CURSOR_VERSION,
            "after": iso(self.after) if self.after else None,
            "seen": {run_id: iso(moment) for run_id, moment in self.seen.items()},
        }

    @classmethod
    def from_json(cls, value: Any, now: datetime | None = None) -> RunCursor | None:
        """A stored cursor, or None when there is none or it is not one this version wrote (start afresh).

        An ``after`` beyond ``now`` (plus the tolerance), stored by a version that trusted a future finish
        time, is pulled back to the lookback behind ``now``, so it hides no run from then on."""
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
        cursor._prune(now or _now())
        return cursor


# ---- where a watcher keeps its cursor (the asset state store, Airflow 3.3+) -------------------------------


def cursor_key(schedule_id: str, outcomes: list[str] | None = None) -> str:
    """The asset state store key of a watcher's cursor: what it watches (the schedule and the outcomes it
    reports), so two watchers on one asset never overwrite each other's cursor."""
    key = f"{LEGACY_CURSOR_KEY}/schedule/{quote(schedule_id, safe='')}"
    if outcomes:
        key += "/outcomes/" + ",".join(outcomes)
    if len(key) > MAX_KEY_LENGTH:
        key = f"{LEGACY_CURSOR_KEY}/sha256/{hashlib.sha256(key.encode()).hexdigest()}"
    return key


class CursorKeeper:
    """The cursor of one watcher: loaded once from the asset state store (3.3+), else started from
    ``start_after``; stored again after events were emitted. ``trigger`` is the event trigger (its
    ``schedule_id``, ``outcomes``, ``start_after``, ``log`` and, on 3.3+, ``asset_state_store``); ``now`` is the
    triggerer's clock."""

    def __init__(self, trigger: Any) -> None:
        self.trigger = trigger
        self.log = trigger.log
        self.store: Any = getattr(trigger, "asset_state_store", None)
        self.key = cursor_key(trigger.schedule_id, trigger.outcomes)
        self.cursor: RunCursor | None = None
        self.loaded = self.store is None
        self.dirty = False

    async def ready(self, now: datetime) -> bool:
        """Whether the stored cursor has been read (or there is no store); retried on every poll."""
        if self.loaded:
            return True
        began = time.monotonic()
        try:
            stored = await self.store.aget(self.key)
            if stored is None and (stored := await self.store.aget(LEGACY_CURSOR_KEY)) is not None:
                # Written by an older version, maybe by another watcher of the asset: used once, then stored
                # under this watcher's own key at the next commit.
                self.dirty = True
                self.log.info(
                    "Schedule %s: cursor read from the old key %s", self.trigger.schedule_id, LEGACY_CURSOR_KEY
                )
            self.cursor = RunCursor.from_json(stored, now)
        except ValueError as err:
            if _MULTI_ASSET not in str(err):
                return self._read_failed(err)
            self.log.warning(
                "The watcher of schedule %s serves several assets: its cursor is kept in memory only, so a "
                "triggerer restart starts from 'start_after' again",
                self.trigger.schedule_id,
            )
            self.store = None
            self.dirty = False
        except Exception as err:
            return self._read_failed(err)
        self.loaded = True
        self.log.info(
            "Watching schedule %s from %s (read in %.1f s)",
            self.trigger.schedule_id,
            "its stored cursor" if self.cursor is not None else f"start_after={self.trigger.start_after}",
            time.monotonic() - began,
        )
        return True

    def _read_failed(self, err: Exception) -> bool:
        """Keep polling and read the cursor again next time: starting afresh could skip or repeat runs."""
        self.log.warning(
            "Could not read the stored cursor of schedule %s (%s); retrying", self.trigger.schedule_id, err
        )
        return False

    def take_new(self, runs: list[ScheduleRun], now: datetime) -> list[ScheduleRun]:
        """The new finished runs, in finishing order, recorded as reported (a first start sets a baseline)."""
        if self.cursor is None:
            if self.trigger.start_after == "now":
                self.cursor = RunCursor.baseline(runs, now)
                self.dirty = True
                return []
            self.cursor = RunCursor.starting_at(parse_time(self.trigger.start_after) or now)
        new = self.cursor.new_runs(runs)
        for run in new:
            self.cursor.record(run, now)
        self.dirty = self.dirty or bool(new)
        return new

    async def commit(self) -> None:
        if not self.dirty or self.cursor is None or self.store is None:
            return
        began = time.monotonic()
        try:
            await self.store.aset(self.key, self.cursor.to_json())
        except Exception as err:  # stored on the next commit; a restart before then may repeat these runs
            self.log.warning("Could not store the cursor of schedule %s (%s); retrying", self.trigger.schedule_id, err)
            return
        self.dirty = False
        self.log.debug("Stored the cursor of schedule %s in %.1f s", self.trigger.schedule_id, time.monotonic() - began)
