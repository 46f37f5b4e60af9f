"""Event-driven scheduling on Runtype: one asset event per run of a schedule that reaches a final status.

``RuntypeScheduleRunEventTrigger`` goes in an ``AssetWatcher`` on the schedule's asset
(``runtype://schedule/<id>``, :func:`runtype_provider.assets.create_asset`). It reports every run that
finishes, whoever started it (Runtype's cron, a user, an operator), once, in finishing order, with the
payload of :func:`runtype_provider.assets.run_event_payload` (never records).

How it polls: on Airflow 3.3+ every watcher on one connection (and poll interval) shares one poll of
``GET /v1/schedules/runs/all`` (a shared stream; a few pages per interval, not one request per schedule)
and picks its schedule's runs from it; elsewhere each watcher polls ``GET /v1/schedules/:id/runs``.

What survives a restart: the cursor (:mod:`runtype_provider.triggers.run_cursor`) is kept in the asset state
store on Airflow 3.3+, written :data:`PERSIST_GRACE` seconds (at most half the poll interval) after the
events it covers were handed to the triggerer, so they are stored first (a crash in between repeats them
rather than losing them). Before 3.3 there is no store: a (re)started watcher begins from "now"
(or ``start_after``). Nothing the API answers ends ``run()``: errors are logged and the poll backs off
(Retry-After honoured), because a watcher that exits is recreated by the triggerer about once a second.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from runtype_provider.api.responses import ScheduleRun
from runtype_provider.exceptions import RuntypeApiError, RuntypeAuthError, RuntypeConfigurationError
from runtype_provider.hooks.runtype import RuntypeHook
from runtype_provider.runs.reference import RunProgress, RunReference, build_run_url, run_event_payload
from runtype_provider.runs.status import RunOutcome
from runtype_provider.triggers.run_cursor import RunCursor, parse_time

UTC = timezone.utc
CURSOR_KEY = "runtype_run_cursor"
"""Asset state store key of the cursor (Airflow 3.3+)."""
MIN_POLL_INTERVAL, MAX_POLL_INTERVAL = 1.0, 86_400.0
PERSIST_GRACE = 5.0
"""Seconds between handing a poll's events to the triggerer and storing the cursor that covers them."""
PAGE_SIZE = 100
MAX_PAGES = 5
"""Pages of ``runs/all`` read per shared poll at most (500 runs changed within one interval)."""
MAX_BACKOFF = 600.0
"""Longest wait between polls after repeated errors (seconds), unless the server's Retry-After asks for more."""
MAX_RETRY_AFTER = 3_600.0
OUTCOMES = tuple(o.value for o in RunOutcome if o.is_terminal)
_MULTI_ASSET = "concrete inlets and outlets"  # AssetStateStoreAccessors' error when one trigger serves 2 assets


@dataclass(frozen=True)
class RunsPolled:
    """One poll's raw event: runs listed (``schedule_id`` set when they all belong to that schedule)."""

    runs: tuple[ScheduleRun, ...]
    dashboard_url: str
    schedule_id: str | None = None


@dataclass(frozen=True)
class CommitCursor:
    """Raw event :data:`PERSIST_GRACE` seconds after a poll: store the cursor of the events emitted so far."""


def _sleep(seconds: float) -> Any:
    return asyncio.sleep(seconds)


def _now() -> datetime:
    return datetime.now(UTC)


def backoff_delay(failures: int, poll_interval: float, error: BaseException | None = None) -> float:
    """Wait after ``failures`` consecutive failed polls: the poll interval doubling up to :data:`MAX_BACKOFF`
    (at least the interval), with jitter, and never shorter than the server's Retry-After (capped)."""
    cap = max(poll_interval, MAX_BACKOFF)
    delay = min(cap, poll_interval * 2 ** max(0, failures - 1)) * random.uniform(0.9, 1.0)
    retry_after = getattr(error, "retry_after", None)
    if isinstance(retry_after, int | float) and retry_after > 0:
        delay = max(delay, min(float(retry_after), MAX_RETRY_AFTER))
    return delay


def _check_outcomes(outcomes: Any) -> list[str] | None:
    if outcomes is None:
        return None
    values = [outcomes] if isinstance(outcomes, str) else outcomes
    if not isinstance(values, list | tuple) or not values:
        raise RuntypeConfigurationError(f"'outcomes' must be a non-empty list of {OUTCOMES}, got {outcomes!r}")
    wrong = [v for v in values if not isinstance(v, str) or v.strip().lower() not in OUTCOMES]
    if wrong:
        raise RuntypeConfigurationError(f"'outcomes' must be among {OUTCOMES}; unknown: {wrong!r}")
    return sorted({v.strip().lower() for v in values})


def _check_start_after(value: Any) -> str:
    if value is None or (isinstance(value, str) and value.strip().lower() == "now"):
        return "now"
    if not isinstance(value, str) or parse_time(value) is None:
        raise RuntypeConfigurationError(f"'start_after' must be 'now' or an ISO-8601 time, got {value!r}")
    return value.strip()


