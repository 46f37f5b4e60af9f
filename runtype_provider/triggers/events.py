"""Event-driven scheduling on Runtype: one asset event per run of a schedule that reaches a final status.

``RuntypeScheduleRunEventTrigger`` goes in an ``AssetWatcher`` on the schedule's asset
(``runtype://schedule/<id>``, :func:`runtype_provider.assets.create_asset`). It reports every run that
finishes, whoever started it (Runtype's cron, a user, an operator), once, in finishing order, with the
payload of :func:`runtype_provider.assets.run_event_payload` (never records).

How it polls: on Airflow 3.3+ every watcher on one connection (and poll interval) shares one poll of
``GET /v1/schedules/runs/all`` (a shared stream; a few pages per interval, not one request per schedule)
and picks its schedule's runs from it; elsewhere each watcher polls ``GET /v1/schedules/:id/runs``.

What survives a restart: the cursor (:mod:`runtype_provider.triggers.run_cursor`) is kept in the asset state
store on Airflow 3.3+, under a key of what the watcher watches (:func:`~.run_cursor.cursor_key`), written
:data:`PERSIST_GRACE` seconds (at most half the poll interval) after the events it covers were handed to the
triggerer, so they are stored first (a crash in between repeats them rather than losing them). Before 3.3
there is no store: a (re)started watcher begins from "now" (or ``start_after``). Nothing the API answers ends
``run()``: errors are logged (each kind once, then at most every :data:`LOG_REPEAT_EVERY` seconds) and the
poll backs off (Retry-After honoured), because a watcher that exits is recreated by the triggerer about once a
second. The connection is read again every :data:`CONNECTION_READ_TTL` seconds, as deferred waits do.

The trigger cannot see the asset it is attached to (``AssetWatcher`` holds the trigger; neither it nor
``Asset(watchers=...)`` tells the trigger, on Airflow 3.1 or 3.3): :func:`watched_schedule_asset` builds the
asset and its watcher from one schedule id, and :func:`check_watched_asset` checks one built by hand.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from runtype_provider.api.ids import DOT_SEGMENTS, id_text
from runtype_provider.api.responses import ScheduleRun
from runtype_provider.assets import create_asset, is_runtype_asset, schedule_id_from_uri
from runtype_provider.exceptions import (
    RuntypeApiError,
    RuntypeAuthError,
    RuntypeConfigurationError,
    RuntypeNotFoundError,
)
from runtype_provider.hooks.runtype import RuntypeHook
from runtype_provider.runs.reference import RunProgress, RunReference, build_run_url, run_event_payload
from runtype_provider.runs.status import RunOutcome
from runtype_provider.triggers.run_cursor import CursorKeeper, parse_time

if TYPE_CHECKING:
    from airflow.sdk import Asset

UTC = timezone.utc
CONNECTION_READ_TTL = 60.0
"""Seconds a watcher uses one read of its connection (``client.shared.CONNECTION_READ_TTL``, as deferred waits)."""
LOG_REPEAT_EVERY = 900.0
"""A failure logged at warning or error level is logged so again at most this often (seconds) while it lasts."""
SCHEDULE_CHECK_EVERY = 900.0
"""Seconds between checks that a missing watched schedule exists (the shared poll, Airflow 3.3+)."""
SCHEDULE_RECHECK_EVERY = 6 * 3_600.0
"""Seconds between checks that a found watched schedule still exists, unless its runs show up meanwhile."""
SCHEDULE_CHECK_TIMEOUT = 30.0
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


def _monotonic() -> float:
    return time.monotonic()


def _check_schedule_id(value: Any) -> str:
    """The id as every other id is checked (stripped, not empty, not a dot segment), with no whitespace or
    control character inside: the shared poll compares it with the ids Runtype lists, character for character."""
    text = id_text(value, "schedule_id")
    if text in DOT_SEGMENTS or any(c.isspace() or not c.isprintable() for c in text):
        raise RuntypeConfigurationError(
            f"'schedule_id' must be a Runtype schedule id (not '.' or '..', no whitespace or control "
            f"characters), got {value!r}"
        )
    return text


class _LogLimiter:
    """Each kind of failure logged at its level once, then at most every :data:`LOG_REPEAT_EVERY` seconds while
    it repeats (debug in between): a watcher failing for days must not fill the triggerer's log."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}

    def level(self, kind: str, level: int) -> int:
        now = _monotonic()
        if kind in self.last and now - self.last[kind] < LOG_REPEAT_EVERY:
            return logging.DEBUG
        self.last[kind] = now
        return level


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

    :param schedule_id: the Runtype schedule to watch (stripped; no whitespace or control character inside, not
        ``.``/``..``). It must be the schedule its asset's URI names: :func:`watched_schedule_asset` builds both.
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
        schedule_id = _check_schedule_id(schedule_id)
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
        on each :class:`CommitCursor` that follows them. The shared run list never says that a schedule does
        not exist, so the schedule itself is checked at the first poll and then now and again."""
        check = _ScheduleCheck(self)
        async for event in self._events(shared_stream, check):
            yield event

    async def _events(self, stream: AsyncIterator[Any], check: _ScheduleCheck | None) -> AsyncIterator[TriggerEvent]:
        state = CursorKeeper(self)
        async for item in stream:
            if isinstance(item, CommitCursor):
                await state.commit()
                continue
            if not isinstance(item, RunsPolled):
                continue
            runs = [r for r in item.runs if (item.schedule_id or r.schedule_id) == self.schedule_id]
            if check is not None:
                await check.after_poll(listed=bool(runs))
            if not await state.ready(_now()):
                continue  # the stored cursor could not be read yet: wait for the next poll (nothing skipped)
            for run in state.take_new(runs, _now()):
                if self.outcomes is None or RunProgress.from_run(run).outcome.value in self.outcomes:
                    yield TriggerEvent(self.payload(run, item.dashboard_url))

    # ---- before Airflow 3.3 (or no shared stream): this watcher polls its own schedule --------------

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll ``GET /v1/schedules/:id/runs``; its 404 says the schedule is missing (no separate check)."""
        async for event in self._events(_poll_forever(self, _ScheduleRunsPoller(self)), None):
            yield event

    def payload(self, run: ScheduleRun, dashboard_url: str) -> dict[str, Any]:
        reference = RunReference(schedule_id=self.schedule_id, run_id=run.id, batch_execution_id=run.batch_execution_id)
        reference.run_url = build_run_url(dashboard_url, reference)
        return run_event_payload(reference, RunProgress.from_run(run))


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


