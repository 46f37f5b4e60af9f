"""What one local Runtype holds, and how a test changes it directly (no HTTP, no auth).

:class:`Store` keeps the schedules, product surfaces, runs and batches, the armed faults, the request log
(bounded: ``request_log``) and the settings behind one lock (API calls arrive on the server's event loop, seeding
calls on the test's thread). It holds the admin token (random unless configured), checks Bearer credentials,
seeds schedules and surfaces, starts runs and renders a schedule as the API returns it; the API's operations live
in ``handlers.State``, a ``Store`` that answers them.
:func:`start_due_runs` and :func:`advance` run the local cron (``Settings.cron_runs``) and move the clock.
"""

from __future__ import annotations

import copy
import hmac
import itertools
import secrets
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from runtype_provider.testing import demo_data
from runtype_provider.testing.fake.faults import FaultRegistry
from runtype_provider.testing.fake.request_log import LogEntry, RequestLog
from runtype_provider.testing.fake.schedules import SCHEDULE_FIELDS, Schedule, next_run_at, trigger_errors, type_errors
from runtype_provider.testing.fake.settings import (
    SECRET_SETTINGS,
    STARTUP_SETTINGS,
    AdminTokenWarning,
    InvalidSetting,
    SeedSpec,
    Settings,
    SimConfig,
    check_ids,
    check_text,
)
from runtype_provider.testing.fake.simulation import CronRuns, Run, SimClock, failure_mask, make_records
from runtype_provider.testing.fake.wire import ApiError, detail, iso, not_found, secret_forms

RECENT_RUNS = 10
SURFACE_TYPES = (
    "chat", "mcp", "mcp_code", "api", "webhook", "schedule", "a2a", "email", "slack", "sms",
    "imessage", "discord", "whatsapp", "telegram", "hosted-page", "chrome_extension",
)  # fmt: skip