class RuntypeScheduleRunEventTrigger(BaseEventTrigger):
    """Fire one event per run of ``schedule_id`` that reaches a final status; for ``AssetWatcher``.

    :param schedule_id: the Runtype schedule to watch.
    :param runtype_conn_id: Runtype connection id.
    :param poll_interval: seconds between polls (1 to 86,400; default 60).
    :param start_after: ``"now"`` (default): runs already finished when the watcher first polls are not
        reported; or an ISO-8601 time: report runs that finished at or after it. Used only when no cursor
        is stored (first start; every start before Airflow 3.3).
    :param outcomes: report only runs with these outcomes (``success``, ``failed``, ``cancelled``); default all.
    :param hook_params: extra RuntypeHook arguments (``timeout``, ``retry_limit``, ...).
    """

    def __init__(
        self,
        *,
        schedule_id: str,
        runtype_conn_id: str = RuntypeHook.default_conn_name,
        poll_interval: float = 60.0,
        start_after: str | None = "now",
        outcomes: list[str] | None = None,
        hook_params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(schedule_id, str) or not schedule_id.strip():
            raise RuntypeConfigurationError(f"'schedule_id' must be a non-empty string, got {schedule_id!r}")
        if not isinstance(runtype_conn_id, str) or not runtype_conn_id:
            raise RuntypeConfigurationError(f"'runtype_conn_id' must be a connection id, got {runtype_conn_id!r}")
        if (
            isinstance(poll_interval, bool)
            or not isinstance(poll_interval, int | float)
            or not MIN_POLL_INTERVAL <= poll_interval <= MAX_POLL_INTERVAL
        ):
            raise RuntypeConfigurationError(
                f"'poll_interval' must be {MIN_POLL_INTERVAL:g} to {MAX_POLL_INTERVAL:g} seconds, got {poll_interval!r}"
            )
        if hook_params is not None and not isinstance(hook_params, dict):
            raise RuntypeConfigurationError(f"'hook_params' must be a dict, got {type(hook_params).__name__}")
        self.schedule_id = schedule_id
        self.runtype_conn_id = runtype_conn_id
        self.poll_interval = float(poll_interval)
        self.start_after = _check_start_after(start_after)
        self.outcomes = _check_outcomes(outcomes)
        self.hook_params = dict(hook_params or {})

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "schedule_id": self.schedule_id,
                "runtype_conn_id": self.runtype_conn_id,
                "poll_interval": self.poll_interval,
                "start_after": self.start_after,
                "outcomes": self.outcomes,
                "hook_params": self.hook_params,
            },
        )

    # ---- Airflow 3.3+: one poll per connection, shared by every watcher on it ------------------------

    def shared_stream_key(self) -> Hashable | None:
        """Watchers on one connection, with one poll interval and hook settings, share one poll."""
        params = json.dumps(self.hook_params, sort_keys=True, default=str)
        return ("runtype-schedule-runs", self.runtype_conn_id, self.poll_interval, params)

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """Poll ``runs/all`` every interval for the whole group; never ends on its own (errors back off)."""
        trigger = cls(**kwargs)
        async for item in _poll_forever(trigger, _AllRunsPoller(trigger)):
            yield item

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """This schedule's new finished runs out of the shared polls, as trigger events; the cursor is stored
        on each :class:`CommitCursor` that follows them."""
        state = _CursorKeeper(self)
        async for item in shared_stream:
            if isinstance(item, CommitCursor):
                await state.commit()
                continue
            if not isinstance(item, RunsPolled) or not await state.ready():
                continue  # the stored cursor could not be read yet: wait for the next poll (nothing skipped)
            runs = [r for r in item.runs if (item.schedule_id or r.schedule_id) == self.schedule_id]
            for run in state.take_new(runs):
                if self.outcomes is None or RunProgress.from_run(run).outcome.value in self.outcomes:
                    yield TriggerEvent(self.payload(run, item.dashboard_url))

    # ---- before Airflow 3.3 (or no shared stream): this watcher polls its own schedule --------------

    async def run(self) -> AsyncIterator[TriggerEvent]:
        async for event in self.filter_shared_stream(_poll_forever(self, _ScheduleRunsPoller(self))):
            yield event

    def payload(self, run: ScheduleRun, dashboard_url: str) -> dict[str, Any]:
        reference = RunReference(schedule_id=self.schedule_id, run_id=run.id, batch_execution_id=run.batch_execution_id)
        reference.run_url = build_run_url(dashboard_url, reference)
        return run_event_payload(reference, RunProgress.from_run(run))