class _Connection:
    """A watcher's hook, its connection read again every :data:`CONNECTION_READ_TTL` seconds: a rotated key, a
    new host or a deleted connection reaches a running watcher (the client is kept while nothing changed)."""

    def __init__(self, trigger: RuntypeScheduleRunEventTrigger, **overrides: Any) -> None:
        self.conn_id = trigger.runtype_conn_id
        self.params = {**trigger.hook_params, **overrides}
        self.hook = RuntypeHook(self.conn_id, **self.params)
        self.read_at: float | None = None

    async def ready(self) -> tuple[RuntypeHook, Any]:
        """The hook and its settings; raises when the connection cannot be read (then no request is sent)."""
        if self.read_at is not None and _monotonic() - self.read_at >= CONNECTION_READ_TTL:
            fresh = RuntypeHook(self.conn_id, **self.params)
            try:
                changed = await fresh.asettings() != await self.hook.asettings()
            except Exception:
                await self.reset()  # deleted or broken: the old key and host are never used again
                raise
            self.read_at = _monotonic()
            if changed:
                await self.hook.aclose()
                self.hook = fresh
        settings = await self.hook.asettings()
        if self.read_at is None:
            self.read_at = _monotonic()
        return self.hook, settings

    async def reset(self) -> None:
        """Close the client and forget the connection read: the next :meth:`ready` reads it again."""
        await self.hook.aclose()
        self.hook = RuntypeHook(self.conn_id, **self.params)
        self.read_at = None


class _ScheduleCheck:
    """Whether the watched schedule exists (``GET /v1/schedules/:id``), for the shared poll, whose run list of
    every schedule never says that one is missing: checked at the first poll, then every
    :data:`SCHEDULE_CHECK_EVERY` seconds while missing (logged each time) and every
    :data:`SCHEDULE_RECHECK_EVERY` seconds while found, unless its runs show up in the shared list."""

    def __init__(self, trigger: RuntypeScheduleRunEventTrigger) -> None:
        self.trigger = trigger
        self.next_at: float | None = None
        self.missing = False

    async def after_poll(self, *, listed: bool) -> None:
        now = _monotonic()
        if listed:  # its runs are listed: it exists
            self._found(now)
        elif self.next_at is None or now >= self.next_at:
            await self._check(now)

    def _found(self, now: float) -> None:
        if self.missing:
            self.trigger.log.info("Schedule %s exists now: its finished runs are reported", self.trigger.schedule_id)
        self.missing = False
        self.next_at = now + SCHEDULE_RECHECK_EVERY

    async def _check(self, now: float) -> None:
        self.next_at = now + SCHEDULE_CHECK_EVERY
        hook = RuntypeHook(self.trigger.runtype_conn_id, **{**self.trigger.hook_params, "retry_limit": 0})
        try:
            await asyncio.wait_for(hook.get_schedule_async(self.trigger.schedule_id), SCHEDULE_CHECK_TIMEOUT)
        except RuntypeNotFoundError:
            self.missing = True
            self.trigger.log.error(
                "Schedule %s does not exist on Runtype (GET /v1/schedules/%s: 404): this watcher reports nothing "
                "until it does; check its schedule_id. Checked again in %.0f min",
                self.trigger.schedule_id,
                self.trigger.schedule_id,
                SCHEDULE_CHECK_EVERY / 60,
            )
        except Exception as err:  # the shared poll logs connection and API trouble; try again later
            self.trigger.log.debug("Could not check that schedule %s exists (%s)", self.trigger.schedule_id, err)
        else:
            self._found(now)
        finally:
            await hook.aclose()