def new_id(prefix: str) -> str:
    """A fresh id like the API's: ``<prefix>_<16 hex digits>``."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def _unauthorized(message: str, code: str) -> ApiError:
    return ApiError(401, "Unauthorized", [detail(message, None, code)], headers={"WWW-Authenticate": "Bearer"})


def new_admin_token(settings: Settings) -> str:
    """A random admin token (32 URL-safe characters) that is none of the configured API keys."""
    while True:
        token = secrets.token_urlsafe(24)
        if token not in (settings.api_key, settings.read_only_api_key):
            return token


def _warn_about_admin_token(settings: Settings) -> None:
    if settings.admin_token is not None and settings.admin_token in (settings.api_key, settings.read_only_api_key):
        warnings.warn(
            "admin_token is an API key: any API client (and anyone who knows the key) can change the local "
            "Runtype's settings; leave admin_token unset for a random one",
            AdminTokenWarning,
            stacklevel=3,
        )


class Store:
    """All schedules, surfaces, runs and batches of one local Runtype, plus faults, request log and settings."""

    def __init__(self, settings: Settings | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or Settings()
        self.settings.validate()
        _warn_about_admin_token(self.settings)
        self._initial_settings = asdict(self.settings)
        self._random_admin_token = new_admin_token(self.settings)
        self.faults = FaultRegistry()
        self.clock = SimClock(clock)
        self._clock = self.clock.monotonic
        self._cron = CronRuns(self.clock.now())
        self._lock = threading.RLock()
        self._seq = itertools.count(1)
        self._schedules: dict[str, Schedule] = {}
        self._surfaces: dict[tuple[str, str], dict[str, Any]] = {}
        self._runs: dict[str, Run] = {}
        self._batches: dict[str, Run] = {}
        self._records_by_day: dict[str, int] = {}  # records submitted by POST /v1/batch/flow, per UTC day
        self._batch_attempts: set[tuple[str, str]] = set()  # (flow or agent, record) pairs a batch has run
        self._log = RequestLog()

    # ----------------------------------------------------------------- settings, reset, request log

    def reset(self) -> None:
        """Back to the freshly created state: no schedules, surfaces, runs, faults or logged requests,
        and the settings the state was created with."""
        with self._lock:
            self.settings = Settings(**self._initial_settings)
            self._schedules.clear()
            self._surfaces.clear()
            self._runs.clear()
            self._batches.clear()
            self._records_by_day.clear()
            self._batch_attempts.clear()
            self._log.close()
            self._log = RequestLog()
            self.faults.clear()
            self.clock.reset()
            self._cron.restart(self.clock.now())

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change server settings at runtime (e.g. ``running_seconds``); returns the settings without secrets.

        All changes are validated together before any is applied: on ``ValueError`` nothing changed.
        """
        with self._lock:
            unknown = set(changes) - {f.name for f in fields(Settings)}
            if unknown:
                raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
            candidate = Settings(**{**asdict(self.settings), **changes})
            candidate.validate()
            for name in STARTUP_SETTINGS:
                if list(getattr(candidate, name)) != list(getattr(self.settings, name)):
                    raise InvalidSetting(name, "can only be set when the server starts")
            if candidate.admin_token != self.settings.admin_token:
                _warn_about_admin_token(candidate)
            if candidate.cron_runs and not self.settings.cron_runs:
                self._cron.restart(self.clock.now())
            self.settings = candidate
            self._log.trim(candidate.max_logged_requests)
            return candidate.public()

    @property
    def admin_token(self) -> str:
        """The Bearer token of the admin routes: ``Settings.admin_token``, else a random one made for this store
        (kept by :meth:`reset`), which is never an API key."""
        return self.settings.admin_token or self._random_admin_token

    def _secret_forms(self) -> list[str]:
        secret_values = {getattr(self.settings, name) for name in SECRET_SETTINGS} | {self.admin_token}
        forms = {form for secret in secret_values - {None} for form in secret_forms(secret)}
        return sorted(forms, key=len, reverse=True)

    def log_request(
        self, method: str, path: str, query: str = "", operation: str | None = None, fault: str | None = None
    ) -> LogEntry:
        """Append an entry to the request log (bounded: ``request_log.RequestLog``); the app then sets its
        ``status`` and hands its body to :meth:`log_body`."""
        with self._lock:
            entry = LogEntry(method, path, query, operation, fault)
            return self._log.add(entry, self.settings.max_logged_requests, self._secret_forms())

    def log_body(self, entry: LogEntry, raw: bytes) -> None:
        """Keep the raw request body of a logged entry (if still logged and small enough)."""
        with self._lock:
            self._log.keep_body(entry, raw)

    def count_refused_host(self) -> None:
        """Count a request refused for its ``Host`` header (it is not logged)."""
        with self._lock:
            self._log.refused_hosts += 1

    def requests(self) -> list[dict[str, Any]]:
        """A copy of the request log (oldest first). Headers are never logged, and any configured key or
        admin token a client put in a path, query string or body is replaced by ``[redacted]``."""
        with self._lock:
            return self._log.entries(self._secret_forms())

    def request_log_stats(self) -> dict[str, int]:
        """``logged``, ``dropped`` (past ``Settings.max_logged_requests``) and ``refused_hosts`` since the last
        :meth:`clear_requests` or :meth:`reset`."""
        with self._lock:
            return self._log.stats()

    def clear_requests(self) -> None:
        """Empty the request log and zero its counts."""
        with self._lock:
            self._log.close()
            self._log = RequestLog()

    # ----------------------------------------------------------------- credentials

    def authorize(self, authorization: str | None, method: str) -> None:
        """401 unless ``Authorization: Bearer <known key>``; 403 for a read-only key on a non-GET call."""
        scheme, _, key = (authorization or "").partition(" ")
        key = key.strip()
        keys = {self.settings.api_key, self.settings.read_only_api_key} - {None}
        if scheme.lower() != "bearer" or key not in keys:
            message = "Missing API key" if not authorization else "Invalid or revoked API key"
            raise _unauthorized(message, "INVALID_API_KEY")
        if key == self.settings.read_only_api_key and method.upper() not in ("GET", "HEAD"):
            raise ApiError(403, "Forbidden", [detail("This API key is read-only", None, "INSUFFICIENT_PERMISSIONS")])

    def authenticated(self, authorization: str | None) -> bool:
        """True when ``authorization`` is ``Bearer <known API key>`` (full access or read-only)."""
        try:
            self.authorize(authorization, "GET")
        except ApiError:
            return False
        return True

    def authorize_admin(self, authorization: str | None) -> None:
        """401 unless ``Authorization: Bearer <admin token>`` (:attr:`admin_token`)."""
        scheme, _, token = (authorization or "").partition(" ")
        expected = self.admin_token.encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
            message = "Missing admin token" if not authorization else "Invalid admin token"
            raise _unauthorized(f"{message}: send Authorization: Bearer <admin token>", "INVALID_ADMIN_TOKEN")

    # ----------------------------------------------------------------- admin seeding

    def add_surface(
        self, product_id: str, surface_id: str, type: str = "schedule", name: str | None = None
    ) -> dict[str, Any]:
        """Create (or replace) a product surface; schedules need a surface of type ``schedule``."""
        check_text("product_id", product_id)
        check_text("surface_id", surface_id)
        check_text("name", name, optional=True)
        if not isinstance(type, str) or type not in SURFACE_TYPES:
            raise InvalidSetting("type", f"is not a known surface type: {type!r}", "INVALID_ENUM")
        surface = {"id": surface_id, "productId": product_id, "type": type, "name": name or surface_id}
        with self._lock:
            self._surfaces[(product_id, surface_id)] = surface
        return dict(surface)

    def seed_schedule(self, spec: SeedSpec | None = None, /, **spec_fields: Any) -> dict[str, Any]:
        """Insert a schedule directly (no auth, no entitlement check) and return it as ``GET`` would.

        Takes a :class:`SeedSpec`, or its fields as keywords (``seed_schedule(name="x", record_count=3)``).
        Raises ``ValueError`` (and then changes nothing); ``record_count`` and the id lists are capped at
        ``settings.MAX_RECORDS``.
        """
        if spec is None:
            spec = SeedSpec(**spec_fields)
        elif not isinstance(spec, SeedSpec) or spec_fields:
            raise TypeError("seed_schedule takes one SeedSpec or SeedSpec fields as keywords, not both")
        sim = spec.sim_config()
        updates = spec.schedule_fields()
        errors = type_errors(updates, {}) + trigger_errors(updates, {})
        if errors:
            raise ValueError("; ".join(f"{item['path']}: {item['message']}" for item in errors))
        with self._lock:
            if spec.schedule_id is not None and spec.schedule_id in self._schedules:
                raise ValueError(f"schedule {spec.schedule_id!r} already exists")
            surface = (spec.product_id, spec.surface_id)
            if spec.product_id is not None and spec.surface_id is not None and surface not in self._surfaces:
                self.add_surface(spec.product_id, spec.surface_id)
            schedule = self._insert(updates, sim, spec.schedule_id, spec.product_id, spec.surface_id)
            return self._render(schedule)

    def configure_schedule(self, schedule_id: str, **changes: Any) -> dict[str, Any]:
        """Change a schedule's simulation knobs (``failing_record_ids``, ``failure_share``, ``run_outcome``,
        ``error``, ``record_count``, ``flow_name``, ``queued_seconds``, ``running_seconds``) for later runs.

        All changes are validated together before any is applied: on ``ValueError`` nothing changed."""
        with self._lock:
            schedule = self._schedules.get(schedule_id)
            if schedule is None:
                raise ValueError(f"unknown schedule {schedule_id!r}")
            unknown = set(changes) - {f.name for f in fields(SimConfig)}
            if unknown:
                raise ValueError(f"unknown schedule settings: {', '.join(sorted(unknown))}")
            if changes.get("failing_record_ids") is not None:
                check_ids("failing_record_ids", changes["failing_record_ids"])
                changes["failing_record_ids"] = frozenset(changes["failing_record_ids"])
            candidate = SimConfig(**{**asdict(schedule.sim), **changes})
            candidate.validate()
            schedule.sim = candidate
            return candidate.to_dict()

    def seed_demo(self) -> list[dict[str, Any]]:
        """Seed the demo data set (``runtype_provider.testing.demo_data``): every example DAG's schedule."""
        return demo_data.seed_demo(self)

    # ----------------------------------------------------------------- schedules and runs

    def _insert(
        self,
        updates: Mapping[str, Any],
        sim: SimConfig,
        schedule_id: str | None,
        product_id: str | None,
        surface_id: str | None,
    ) -> Schedule:
        stamp = iso(self.clock.now())
        sid = schedule_id or new_id("sch")
        doc: dict[str, Any] = {name: None for name in SCHEDULE_FIELDS if name != "nextRunAt"}
        doc.update(
            {
                "createdAt": stamp,
                "enabled": True,
                "executionOptions": {},
                "id": sid,
                "organizationId": self.settings.organization_id,
                "productSurfaceId": surface_id,
                "updatedAt": stamp,
                "userId": self.settings.user_id,
            }
        )
        doc.update(copy.deepcopy(dict(updates)))
        schedule = Schedule(sid, next(self._seq), doc, sim, product_id)
        self._schedules[sid] = schedule
        return schedule

    def _render(self, schedule: Schedule, *, flow_name: bool = False, recent_runs: bool = False) -> dict[str, Any]:
        """The schedule as the API returns it (with ``nextRunAt``; optionally ``flowName`` and ``recentRuns``)."""
        doc = copy.deepcopy(schedule.doc)
        doc["nextRunAt"] = next_run_at(doc, self.clock.now())
        if flow_name:
            doc["flowName"] = schedule.flow_name()
        if recent_runs:
            now = self._clock()
            doc["recentRuns"] = [run.recent_run(now) for run in self._schedule_runs(schedule.id)[:RECENT_RUNS]]
        return dict(sorted(doc.items()))

    def _get(self, schedule_id: str) -> Schedule:
        schedule = self._schedules.get(schedule_id)
        if schedule is None:
            raise not_found("Schedule", schedule_id, "id")
        return schedule

    def _check_entitlement(self) -> None:
        """402 when one more active schedule would exceed ``Settings.max_active_schedules``."""
        limit = self.settings.max_active_schedules
        active = sum(1 for schedule in self._schedules.values() if schedule.doc["enabled"])
        if limit is not None and active >= limit:
            raise ApiError(
                402,
                "Active schedule limit reached",
                extra={
                    "code": "ACTIVE_SCHEDULE_LIMIT",
                    "message": f"Your plan allows {limit} active schedules. Pause one or upgrade your plan.",
                    "upgradeUrl": "/settings/billing",
                },
            )

    def _schedule_runs(self, schedule_id: str) -> list[Run]:
        """The schedule's runs, newest first."""
        return sorted((r for r in self._runs.values() if r.schedule_id == schedule_id), key=lambda r: -r.seq)

    def _start_run(self, schedule: Schedule, *, at: datetime | None = None) -> Run:
        """Start a run now, or as if it had started at ``at`` (a cron firing in the past)."""
        sim, doc, settings = schedule.sim, schedule.doc, self.settings
        records = make_records(doc, settings.default_record_count if sim.record_count is None else sim.record_count)
        share = settings.failure_share if sim.failure_share is None else sim.failure_share
        mono, wall = self._clock(), self.clock.now()
        if at is not None and at < wall:
            mono, wall = mono - (wall - at).total_seconds(), at
        run = Run(
            id=new_id("run"),
            seq=next(self._seq),
            schedule_id=schedule.id,
            batch_id=new_id("batch"),
            flow_id=doc.get("flowId"),
            agent_id=doc.get("agentId"),
            agent_execution_id=new_id("exec") if doc.get("agentId") else None,
            flow_name=schedule.flow_name(),
            records=records,
            failed_mask=failure_mask(records, sim.failing_record_ids, share),
            created_mono=mono,
            created_wall=wall,
            queued_s=settings.queued_seconds if sim.queued_seconds is None else sim.queued_seconds,
            running_s=settings.running_seconds if sim.running_seconds is None else sim.running_seconds,
            outcome=sim.run_outcome,
            error=sim.error or "Batch execution failed (simulated)",
            record_error=settings.record_error,
            cost_per_record=settings.cost_per_record_usd,
            billed_share=settings.billed_cost_share,
        )
        self._runs[run.id] = run
        self._batches[run.batch_id] = run
        doc["lastRunAt"] = iso(wall)
        return run


def start_due_runs(store: Store) -> list[str]:
    """Start the runs whose cron firing is due, each at its firing time; their ids.

    A no-op unless ``Settings.cron_runs``. Called by the app before every API call and by :func:`advance`.
    """
    with store._lock:
        if not store.settings.cron_runs:
            return []
        docs = [(sid, schedule.doc) for sid, schedule in store._schedules.items()]
        due = store._cron.due(docs, store.clock.now())
        return [store._start_run(store._schedules[sid], at=moment).id for sid, moment in due]


def advance(store: Store, seconds: Any) -> dict[str, Any]:
    """Move the clock forward (runs progress, cron fires): ``POST /_local/clock/advance``.

    Returns ``{"now": <new wall time>, "offsetSeconds": <total advance>, "cronRuns": [<run ids started>]}``.
    """
    with store._lock:
        started = start_due_runs(store)  # firings up to now belong to now, not to the advanced time
        offset = store.clock.advance(seconds)
        started += start_due_runs(store)
        return {"now": iso(store.clock.now()), "offsetSeconds": offset, "cronRuns": started}