class _CursorKeeper:
    """The cursor of one watcher: loaded once from the asset state store (3.3+), else started from
    ``start_after``; stored again after events were emitted."""

    def __init__(self, trigger: RuntypeScheduleRunEventTrigger) -> None:
        self.trigger = trigger
        self.log = trigger.log
        self.store: Any = getattr(trigger, "asset_state_store", None)
        self.cursor: RunCursor | None = None
        self.loaded = self.store is None
        self.dirty = False

    async def ready(self) -> bool:
        """Whether the stored cursor has been read (or there is no store); retried on every poll."""
        if self.loaded:
            return True
        began = time.monotonic()
        try:
            self.cursor = RunCursor.from_json(await self.store.aget(CURSOR_KEY))
        except ValueError as err:
            if _MULTI_ASSET not in str(err):
                return self._read_failed(err)
            self.log.warning(
                "The watcher of schedule %s serves several assets: its cursor is kept in memory only, so a "
                "triggerer restart starts from 'start_after' again",
                self.trigger.schedule_id,
            )
            self.store = None
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

    def take_new(self, runs: list[ScheduleRun]) -> list[ScheduleRun]:
        """The new finished runs, in finishing order, recorded as reported (a first start sets a baseline)."""
        if self.cursor is None:
            if self.trigger.start_after == "now":
                self.cursor = RunCursor.baseline(runs, _now())
                self.dirty = True
                return []
            self.cursor = RunCursor.starting_at(parse_time(self.trigger.start_after) or _now())
        new = self.cursor.new_runs(runs)
        for run in new:
            self.cursor.record(run)
        self.dirty = self.dirty or bool(new)
        return new

    async def commit(self) -> None:
        if not self.dirty or self.cursor is None or self.store is None:
            return
        began = time.monotonic()
        try:
            await self.store.aset(CURSOR_KEY, self.cursor.to_json())
        except Exception as err:  # stored on the next commit; a restart before then may repeat these runs
            self.log.warning("Could not store the cursor of schedule %s (%s); retrying", self.trigger.schedule_id, err)
            return
        self.dirty = False
        self.log.debug("Stored the cursor of schedule %s in %.1f s", self.trigger.schedule_id, time.monotonic() - began)


class _ScheduleRunsPoller:
    """One schedule's runs (``GET /v1/schedules/:id/runs``)."""

    def __init__(self, trigger: RuntypeScheduleRunEventTrigger) -> None:
        self.schedule_id = trigger.schedule_id

    async def poll(self, hook: RuntypeHook) -> tuple[tuple[ScheduleRun, ...], str | None]:
        return tuple(await hook.list_schedule_runs_async(self.schedule_id)), self.schedule_id


class _AllRunsPoller:
    """Every schedule's runs (``GET /v1/schedules/runs/all``, newest first), only the pages that can have
    changed: paging stops at a run created before the oldest run that was still active at the previous poll
    (or before the newest run seen then), after :data:`MAX_PAGES` at most."""

    def __init__(self, trigger: RuntypeScheduleRunEventTrigger) -> None:
        self.log = trigger.log
        self.horizon: datetime | None = None

    async def poll(self, hook: RuntypeHook) -> tuple[tuple[ScheduleRun, ...], str | None]:
        runs: list[ScheduleRun] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = await hook.list_all_schedule_runs_page_async(cursor=cursor, page_size=PAGE_SIZE)
            runs.extend(page.data)
            created = [parse_time(r.created_at) for r in page.data]
            reached = self.horizon is not None and any(c is not None and c <= self.horizon for c in created)
            if reached or not page.pagination.has_more or not page.pagination.next_cursor:
                break
            cursor = page.pagination.next_cursor
        else:
            self.log.warning(
                "More than %d runs may have changed since the last poll; runs beyond them are not looked at",
                MAX_PAGES * PAGE_SIZE,
            )
        active = [parse_time(r.created_at) for r in runs if RunProgress.from_run(r).outcome.is_active]
        known = [c for c in (parse_time(r.created_at) for r in runs) if c is not None]
        if any(c is not None for c in active):
            self.horizon = min(c for c in active if c is not None)
        elif known:
            self.horizon = max(known)
        return tuple(runs), None


async def _poll_forever(trigger: RuntypeScheduleRunEventTrigger, poller: Any) -> AsyncIterator[Any]:
    """Yield a :class:`RunsPolled` per successful poll and a :class:`CommitCursor` :data:`PERSIST_GRACE`
    seconds later, every ``poll_interval``; never returns or raises on a failed poll (backs off instead)."""
    log = trigger.log
    failures = 0
    hook = RuntypeHook(trigger.runtype_conn_id, **trigger.hook_params)
    try:
        while True:
            try:
                settings = await hook.asettings()
                runs, schedule_id = await poller.poll(hook)
            except Exception as err:
                failures += 1
                delay = backoff_delay(failures, trigger.poll_interval, err)
                if isinstance(err, RuntypeAuthError | RuntypeConfigurationError) or not isinstance(
                    err, RuntypeApiError
                ):
                    # A fixed connection (new key, host) is read again on the next poll.
                    await hook.aclose()
                    hook = RuntypeHook(trigger.runtype_conn_id, **trigger.hook_params)
                log.warning(
                    "Polling Runtype runs failed (%s, %d in a row); polling again in %.0f s", err, failures, delay
                )
                await _sleep(delay)
                continue
            if failures:
                log.info("Polling Runtype runs works again after %d failed polls", failures)
            failures = 0
            yield RunsPolled(runs=runs, dashboard_url=settings.dashboard_url, schedule_id=schedule_id)
            grace = min(PERSIST_GRACE, trigger.poll_interval / 2)
            await _sleep(grace)
            yield CommitCursor()
            await _sleep(trigger.poll_interval - grace)
    finally:
        await hook.aclose()