def _describe_failure(err: Exception, reading_connection: bool, trigger: Any, poller: Any) -> tuple[str, int, str]:
    """(kind, level, message) of a failed poll; the kind keys :class:`_LogLimiter`."""
    conn_id = trigger.runtype_conn_id
    if reading_connection:
        return "connection", logging.ERROR, f"Could not read Runtype connection {conn_id!r} ({err}): no request is sent"
    if isinstance(err, RuntypeNotFoundError) and isinstance(poller, _ScheduleRunsPoller):
        schedule = f"Schedule {poller.schedule_id} does not exist on Runtype"
        return "not-found", logging.ERROR, f"{schedule} ({err}): nothing is reported until it does; check schedule_id"
    if isinstance(err, RuntypeAuthError):
        return "auth", logging.ERROR, f"Runtype rejected the API key of connection {conn_id!r} ({err})"
    return type(err).__name__, logging.WARNING, f"Polling Runtype runs failed ({err})"


async def _poll_forever(trigger: RuntypeScheduleRunEventTrigger, poller: Any) -> AsyncIterator[Any]:
    """Yield a :class:`RunsPolled` per successful poll and a :class:`CommitCursor` :data:`PERSIST_GRACE`
    seconds later, every ``poll_interval``; never returns or raises on a failed poll (backs off instead)."""
    log = trigger.log
    failures = 0
    connection = _Connection(trigger)
    limiter = _LogLimiter()
    try:
        while True:
            reading_connection = True
            try:
                hook, settings = await connection.ready()
                reading_connection = False
                runs, schedule_id = await poller.poll(hook)
            except Exception as err:
                failures += 1
                delay = backoff_delay(failures, trigger.poll_interval, err)
                if isinstance(err, RuntypeAuthError | RuntypeConfigurationError) or not isinstance(
                    err, RuntypeApiError
                ):
                    await connection.reset()  # a fixed connection (new key, host) is read again on the next poll
                kind, level, message = _describe_failure(err, reading_connection, trigger, poller)
                log.log(
                    limiter.level(kind, level),
                    "%s (%d failed polls in a row); polling again in %.0f s",
                    message,
                    failures,
                    delay,
                )
                await _sleep(delay)
                continue
            if failures:
                log.info("Polling Runtype runs works again after %d failed polls", failures)
                limiter.last.clear()
            failures = 0
            yield RunsPolled(runs=runs, dashboard_url=settings.dashboard_url, schedule_id=schedule_id)
            grace = min(PERSIST_GRACE, trigger.poll_interval / 2)
            await _sleep(grace)
            yield CommitCursor()
            await _sleep(trigger.poll_interval - grace)
    finally:
        await connection.hook.aclose()


# ---- building the watched asset ---------------------------------------------------------------------------


def check_watched_asset(asset: Any) -> None:
    """Refuse an asset whose Runtype watcher watches another schedule than its URI names (its events would
    say "a run of that schedule finished" about another schedule's runs)."""
    for watcher in getattr(asset, "watchers", None) or ():
        trigger = getattr(watcher, "trigger", None)
        if not isinstance(trigger, RuntypeScheduleRunEventTrigger):
            continue
        named = schedule_id_from_uri(asset.uri) if is_runtype_asset(asset) else None
        if named != trigger.schedule_id:
            raise RuntypeConfigurationError(
                f"Asset {asset.uri} has a watcher of Runtype schedule {trigger.schedule_id!r}, but "
                f"{'names schedule ' + repr(named) if named else 'is not a runtype:// asset'}; use "
                f"watched_schedule_asset(schedule_id={trigger.schedule_id!r}) to build both from one id"
            )


def watched_schedule_asset(
    schedule_id: str,
    *,
    name: str | None = None,
    watcher_name: str | None = None,
    extra: dict[str, Any] | None = None,
    **trigger_kwargs: Any,
) -> Asset:
    """The asset ``runtype://schedule/<schedule_id>`` with a watcher of that schedule: one id for both.

    ``trigger_kwargs`` go to :class:`RuntypeScheduleRunEventTrigger` (``poll_interval``, ``outcomes``, ...);
    ``watcher_name`` defaults to ``runtype_watcher_<schedule_id>``."""
    from airflow.sdk import AssetWatcher

    trigger = RuntypeScheduleRunEventTrigger(schedule_id=schedule_id, **trigger_kwargs)
    asset = create_asset(schedule_id=trigger.schedule_id, name=name, extra=extra)
    asset.watchers = [AssetWatcher(name=watcher_name or f"runtype_watcher_{trigger.schedule_id}", trigger=trigger)]
    check_watched_asset(asset)
    return asset
