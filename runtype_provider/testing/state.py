"""In-memory state and operations of the local Runtype (stdlib only, no web framework).

Every public method named like an operation in :data:`~runtype_provider.testing.faults.OPERATIONS`
implements one REST endpoint of ``runtype-api.md`` and returns the JSON-ready response body (or
raises :class:`ApiError`). The web layer (``server.py``) only routes, authenticates and serializes.

Run simulation (all derived from real monotonic time, nothing runs in the background):

* a run is ``queued`` for ``queued_seconds``, then ``running`` for ``running_seconds``, then terminal;
* while running, ``processedRecords = floor(total * elapsed_running / running_seconds)``, records
  are processed in order, and a result row exists only for a processed record;
* record ``i`` (0-based) fails if its id is in the schedule's ``failing_record_ids`` or, without
  that list, iff ``floor((i + 1) * share) > floor(i * share)`` (exactly ``floor(n * share)`` of the
  first ``n`` records fail, evenly spread; ``share`` = schedule ``failure_share`` or the server's);
* a normal run ends ``completed`` even when records failed; a schedule seeded with
  ``run_outcome="failed"`` stops after half of its records (at half the running time) with run and
  batch status ``failed`` and its ``error`` message;
* ``cancel_batch`` on a queued/running batch freezes it as ``cancelled``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import itertools
import math
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from typing import Any
from urllib.parse import quote, quote_plus
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from runtype_provider.testing._cron import parse_cron
from runtype_provider.testing.cron_runs import CronRuns, SimClock
from runtype_provider.testing.faults import FaultRegistry

UTC = timezone.utc  # datetime.UTC needs Python 3.11
DEFAULT_API_KEY = "rt_test_local_demo_key"
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
RECENT_RUNS = 10
COMPACT_LIMIT = 100
MAX_RECORDS = 100_000
"""Cap on record counts and record-id lists (settings, seeds, schedule knobs, API ``recordIds``)."""
MAX_SECONDS = 1_000_000_000.0
"""Cap on simulated durations (larger values would overflow the run timestamps)."""
MAX_LATENCY = 60.0
"""Cap on ``Settings.latency_seconds`` (a client's request timeout is 30 s by default)."""
SECRET_SETTINGS = frozenset({"api_key", "read_only_api_key", "admin_token"})
"""Settings the admin routes never return."""
TRIGGER_TYPES = ("recurring", "one_time")
RUN_OUTCOMES = ("completed", "failed")
TERMINAL = frozenset({"completed", "failed", "cancelled"})
SURFACE_TYPES = (
    "chat", "mcp", "mcp_code", "api", "webhook", "schedule", "a2a", "email", "slack", "sms",
    "imessage", "discord", "whatsapp", "telegram", "hosted-page", "chrome_extension",
)  # fmt: skip
SCHEDULE_FIELDS = (
    "agentId", "createdAt", "cron", "enabled", "executionOptions", "flowId", "id", "inputs",
    "lastRunAt", "messages", "name", "nextRunAt", "organizationId", "productSurfaceId",
    "recordFilter", "recordIds", "recordType", "runAt", "timezone", "triggerType", "updatedAt", "userId",
)  # fmt: skip


def iso(moment: datetime) -> str:
    """Format an aware datetime the way the API does: UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


class ApiError(Exception):
    """An HTTP error with the API's ``Error`` body: ``{"error": ..., "details": [...]}``."""

    def __init__(
        self,
        status: int,
        error: str,
        details: list[dict[str, Any]] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {error}")
        self.status = status
        self.error = error
        self.details = details or []
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        return {"error": self.error, "details": self.details, **self.extra}


def detail(message: str, path: str | None = None, code: str | None = None, **more: str) -> dict[str, Any]:
    """One ``details`` item (``message``, ``path``, ``code`` and optional ``suggestion``)."""
    return {"message": message, "path": path, "code": code, **more}


class InvalidSetting(ValueError):
    """A refused setting, seed argument or schedule knob; ``field`` names it (the admin routes' 400 ``path``)."""

    def __init__(self, field: str, message: str, code: str = "INVALID_VALUE") -> None:
        super().__init__(f"{field} {message}")
        self.field = field
        self.code = code


def _check_number(field: str, value: Any, *, optional: bool = False, high: float = MAX_SECONDS) -> None:
    """A real number (not a bool), finite, between 0 and ``high``."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidSetting(field, f"must be a number, got {value!r}", "INVALID_TYPE")
    if not (math.isfinite(value) and 0 <= value <= high):
        raise InvalidSetting(field, f"must be a finite number between 0 and {high:g}, got {value!r}", "INVALID_RANGE")


def _check_count(field: str, value: Any, *, optional: bool = False, high: int | None = MAX_RECORDS) -> None:
    """An int (not a bool) >= 0 and <= ``high``."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSetting(field, f"must be an integer, got {value!r}", "INVALID_TYPE")
    if value < 0:
        raise InvalidSetting(field, f"must be >= 0, got {value}", "INVALID_RANGE")
    if high is not None and value > high:
        raise InvalidSetting(field, f"must be at most {high}, got {value}", "TOO_MANY_RECORDS")


def _check_text(field: str, value: Any, *, optional: bool = False, key: bool = False) -> None:
    """A string (``key``: non-empty, no surrounding whitespace, as a Bearer credential must be)."""
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise InvalidSetting(field, f"must be a string, got {type(value).__name__}", "INVALID_TYPE")
    if key and (not value or value != value.strip()):
        raise InvalidSetting(field, "must be a non-empty string without surrounding whitespace")


def _check_ids(field: str, value: Any, *, optional: bool = False) -> None:
    """A list/tuple/set of strings with at most ``MAX_RECORDS`` items."""
    if value is None and optional:
        return
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Collection):
        raise InvalidSetting(field, f"must be a list of strings, got {type(value).__name__}", "INVALID_TYPE")
    if len(value) > MAX_RECORDS:
        raise InvalidSetting(field, f"must have at most {MAX_RECORDS} items, got {len(value)}", "TOO_MANY_RECORDS")
    if not all(isinstance(item, str) for item in value):
        raise InvalidSetting(field, "must be a list of strings", "INVALID_TYPE")


def _validation(details: list[dict[str, Any]]) -> ApiError:
    return ApiError(400, "Validation failed", details)


def _not_found(kind: str, ident: str, path: str) -> ApiError:
    return ApiError(404, f"{kind} not found", [detail(f"No {kind.lower()} with id {ident!r}", path, "NOT_FOUND")])


@dataclass
class Settings:
    """Server-wide configuration; simulation fields can be changed at runtime (``State.configure``)."""

    api_key: str = DEFAULT_API_KEY
    read_only_api_key: str | None = None
    admin_token: str | None = None
    """Bearer token of the ``/_local/`` admin routes; ``None``: the ``api_key`` (never the read-only key)."""
    queued_seconds: float = 0.5
    running_seconds: float = 2.0
    failure_share: float = 0.0
    default_record_count: int = 10
    max_active_schedules: int | None = None
    record_error: str = "Simulated record failure"
    user_id: str = "user_local"
    organization_id: str = "org_local"
    latency_seconds: float = 0.0
    """Seconds every ``/v1`` request waits before it is answered (a real network's round trip); admin routes never
    wait. Requests wait concurrently, as on a real server."""
    cron_runs: bool = False
    """Start runs at the schedules' own cron times (``cron_runs.py``); off: only run-now starts runs."""

    def validate(self) -> None:
        """Raise :class:`InvalidSetting` (a ``ValueError``) for a wrong type or an impossible value."""
        _check_text("api_key", self.api_key, key=True)
        _check_text("read_only_api_key", self.read_only_api_key, optional=True, key=True)
        _check_text("admin_token", self.admin_token, optional=True, key=True)
        _check_number("queued_seconds", self.queued_seconds)
        _check_number("running_seconds", self.running_seconds)
        _check_share("failure_share", self.failure_share)
        _check_count("default_record_count", self.default_record_count)
        _check_count("max_active_schedules", self.max_active_schedules, optional=True, high=None)
        _check_number("latency_seconds", self.latency_seconds, high=MAX_LATENCY)
        if not isinstance(self.cron_runs, bool):
            raise InvalidSetting("cron_runs", f"must be a boolean, got {self.cron_runs!r}", "INVALID_TYPE")
        for name in ("record_error", "user_id", "organization_id"):
            _check_text(name, getattr(self, name))

    @property
    def effective_admin_token(self) -> str:
        """The Bearer token the admin routes accept: ``admin_token``, else ``api_key``."""
        return self.admin_token or self.api_key

    def public(self) -> dict[str, Any]:
        """The settings without the secrets (:data:`SECRET_SETTINGS`): what the admin routes return."""
        return {key: value for key, value in asdict(self).items() if key not in SECRET_SETTINGS}


def _check_share(field: str, share: Any, *, optional: bool = False) -> None:
    _check_number(field, share, optional=optional, high=1.0)


@dataclass(frozen=True)
class Record:
    """A record a run processes."""

    id: str
    name: str
    type: str


@dataclass
class SimConfig:
    """Per-schedule simulation knobs (``None`` = use the server setting)."""

    record_count: int | None = None
    failing_record_ids: frozenset[str] | None = None
    failure_share: float | None = None
    run_outcome: str = "completed"
    error: str | None = None
    flow_name: str | None = None
    queued_seconds: float | None = None
    running_seconds: float | None = None

    def validate(self) -> None:
        """Raise :class:`InvalidSetting` (a ``ValueError``) for a wrong type or an impossible value."""
        if not isinstance(self.run_outcome, str) or self.run_outcome not in RUN_OUTCOMES:
            raise InvalidSetting("run_outcome", f"must be one of {RUN_OUTCOMES}, got {self.run_outcome!r}")
        _check_count("record_count", self.record_count, optional=True)
        if self.failing_record_ids is not None and not isinstance(self.failing_record_ids, frozenset):
            raise InvalidSetting("failing_record_ids", "must be a frozenset of strings", "INVALID_TYPE")
        _check_ids("failing_record_ids", self.failing_record_ids, optional=True)
        _check_share("failure_share", self.failure_share, optional=True)
        _check_text("error", self.error, optional=True)
        _check_text("flow_name", self.flow_name, optional=True)
        _check_number("queued_seconds", self.queued_seconds, optional=True)
        _check_number("running_seconds", self.running_seconds, optional=True)


@dataclass
class Schedule:
    """A stored schedule: ``doc`` holds the API fields (camelCase) except the computed ``nextRunAt``."""

    id: str
    seq: int
    doc: dict[str, Any]
    sim: SimConfig
    product_id: str | None = None


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
    """A schedule run and its batch execution (one object: the fake links them one to one)."""

    id: str
    seq: int
    schedule_id: str
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


def _encode_cursor(seq: int, direction: str) -> str:
    raw = f"{direction}:{seq}".encode()
    return "cur_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        payload = cursor.removeprefix("cur_")
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
        direction, _, seq = raw.partition(":")
        if direction not in ("next", "prev") or not cursor.startswith("cur_"):
            raise ValueError(cursor)
        return int(seq), direction
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise _validation([detail("Invalid pagination cursor", "cursor", "INVALID_CURSOR")]) from exc


def _int_param(query: Mapping[str, str], name: str, default: int, low: int, high: int | None) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise _validation([detail(f"{name} must be an integer {bound}", name, "INVALID_RANGE")])
    return value


def _enum_param(query: Mapping[str, str], name: str, allowed: Iterable[str]) -> str | None:
    value = query.get(name)
    allowed = tuple(allowed)
    if value is not None and value not in allowed:
        raise _validation(
            [detail(f"{name} must be one of {', '.join(allowed)}", name, "INVALID_ENUM", suggestion="|".join(allowed))]
        )
    return value


def _secret_forms(secret: str) -> set[str]:
    """``secret`` as it may appear in a logged query string or body: raw and URL-encoded."""
    return {secret, quote(secret), quote(secret, safe=""), quote_plus(secret)}


def _mask(value: Any, secrets: list[str]) -> Any:
    """``value`` with every occurrence of each of ``secrets`` (longest first) in its strings redacted."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "[redacted]")
        return value
    if isinstance(value, dict):
        return {_mask(key, secrets): _mask(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask(item, secrets) for item in value]
    return value


def _compact(value: Any) -> Any:
    """``view=compact``: every string longer than 100 chars becomes a 100-char preview plus ``…``."""
    if isinstance(value, str) and len(value) > COMPACT_LIMIT:
        return value[:COMPACT_LIMIT] + "…"
    if isinstance(value, dict):
        return {key: _compact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_compact(item) for item in value]
    return value


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(value)
    # Python 3.10's fromisoformat does not accept a trailing "Z".
    moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _paging(query: Mapping[str, str]) -> tuple[int, int]:
    return (
        _int_param(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        _int_param(query, "offset", 0, 0, None),
    )


# Where each schedule field lives in the nested global create/update body (for error ``path``s).
_GLOBAL_PATHS = {
    **{key: f"target.{key}" for key in ("flowId", "agentId", "recordType", "recordIds")},
    **{key: f"trigger.{key}" for key in ("cron", "timezone", "runAt")},
    "triggerType": "trigger.type",
}
_TYPE_CHECKS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "flowId": (str, "string"),
    "agentId": (str, "string"),
    "recordType": (str, "string"),
    "recordIds": (list, "array of strings"),
    "triggerType": (str, "string"),
    "cron": (str, "string"),
    "timezone": (str, "string"),
    "runAt": (str, "ISO-8601 string"),
    "name": (str, "string"),
    "inputs": (dict, "object"),
    "recordFilter": (dict, "object"),
    "executionOptions": (dict, "object"),
    "enabled": (bool, "boolean"),
}


def _type_errors(updates: Mapping[str, Any], paths: Mapping[str, str]) -> list[dict[str, Any]]:
    errors = []
    for key, value in updates.items():
        expected, label = _TYPE_CHECKS.get(key, (object, "any"))
        bad = value is not None and not isinstance(value, expected)
        if key == "recordIds" and isinstance(value, list):
            if len(value) > MAX_RECORDS:
                path = paths.get(key, key)
                errors.append(detail(f"{path} must have at most {MAX_RECORDS} items", path, "TOO_MANY_RECORDS"))
                continue
            bad = not all(isinstance(item, str) for item in value)
        if key in ("executionOptions", "enabled") and value is None:
            bad = True
        if bad:
            errors.append(detail(f"{paths.get(key, key)} must be a {label}", paths.get(key, key), "INVALID_TYPE"))
    return errors


def _trigger_errors(doc: Mapping[str, Any], paths: Mapping[str, str]) -> list[dict[str, Any]]:
    """Validate the merged trigger fields of a schedule document."""
    errors: list[dict[str, Any]] = []

    def err(key: str, message: str, code: str) -> None:
        errors.append(detail(message, paths.get(key, key), code))

    kind = doc.get("triggerType")
    if kind not in TRIGGER_TYPES:
        err(
            "triggerType",
            f"{paths.get('triggerType', 'triggerType')} must be one of {', '.join(TRIGGER_TYPES)}",
            "INVALID_ENUM",
        )
    elif kind == "recurring":
        if not doc.get("cron"):
            err("cron", "cron is required for recurring schedules", "MISSING_REQUIRED_FIELD")
        else:
            try:
                parse_cron(doc["cron"])
            except ValueError as exc:
                err("cron", f"invalid cron expression: {exc}", "INVALID_CRON")
    elif not doc.get("runAt"):
        err("runAt", "runAt is required for one_time schedules", "MISSING_REQUIRED_FIELD")
    if doc.get("runAt"):
        try:
            _parse_time(doc["runAt"])
        except ValueError:
            err("runAt", "runAt must be an ISO-8601 timestamp", "INVALID_FORMAT")
    if doc.get("timezone"):
        try:
            ZoneInfo(doc["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            err("timezone", f"unknown IANA timezone {doc['timezone']!r}", "INVALID_TIMEZONE")
    if doc.get("flowId") and doc.get("agentId"):
        err("flowId", "exactly one of flowId and agentId may be set", "CONFLICTING_FIELDS")
    elif not doc.get("flowId") and not doc.get("agentId"):
        err("flowId", "a flowId (or agentId) is required", "MISSING_REQUIRED_FIELD")
    return errors


class State:
    """All schedules, surfaces, runs and batches of one local Runtype, plus faults and request log.

    Thread-safe: API calls arrive on the server's event loop, seeding calls on the test's thread.
    """

    def __init__(self, settings: Settings | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or Settings()
        self.settings.validate()
        self._initial_settings = asdict(self.settings)
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
        self._log: list[dict[str, Any]] = []

    # ----------------------------------------------------------------- control (not HTTP API)

    def reset(self) -> None:
        """Back to the freshly created state: no schedules, surfaces, runs, faults or logged requests,
        and the settings the state was created with."""
        with self._lock:
            self.settings = Settings(**self._initial_settings)
            self._schedules.clear()
            self._surfaces.clear()
            self._runs.clear()
            self._batches.clear()
            self._log.clear()
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
            if candidate.cron_runs and not self.settings.cron_runs:
                self._cron.restart(self.clock.now())
            self.settings = candidate
            return candidate.public()

    def log_request(self, entry: dict[str, Any]) -> None:
        """Append one entry to the request log."""
        with self._lock:
            self._log.append(entry)

    def requests(self) -> list[dict[str, Any]]:
        """A copy of the request log (oldest first). Headers are never logged, and any configured key or
        admin token a client put in a query string or body is replaced by ``[redacted]``."""
        with self._lock:
            secrets = {getattr(self.settings, name) for name in SECRET_SETTINGS} - {None}
            forms = sorted({form for secret in secrets for form in _secret_forms(secret)}, key=len, reverse=True)
            return [_mask(dict(entry), forms) for entry in self._log]

    def clear_requests(self) -> None:
        """Empty the request log."""
        with self._lock:
            self._log.clear()

    def authorize(self, authorization: str | None, method: str) -> None:
        """401 unless ``Authorization: Bearer <known key>``; 403 for a read-only key on a non-GET call."""
        scheme, _, key = (authorization or "").partition(" ")
        key = key.strip()
        keys = {self.settings.api_key, self.settings.read_only_api_key} - {None}
        if scheme.lower() != "bearer" or key not in keys:
            message = "Missing API key" if not authorization else "Invalid or revoked API key"
            raise ApiError(
                401,
                "Unauthorized",
                [detail(message, None, "INVALID_API_KEY")],
                headers={"WWW-Authenticate": "Bearer"},
            )
        if key == self.settings.read_only_api_key and method.upper() not in ("GET", "HEAD"):
            raise ApiError(403, "Forbidden", [detail("This API key is read-only", None, "INSUFFICIENT_PERMISSIONS")])

    def authorize_admin(self, authorization: str | None) -> None:
        """401 unless ``Authorization: Bearer <admin token>`` (``Settings.admin_token``, else the API key)."""
        scheme, _, token = (authorization or "").partition(" ")
        expected = self.settings.effective_admin_token.encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
            message = "Missing admin token" if not authorization else "Invalid admin token"
            raise ApiError(
                401,
                "Unauthorized",
                [detail(f"{message}: send Authorization: Bearer <admin token>", None, "INVALID_ADMIN_TOKEN")],
                headers={"WWW-Authenticate": "Bearer"},
            )

    def add_surface(
        self, product_id: str, surface_id: str, type: str = "schedule", name: str | None = None
    ) -> dict[str, Any]:
        """Create (or replace) a product surface; schedules need a surface of type ``schedule``."""
        _check_text("product_id", product_id)
        _check_text("surface_id", surface_id)
        _check_text("name", name, optional=True)
        if not isinstance(type, str) or type not in SURFACE_TYPES:
            raise InvalidSetting("type", f"is not a known surface type: {type!r}", "INVALID_ENUM")
        surface = {"id": surface_id, "productId": product_id, "type": type, "name": name or surface_id}
        with self._lock:
            self._surfaces[(product_id, surface_id)] = surface
        return dict(surface)

    def seed_schedule(
        self,
        *,
        schedule_id: str | None = None,
        name: str | None = None,
        flow_id: str | None = None,
        agent_id: str | None = None,
        record_ids: list[str] | None = None,
        record_type: str | None = None,
        record_count: int | None = None,
        failing_record_ids: Iterable[str] | None = None,
        failure_share: float | None = None,
        run_outcome: str = "completed",
        error: str | None = None,
        enabled: bool = True,
        cron: str | None = None,
        timezone: str = "UTC",
        run_at: str | None = None,
        execution_options: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        messages: Any = None,
        record_filter: dict[str, Any] | None = None,
        product_id: str | None = None,
        surface_id: str | None = None,
        flow_name: str | None = None,
        queued_seconds: float | None = None,
        running_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Insert a schedule directly (no auth, no entitlement check) and return it as ``GET`` would.

        Without ``flow_id``/``agent_id`` the schedule targets flow ``flow_local``. Without
        ``cron``/``run_at`` it is recurring at ``0 8 * * *``. ``product_id`` + ``surface_id`` make it a
        product-surface schedule (the surface is created if missing). Raises ``ValueError`` (and then
        changes nothing); ``record_count`` and the id lists are capped at :data:`MAX_RECORDS`.
        """
        if (product_id is None) != (surface_id is None):
            raise ValueError("product_id and surface_id go together")
        for field_name, value in (("schedule_id", schedule_id), ("product_id", product_id), ("surface_id", surface_id)):
            _check_text(field_name, value, optional=True)
        _check_ids("record_ids", record_ids, optional=True)
        _check_ids("failing_record_ids", failing_record_ids, optional=True)
        if flow_id is None and agent_id is None:
            flow_id = "flow_local"
        sim = SimConfig(
            record_count=record_count,
            failing_record_ids=frozenset(failing_record_ids) if failing_record_ids is not None else None,
            failure_share=failure_share,
            run_outcome=run_outcome,
            error=error,
            flow_name=flow_name,
            queued_seconds=queued_seconds,
            running_seconds=running_seconds,
        )
        sim.validate()
        updates = {
            "agentId": agent_id,
            "cron": cron if cron or run_at else "0 8 * * *",
            "enabled": enabled,
            "executionOptions": execution_options or {},
            "flowId": flow_id,
            "inputs": inputs,
            "messages": messages,
            "name": name,
            "recordFilter": record_filter,
            "recordIds": list(record_ids) if record_ids is not None else None,
            "recordType": record_type,
            "runAt": run_at,
            "timezone": timezone,
            "triggerType": "one_time" if run_at and not cron else "recurring",
        }
        errors = _type_errors(updates, {}) + _trigger_errors(updates, {})
        if errors:
            raise ValueError("; ".join(f"{item['path']}: {item['message']}" for item in errors))
        with self._lock:
            if schedule_id is not None and schedule_id in self._schedules:
                raise ValueError(f"schedule {schedule_id!r} already exists")
            if product_id is not None and surface_id is not None and (product_id, surface_id) not in self._surfaces:
                self.add_surface(product_id, surface_id)
            schedule = self._insert(updates, sim, schedule_id, product_id, surface_id)
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
                _check_ids("failing_record_ids", changes["failing_record_ids"])
                changes["failing_record_ids"] = frozenset(changes["failing_record_ids"])
            candidate = SimConfig(**{**asdict(schedule.sim), **changes})
            candidate.validate()
            schedule.sim = candidate
            result = asdict(candidate)
            if candidate.failing_record_ids is not None:
                result["failing_record_ids"] = sorted(candidate.failing_record_ids)
            return result

    def seed_demo(self) -> list[dict[str, Any]]:
        """Seed the demo data set (``runtype_provider.testing.examples``): every example DAG's schedule."""
        from runtype_provider.testing.examples import seed_demo

        return seed_demo(self)

    # ----------------------------------------------------------------- internals

    def _now(self) -> tuple[float, datetime]:
        return self._clock(), self.clock.now()

    def _insert(
        self,
        updates: Mapping[str, Any],
        sim: SimConfig,
        schedule_id: str | None,
        product_id: str | None,
        surface_id: str | None,
    ) -> Schedule:
        stamp = iso(self.clock.now())
        sid = schedule_id or _new_id("sch")
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

    def _next_run_at(self, doc: Mapping[str, Any], now: datetime) -> str | None:
        if not doc.get("enabled"):
            return None
        if doc.get("triggerType") == "one_time":
            run_at = doc.get("runAt")
            return run_at if run_at and _parse_time(run_at) > now else None
        moment = parse_cron(doc["cron"]).next_after(now, ZoneInfo(doc.get("timezone") or "UTC"))
        return iso(moment) if moment else None

    def _render(self, schedule: Schedule, *, flow_name: bool = False, recent_runs: bool = False) -> dict[str, Any]:
        doc = copy.deepcopy(schedule.doc)
        doc["nextRunAt"] = self._next_run_at(doc, self.clock.now())
        if flow_name:
            doc["flowName"] = self._flow_name(schedule)
        if recent_runs:
            now = self._clock()
            doc["recentRuns"] = [self._recent_run(run, now) for run in self._schedule_runs(schedule.id)[:RECENT_RUNS]]
        return dict(sorted(doc.items()))

    @staticmethod
    def _flow_name(schedule: Schedule) -> str | None:
        if schedule.sim.flow_name:
            return schedule.sim.flow_name
        flow_id = schedule.doc.get("flowId")
        return f"Flow {flow_id}" if flow_id else None

    def _get(self, schedule_id: str) -> Schedule:
        schedule = self._schedules.get(schedule_id)
        if schedule is None:
            raise _not_found("Schedule", schedule_id, "id")
        return schedule

    def _active_count(self) -> int:
        return sum(1 for schedule in self._schedules.values() if schedule.doc["enabled"])

    def _check_entitlement(self) -> None:
        limit = self.settings.max_active_schedules
        if limit is not None and self._active_count() >= limit:
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
        return sorted((r for r in self._runs.values() if r.schedule_id == schedule_id), key=lambda r: -r.seq)

    def _records(self, schedule: Schedule) -> tuple[Record, ...]:
        doc = schedule.doc
        filter_type = doc["recordFilter"].get("type") if isinstance(doc.get("recordFilter"), dict) else None
        record_type = doc.get("recordType") or filter_type or "record"
        if doc.get("recordIds") is not None:
            return tuple(Record(rid, f"Record {rid}", record_type) for rid in doc["recordIds"])
        count = schedule.sim.record_count
        count = self.settings.default_record_count if count is None else count
        label = record_type.replace("_", " ").title()
        return tuple(Record(f"rec_{record_type}_{i + 1}", f"{label} {i + 1}", record_type) for i in range(count))

    def _failed_mask(self, schedule: Schedule, records: tuple[Record, ...]) -> tuple[bool, ...]:
        if schedule.sim.failing_record_ids is not None:
            return tuple(record.id in schedule.sim.failing_record_ids for record in records)
        share = schedule.sim.failure_share
        fraction = Fraction(str(self.settings.failure_share if share is None else share))
        return tuple(math.floor((i + 1) * fraction) > math.floor(i * fraction) for i in range(len(records)))

    def _start_run(self, schedule: Schedule, *, at: datetime | None = None) -> Run:
        """Start a run now, or as if it had started at ``at`` (a cron firing in the past)."""
        records = self._records(schedule)
        mono, wall = self._now()
        if at is not None and at < wall:
            mono, wall = mono - (wall - at).total_seconds(), at
        sim, doc = schedule.sim, schedule.doc
        run = Run(
            id=_new_id("run"),
            seq=next(self._seq),
            schedule_id=schedule.id,
            batch_id=_new_id("batch"),
            flow_id=doc.get("flowId"),
            agent_id=doc.get("agentId"),
            agent_execution_id=_new_id("exec") if doc.get("agentId") else None,
            flow_name=self._flow_name(schedule),
            records=records,
            failed_mask=self._failed_mask(schedule, records),
            created_mono=mono,
            created_wall=wall,
            queued_s=self.settings.queued_seconds if sim.queued_seconds is None else sim.queued_seconds,
            running_s=self.settings.running_seconds if sim.running_seconds is None else sim.running_seconds,
            outcome=sim.run_outcome,
            error=sim.error or "Batch execution failed (simulated)",
            record_error=self.settings.record_error,
        )
        self._runs[run.id] = run
        self._batches[run.batch_id] = run
        doc["lastRunAt"] = iso(wall)
        return run

    @staticmethod
    def _run_dict(run: Run, now: float) -> dict[str, Any]:
        view = run.view(now)
        return {
            "agentExecutionId": run.agent_execution_id,
            "agentId": run.agent_id,
            "batchExecutionId": run.batch_id,
            "completedAt": iso(view.completed_at) if view.completed_at else None,
            "createdAt": iso(run.created_wall),
            "error": view.error,
            "failedRecords": view.failed,
            "flowId": run.flow_id,
            "id": run.id,
            "processedRecords": view.processed,
            "scheduleId": run.schedule_id,
            "startedAt": iso(view.started_at) if view.started_at else None,
            "status": view.status,
            "totalRecords": len(run.records),
        }

    def _recent_run(self, run: Run, now: float) -> dict[str, Any]:
        full = self._run_dict(run, now)
        return {
            key: full[key]
            for key in ("batchExecutionId", "completedAt", "createdAt", "error", "id", "startedAt", "status")
        }

    @staticmethod
    def _cursor_page(
        items: list[Any], query: Mapping[str, str], direction_param: bool
    ) -> tuple[list[Any], dict[str, Any]]:
        """Style-A pagination over ``items`` (objects with ``seq``, newest first), keyset cursors."""
        limit = _int_param(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        direction = _enum_param(query, "direction", ("next", "prev")) if direction_param else None
        start, stop = 0, limit
        if query.get("cursor"):
            key, cursor_direction = _decode_cursor(query["cursor"])
            direction = direction or cursor_direction
            newer = sum(1 for item in items if item.seq > key)
            if direction == "next":
                start = sum(1 for item in items if item.seq >= key)
                stop = start + limit
            else:
                start, stop = max(0, newer - limit), newer
        page = items[start:stop]
        has_more = start + len(page) < len(items)
        has_prev = start > 0
        pagination = {
            "currentOffset": start,
            "currentPage": start // limit + 1,
            "hasMore": has_more,
            "hasPrev": has_prev,
            "limit": limit,
            "nextCursor": _encode_cursor(page[-1].seq, "next") if has_more and page else None,
            "prevCursor": _encode_cursor(page[0].seq, "prev") if has_prev and page else None,
            "totalCount": len(items),
            "totalPages": math.ceil(len(items) / limit),
        }
        return page, pagination

    def _results(self, run: Run, query: Mapping[str, str], success_status: str) -> dict[str, Any]:
        """Style-B page of processed records' rows, optional ``status`` filter (success == completed)."""
        limit, offset = _paging(query)
        view = run.view(self._clock())
        # Pick the indexes of the page first (status comes from the failure mask), then build only those rows:
        # a page costs O(page), not O(run), so benchmarks over large runs measure the client, not this fake.
        indexes: range | list[int] = range(view.processed)
        wanted = query.get("status")
        if wanted:
            synonyms = {"success", "completed"}
            accepted = synonyms if wanted in synonyms else {wanted}
            want_failed, want_ok = "failed" in accepted, success_status in accepted
            mask = run.failed_mask
            indexes = [i for i in indexes if (want_failed if mask[i] else want_ok)]
        total = len(indexes)
        return {
            "data": [run.result_row(i, success_status) for i in indexes[offset : offset + limit]],
            "pagination": {"hasMore": offset + limit < total, "limit": limit, "offset": offset, "total": total},
            "summary": {"recordsWithFailedSteps": view.failed},
        }

    def _surface_schedule(self, product_id: str, surface_id: str, schedule_id: str | None = None) -> Schedule | None:
        surface = self._surfaces.get((product_id, surface_id))
        if surface is None:
            if not any(key[0] == product_id for key in self._surfaces):
                raise _not_found("Product", product_id, "id")
            raise _not_found("Surface", surface_id, "surfaceId")
        if surface["type"] != "schedule":
            raise ApiError(
                400,
                "Surface is not a schedule surface",
                [detail(f"surface {surface_id!r} has type {surface['type']!r}", "surfaceId", "INVALID_SURFACE_TYPE")],
            )
        if schedule_id is None:
            return None
        schedule = self._schedules.get(schedule_id)
        if schedule is None or schedule.product_id != product_id or schedule.doc["productSurfaceId"] != surface_id:
            raise _not_found("Schedule", schedule_id, "scheduleId")
        return schedule

    def _apply(self, schedule: Schedule | None, updates: dict[str, Any], paths: Mapping[str, str]) -> dict[str, Any]:
        """Validate ``updates`` merged over ``schedule`` (or a blank one); return the merged fields."""
        base = dict(schedule.doc) if schedule else {}
        if updates.get("triggerType") == "recurring" and "runAt" not in updates:
            updates["runAt"] = None
        if updates.get("triggerType") == "one_time" and "cron" not in updates:
            updates["cron"] = None
        merged = {**base, **updates}
        errors = _type_errors(updates, paths) or _trigger_errors(merged, paths)
        if errors:
            raise _validation(errors)
        if updates.get("runAt"):
            updates["runAt"] = iso(_parse_time(updates["runAt"]))
        return updates

    @staticmethod
    def _global_updates(body: Any, *, partial: bool) -> dict[str, Any]:
        """Translate the nested global create/update body into schedule fields."""
        if not isinstance(body, dict):
            raise _validation([detail("Request body must be a JSON object", "", "INVALID_TYPE")])
        missing = [
            detail(f"{section} is required", section, "MISSING_REQUIRED_FIELD")
            for section in ("target", "trigger")
            if body.get(section) is None and not partial
        ]
        for section in ("target", "trigger"):
            if body.get(section) is not None and not isinstance(body[section], dict):
                raise _validation([detail(f"{section} must be an object", section, "INVALID_TYPE")])
        updates: dict[str, Any] = {}
        for field_name, path in _GLOBAL_PATHS.items():
            section, key = path.split(".")
            if key in (body.get(section) or {}):
                updates[field_name] = body[section][key]
        if missing:
            raise _validation(missing)
        # Setting one target kind clears the other.
        if updates.get("flowId"):
            updates.setdefault("agentId", None)
        if updates.get("agentId"):
            updates.setdefault("flowId", None)
        for key in ("name", "inputs", "messages", "recordFilter", "executionOptions"):
            if key in body:
                updates[key] = body[key]
        return updates

    @staticmethod
    def _surface_updates(body: Any, *, partial: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _validation([detail("Request body must be a JSON object", "", "INVALID_TYPE")])
        allowed = ("flowId", "triggerType", "cron", "runAt", "timezone", "enabled", "executionOptions",
                   "recordFilter", "recordIds", "recordType")  # fmt: skip
        updates = {key: body[key] for key in allowed if key in body}
        if not partial:
            missing = [key for key in ("flowId", "triggerType") if body.get(key) is None]
            if missing:
                raise _validation([detail(f"{key} is required", key, "MISSING_REQUIRED_FIELD") for key in missing])
        if "executionOptions" in updates and updates["executionOptions"] is None:
            updates["executionOptions"] = {}
        return updates

    # ----------------------------------------------------------------- global schedules (§3)

    def list_schedules(self, query: Mapping[str, str]) -> dict[str, Any]:
        """GET /v1/schedules: newest first; ``search``, ``status``, ``view``; cursor pagination."""
        status = _enum_param(query, "status", ("active", "paused"))
        view = _enum_param(query, "view", ("full", "compact"))
        search = (query.get("search") or "").lower()
        with self._lock:
            items = sorted(self._schedules.values(), key=lambda s: -s.seq)
            if search:
                items = [s for s in items if search in (s.doc.get("name") or "").lower()]
            if status:
                items = [s for s in items if s.doc["enabled"] == (status == "active")]
            page, pagination = self._cursor_page(items, query, direction_param=False)
            data = [self._render(schedule) for schedule in page]
        return {"data": _compact(data) if view == "compact" else data, "pagination": pagination}

    def create_schedule(self, body: Any) -> dict[str, Any]:
        """POST /v1/schedules: nested ``target``/``trigger`` body; returns ``{id, status: "created"}``."""
        updates = self._global_updates(body, partial=False)
        with self._lock:
            updates = self._apply(None, updates, _GLOBAL_PATHS)
            self._check_entitlement()
            schedule = self._insert(updates, SimConfig(), None, None, None)
        return {"id": schedule.id, "status": "created"}

    def get_schedule(self, schedule_id: str) -> dict[str, Any]:
        """GET /v1/schedules/:id."""
        with self._lock:
            return self._render(self._get(schedule_id))

    def update_schedule(self, schedule_id: str, body: Any) -> dict[str, Any]:
        """PUT /v1/schedules/:id: partial update; returns ``{id, status: "updated"}``."""
        updates = self._global_updates(body, partial=True)
        with self._lock:
            schedule = self._get(schedule_id)
            schedule.doc.update(self._apply(schedule, updates, _GLOBAL_PATHS))
            schedule.doc["updatedAt"] = iso(self.clock.now())
        return {"id": schedule_id, "status": "updated"}

    def delete_schedule(self, schedule_id: str) -> dict[str, Any]:
        """DELETE /v1/schedules/:id (its runs stay visible in ``runs/all``)."""
        with self._lock:
            self._get(schedule_id)
            del self._schedules[schedule_id]
        return {"success": True}

    def _set_enabled(self, schedule: Schedule, enabled: bool) -> None:
        if enabled and not schedule.doc["enabled"]:
            self._check_entitlement()
        schedule.doc["enabled"] = enabled
        schedule.doc["updatedAt"] = iso(self.clock.now())

    def pause_schedule(self, schedule_id: str) -> dict[str, Any]:
        """POST /v1/schedules/:id/pause (idempotent)."""
        with self._lock:
            self._set_enabled(self._get(schedule_id), False)
        return {"status": "paused"}

    def resume_schedule(self, schedule_id: str) -> dict[str, Any]:
        """POST /v1/schedules/:id/resume (402 when it would exceed ``max_active_schedules``)."""
        with self._lock:
            self._set_enabled(self._get(schedule_id), True)
        return {"status": "resumed"}

    def run_schedule_now(self, schedule_id: str) -> dict[str, Any]:
        """POST /v1/schedules/:id/run-now: always starts a new run (paused schedules too)."""
        with self._lock:
            run = self._start_run(self._get(schedule_id))
        return {"batchExecutionId": run.batch_id, "error": None, "runId": run.id, "status": "queued"}

    def list_schedule_runs(self, schedule_id: str) -> dict[str, Any]:
        """GET /v1/schedules/:id/runs: all runs, newest first, no pagination."""
        with self._lock:
            self._get(schedule_id)
            now = self._clock()
            return {"data": [self._run_dict(run, now) for run in self._schedule_runs(schedule_id)]}

    def list_all_schedule_runs(self, query: Mapping[str, str]) -> dict[str, Any]:
        """GET /v1/schedules/runs/all: newest first, cursor pagination with ``direction``."""
        with self._lock:
            runs = sorted(self._runs.values(), key=lambda r: -r.seq)
            page, pagination = self._cursor_page(runs, query, direction_param=True)
            now = self._clock()
            return {"data": [self._run_dict(run, now) for run in page], "pagination": pagination}

    def get_run_results(self, run_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        """GET /v1/schedules/runs/:runId/results: rows with status ``success``/``failed``."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                raise _not_found("Run", run_id, "runId")
            return self._results(run, query, "success")

    def get_batch_results(self, batch_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        """GET /v1/schedules/batch/:batchId/results: rows with status ``completed``/``failed``."""
        with self._lock:
            return self._results(self._batch(batch_id), query, "completed")

    def _runs_by_day(self, runs: Iterable[Run], now: float) -> list[dict[str, Any]]:
        today = self.clock.now().date()
        days = {(today - timedelta(days=back)).isoformat(): [0, 0] for back in range(6, -1, -1)}
        for run in runs:
            counts = days.get(run.created_wall.date().isoformat())
            if counts is not None:
                counts[0] += 1
                counts[1] += run.view(now).status == "failed"
        return [{"date": day, "failed": failed, "runs": total} for day, (total, failed) in days.items()]

    def get_schedule_sparklines(self, query: Mapping[str, str]) -> dict[str, Any]:
        """GET /v1/schedules/sparklines: 7 UTC days (oldest first) per schedule; ``ids`` filter (max 100)."""
        ids = [item.strip() for item in (query.get("ids") or "").split(",") if item.strip()]
        if len(ids) > MAX_LIMIT:
            raise _validation([detail("at most 100 ids", "ids", "INVALID_RANGE")])
        with self._lock:
            now = self._clock()
            schedules = (
                [self._schedules[i] for i in ids if i in self._schedules]
                if ids
                else sorted(self._schedules.values(), key=lambda s: -s.seq)
            )
            return {
                "data": [
                    {"last7Days": self._runs_by_day(self._schedule_runs(s.id), now), "scheduleId": s.id}
                    for s in schedules
                ]
            }

    def get_schedule_stats(self, schedule_id: str) -> dict[str, Any]:
        """GET /v1/schedules/:id/stats: counts over all runs; ``successRate`` is a 0-1 fraction; no costs."""
        with self._lock:
            self._get(schedule_id)
            now = self._clock()
            runs = self._schedule_runs(schedule_id)
            views = [run.view(now) for run in runs]
            completed = sum(v.status == "completed" for v in views)
            failed = sum(v.status == "failed" for v in views)
            durations = [
                (v.completed_at - v.started_at).total_seconds() * 1000 for v in views if v.completed_at and v.started_at
            ]
            return {
                "avgBilledCostUsd": None,
                "avgCostUsd": None,
                "avgDurationMs": sum(durations) / len(durations) if durations else None,
                "avgSelfReportedCostUsd": 0.0 if runs else None,
                "completed": completed,
                "failed": failed,
                "last7Days": self._runs_by_day(runs, now),
                "successRate": completed / (completed + failed) if completed + failed else None,
                "total": len(runs),
                "unpricedExecutions": sum(v.status in TERMINAL for v in views),
            }

    # ----------------------------------------------------------------- product-surface schedules (§4)

    def list_surface_schedules(self, product_id: str, surface_id: str) -> dict[str, Any]:
        """GET …/schedules: the surface's schedules with ``flowName``, newest first, no pagination."""
        with self._lock:
            self._surface_schedule(product_id, surface_id)
            items = [
                s
                for s in sorted(self._schedules.values(), key=lambda s: -s.seq)
                if s.product_id == product_id and s.doc["productSurfaceId"] == surface_id
            ]
            return {"data": [self._render(s, flow_name=True) for s in items]}

    def create_surface_schedule(self, product_id: str, surface_id: str, body: Any) -> dict[str, Any]:
        """POST …/schedules: flat body; returns the full schedule."""
        updates = self._surface_updates(body, partial=False)
        with self._lock:
            self._surface_schedule(product_id, surface_id)
            updates = self._apply(None, updates, {})
            schedule = self._insert(updates, SimConfig(), None, product_id, surface_id)
            return self._render(schedule)

    def get_surface_schedule(self, product_id: str, surface_id: str, schedule_id: str) -> dict[str, Any]:
        """GET …/schedules/:scheduleId: adds ``flowName`` and ``recentRuns`` (newest first, max 10)."""
        with self._lock:
            schedule = self._surface_schedule(product_id, surface_id, schedule_id)
            assert schedule is not None
            return self._render(schedule, flow_name=True, recent_runs=True)

    def update_surface_schedule(self, product_id: str, surface_id: str, schedule_id: str, body: Any) -> dict[str, Any]:
        """PUT …/schedules/:scheduleId: partial flat body; returns the full schedule."""
        updates = self._surface_updates(body, partial=True)
        with self._lock:
            schedule = self._surface_schedule(product_id, surface_id, schedule_id)
            assert schedule is not None
            schedule.doc.update(self._apply(schedule, updates, {}))
            schedule.doc["updatedAt"] = iso(self.clock.now())
            return self._render(schedule)

    def delete_surface_schedule(self, product_id: str, surface_id: str, schedule_id: str) -> dict[str, Any]:
        """DELETE …/schedules/:scheduleId."""
        with self._lock:
            self._surface_schedule(product_id, surface_id, schedule_id)
            del self._schedules[schedule_id]
        return {"success": True}

    def _surface_toggle(self, product_id: str, surface_id: str, schedule_id: str, enabled: bool) -> dict[str, Any]:
        with self._lock:
            schedule = self._surface_schedule(product_id, surface_id, schedule_id)
            assert schedule is not None
            schedule.doc["enabled"] = enabled
            schedule.doc["updatedAt"] = iso(self.clock.now())
        return {"status": "resumed" if enabled else "paused"}

    def pause_surface_schedule(self, product_id: str, surface_id: str, schedule_id: str) -> dict[str, Any]:
        """POST …/schedules/:scheduleId/pause."""
        return self._surface_toggle(product_id, surface_id, schedule_id, False)

    def resume_surface_schedule(self, product_id: str, surface_id: str, schedule_id: str) -> dict[str, Any]:
        """POST …/schedules/:scheduleId/resume (no entitlement check: not declared for surfaces)."""
        return self._surface_toggle(product_id, surface_id, schedule_id, True)

    def run_surface_schedule_now(self, product_id: str, surface_id: str, schedule_id: str) -> dict[str, Any]:
        """POST …/schedules/:scheduleId/run-now: returns ``{batchExecutionId, recordCount, status}``."""
        with self._lock:
            schedule = self._surface_schedule(product_id, surface_id, schedule_id)
            assert schedule is not None
            run = self._start_run(schedule)
        return {"batchExecutionId": run.batch_id, "recordCount": len(run.records), "status": "queued"}

    # ----------------------------------------------------------------- batches (§7.1)

    def _batch(self, batch_id: str) -> Run:
        run = self._batches.get(batch_id)
        if run is None:
            raise _not_found("Batch execution", batch_id, "id")
        return run

    def get_batch_status(self, batch_id: str) -> dict[str, Any]:
        """GET /v1/batch/status/:id."""
        with self._lock:
            run = self._batch(batch_id)
            view = run.view(self._clock())
            total = len(run.records)
            terminal = view.status in TERMINAL
            return {
                "batchExecutionId": run.batch_id,
                "completedAt": iso(view.completed_at) if view.completed_at else None,
                "executionEngineSummary": "runtime" if view.processed else None,
                "failedRecords": view.failed,
                "flowId": run.flow_id or run.agent_id or "",
                "processedRecords": view.processed,
                "progress": view.processed * 100 // total if total else (100 if terminal else 0),
                "results": None,
                "startedAt": iso(view.started_at or run.created_wall),
                "status": view.status,
                "successCount": view.processed - view.failed,
                "totalRecords": total,
            }

    def cancel_batch(self, batch_id: str) -> dict[str, Any]:
        """POST /v1/batch/cancel/:id: cancels a queued/running batch; 200 ``success: false`` otherwise."""
        with self._lock:
            run = self._batch(batch_id)
            now = self._clock()
            status = run.view(now).status
            if status in TERMINAL:
                return {"message": f"Batch execution is already {status}", "success": False}
            run.cancelled_at = now - run.created_mono
        return {"message": "Batch execution cancelled", "success": True}
