"""What a test can set on the local Runtype, and the checks that refuse impossible values before anything changes.

* :class:`Settings`: server-wide (keys, run timing, failure share, latency, cron runs);
* :class:`SimConfig`: one schedule's simulation knobs (``None``: the server setting);
* :class:`SeedSpec`: one schedule inserted directly by a test (``State.seed_schedule``).

Every refusal is an :class:`InvalidSetting` (a ``ValueError``) naming the field, which the admin routes answer
as 400 with that field as the ``path``. Standard library and ``hosts`` (to check ``allowed_hosts``) only.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from runtype_provider.testing.fake.hosts import MAX_ALLOWED_HOSTS, host_name_error

DEFAULT_API_KEY = "rt_test_local_demo_key"
MAX_RECORDS = 100_000
"""Cap on record counts and record-id lists (settings, seeds, schedule knobs, API ``recordIds``)."""
MAX_SECONDS = 1_000_000_000.0
"""Cap on simulated durations (larger values would overflow the run timestamps)."""
MAX_COST_PER_RECORD = 1000.0
"""Cap on ``Settings.cost_per_record_usd``."""
MAX_LATENCY = 60.0
"""Cap on ``Settings.latency_seconds`` (a client's request timeout is 30 s by default)."""
SECRET_SETTINGS = frozenset({"api_key", "read_only_api_key", "admin_token"})
"""Settings the admin routes never return."""
STARTUP_SETTINGS = frozenset({"allowed_hosts"})
"""Settings fixed when the server starts (``State.configure`` refuses to change them)."""
DEFAULT_MAX_LOGGED_REQUESTS = 10_000
MAX_LOGGED_REQUESTS = 1_000_000
RUN_OUTCOMES = ("completed", "failed")
DEFAULT_FLOW_ID = "flow_local"
DEFAULT_CRON = "0 8 * * *"


class AdminTokenWarning(UserWarning):
    """An explicitly configured admin token that is also an API key (anyone with the key can then reconfigure)."""


class InvalidSetting(ValueError):
    """A refused setting, seed argument or schedule knob; ``field`` names it (the admin routes' 400 ``path``)."""

    def __init__(self, field: str, message: str, code: str = "INVALID_VALUE") -> None:
        super().__init__(f"{field} {message}")
        self.field = field
        self.code = code


def check_number(field: str, value: Any, *, optional: bool = False, high: float = MAX_SECONDS) -> None:
    """A real number (not a bool), finite, between 0 and ``high``."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidSetting(field, f"must be a number, got {value!r}", "INVALID_TYPE")
    if not (math.isfinite(value) and 0 <= value <= high):
        raise InvalidSetting(field, f"must be a finite number between 0 and {high:g}, got {value!r}", "INVALID_RANGE")


def check_share(field: str, share: Any, *, optional: bool = False) -> None:
    """A share of records: a number from 0 to 1."""
    check_number(field, share, optional=optional, high=1.0)


def check_count(field: str, value: Any, *, optional: bool = False, high: int | None = MAX_RECORDS) -> None:
    """An int (not a bool) >= 0 and <= ``high``."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSetting(field, f"must be an integer, got {value!r}", "INVALID_TYPE")
    if value < 0:
        raise InvalidSetting(field, f"must be >= 0, got {value}", "INVALID_RANGE")
    if high is not None and value > high:
        raise InvalidSetting(field, f"must be at most {high}, got {value}", "TOO_MANY_RECORDS")


def check_text(field: str, value: Any, *, optional: bool = False, key: bool = False) -> None:
    """A string (``key``: non-empty, no surrounding whitespace, as a Bearer credential must be)."""
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise InvalidSetting(field, f"must be a string, got {type(value).__name__}", "INVALID_TYPE")
    if key and (not value or value != value.strip()):
        raise InvalidSetting(field, "must be a non-empty string without surrounding whitespace")


def check_ids(field: str, value: Any, *, optional: bool = False) -> None:
    """A list/tuple/set of strings with at most ``MAX_RECORDS`` items."""
    if value is None and optional:
        return
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Collection):
        raise InvalidSetting(field, f"must be a list of strings, got {type(value).__name__}", "INVALID_TYPE")
    if len(value) > MAX_RECORDS:
        raise InvalidSetting(field, f"must have at most {MAX_RECORDS} items, got {len(value)}", "TOO_MANY_RECORDS")
    if not all(isinstance(item, str) for item in value):
        raise InvalidSetting(field, "must be a list of strings", "INVALID_TYPE")


@dataclass
class Settings:
    """Server-wide configuration; simulation fields can be changed at runtime (``State.configure``)."""

    api_key: str = DEFAULT_API_KEY
    read_only_api_key: str | None = None
    admin_token: str | None = None
    """Bearer token of the ``/_local/`` admin routes; ``None``: a random token made by the ``Store`` (``State``),
    never an API key. Setting it to an API key works but warns (:class:`AdminTokenWarning`)."""
    allowed_hosts: tuple[str, ...] = ()
    """``Host`` names answered besides the loopback names (``hosts``); fixed at startup, no wildcards."""
    max_logged_requests: int = DEFAULT_MAX_LOGGED_REQUESTS
    """Entries the request log keeps (the oldest go first and are counted as dropped)."""
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
    """Start runs at the schedules' own cron times (``store.start_due_runs``); off: only run-now starts runs."""
    cost_per_record_usd: float = 0.002
    """What each processed record of a batch execution costs (``GET /v1/batch/:id/cost`` sums them)."""
    billed_cost_share: float = 0.8
    """Share of a cost that is ``billedCostUsd`` (Runtype-funded, before margin); 0-1."""
    daily_record_limit: int | None = None
    """Records ``POST /v1/batch/flow`` accepts per UTC day (simulated clock); past it: 429 daily limit. None: no
    limit. Schedule runs do not count."""
    failing_record_ids: tuple[str, ...] = ()
    """Record ids (or inline record names) that fail in every batch submitted with ``POST /v1/batch/flow``, besides
    ``failure_share`` of its records."""
    recovering_record_ids: tuple[str, ...] = ()
    """Record ids (or inline record names) that fail the first time a batch runs them on a flow (or agent) and
    succeed when submitted to it again: a transient failure, so a retry of the failed records recovers them."""

    def validate(self) -> None:
        """Raise :class:`InvalidSetting` (a ``ValueError``) for a wrong type or an impossible value."""
        check_text("api_key", self.api_key, key=True)
        check_text("read_only_api_key", self.read_only_api_key, optional=True, key=True)
        check_text("admin_token", self.admin_token, optional=True, key=True)
        self._check_allowed_hosts()
        check_count("max_logged_requests", self.max_logged_requests, high=MAX_LOGGED_REQUESTS)
        check_number("queued_seconds", self.queued_seconds)
        check_number("running_seconds", self.running_seconds)
        check_share("failure_share", self.failure_share)
        check_count("default_record_count", self.default_record_count)
        check_count("max_active_schedules", self.max_active_schedules, optional=True, high=None)
        check_number("latency_seconds", self.latency_seconds, high=MAX_LATENCY)
        check_number("cost_per_record_usd", self.cost_per_record_usd, high=MAX_COST_PER_RECORD)
        check_share("billed_cost_share", self.billed_cost_share)
        check_count("daily_record_limit", self.daily_record_limit, optional=True, high=None)
        check_ids("failing_record_ids", self.failing_record_ids)
        check_ids("recovering_record_ids", self.recovering_record_ids)
        if not isinstance(self.cron_runs, bool):
            raise InvalidSetting("cron_runs", f"must be a boolean, got {self.cron_runs!r}", "INVALID_TYPE")
        for name in ("record_error", "user_id", "organization_id"):
            check_text(name, getattr(self, name))

    def _check_allowed_hosts(self) -> None:
        hosts = self.allowed_hosts
        if isinstance(hosts, str | bytes | Mapping) or not isinstance(hosts, Collection):
            raise InvalidSetting("allowed_hosts", f"must be a list of host names, got {hosts!r}", "INVALID_TYPE")
        if len(hosts) > MAX_ALLOWED_HOSTS:
            raise InvalidSetting("allowed_hosts", f"must have at most {MAX_ALLOWED_HOSTS} names", "TOO_MANY_RECORDS")
        for name in hosts:
            error = host_name_error(name)
            if error:
                raise InvalidSetting("allowed_hosts", error)

    def public(self) -> dict[str, Any]:
        """The settings without the secrets (:data:`SECRET_SETTINGS`): what the admin routes return."""
        return {key: value for key, value in asdict(self).items() if key not in SECRET_SETTINGS}


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
        check_count("record_count", self.record_count, optional=True)
        if self.failing_record_ids is not None and not isinstance(self.failing_record_ids, frozenset):
            raise InvalidSetting("failing_record_ids", "must be a frozenset of strings", "INVALID_TYPE")
        check_ids("failing_record_ids", self.failing_record_ids, optional=True)
        check_share("failure_share", self.failure_share, optional=True)
        check_text("error", self.error, optional=True)
        check_text("flow_name", self.flow_name, optional=True)
        check_number("queued_seconds", self.queued_seconds, optional=True)
        check_number("running_seconds", self.running_seconds, optional=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (``failing_record_ids`` as a sorted list): what ``configure_schedule`` returns."""
        result = asdict(self)
        if self.failing_record_ids is not None:
            result["failing_record_ids"] = sorted(self.failing_record_ids)
        return result


@dataclass(frozen=True)
class SeedSpec:
    """One schedule for ``State.seed_schedule`` (no auth, no entitlement check).

    Without ``flow_id``/``agent_id`` the schedule targets flow ``flow_local``. Without ``cron``/``run_at`` it is
    recurring at ``0 8 * * *``; with ``run_at`` and no ``cron`` it is one-time. ``product_id`` + ``surface_id``
    make it a product-surface schedule (the surface is created if missing). ``record_count``,
    ``failing_record_ids``, ``failure_share``, ``run_outcome``, ``error``, ``flow_name``, ``queued_seconds`` and
    ``running_seconds`` are its simulation knobs (:class:`SimConfig`); the other fields are its API fields.
    """

    schedule_id: str | None = None
    name: str | None = None
    flow_id: str | None = None
    agent_id: str | None = None
    record_ids: list[str] | None = None
    record_type: str | None = None
    record_count: int | None = None
    failing_record_ids: Iterable[str] | None = None
    failure_share: float | None = None
    run_outcome: str = "completed"
    error: str | None = None
    enabled: bool = True
    cron: str | None = None
    timezone: str = "UTC"
    run_at: str | None = None
    execution_options: dict[str, Any] | None = None
    inputs: dict[str, Any] | None = None
    messages: Any = None
    record_filter: dict[str, Any] | None = None
    product_id: str | None = None
    surface_id: str | None = None
    flow_name: str | None = None
    queued_seconds: float | None = None
    running_seconds: float | None = None

    def sim_config(self) -> SimConfig:
        """The validated simulation knobs; raises :class:`InvalidSetting` for the first bad argument."""
        if (self.product_id is None) != (self.surface_id is None):
            raise ValueError("product_id and surface_id go together")
        for field_name in ("schedule_id", "product_id", "surface_id"):
            check_text(field_name, getattr(self, field_name), optional=True)
        check_ids("record_ids", self.record_ids, optional=True)
        check_ids("failing_record_ids", self.failing_record_ids, optional=True)
        failing = self.failing_record_ids
        sim = SimConfig(
            record_count=self.record_count,
            failing_record_ids=frozenset(failing) if failing is not None else None,
            failure_share=self.failure_share,
            run_outcome=self.run_outcome,
            error=self.error,
            flow_name=self.flow_name,
            queued_seconds=self.queued_seconds,
            running_seconds=self.running_seconds,
        )
        sim.validate()
        return sim

    def schedule_fields(self) -> dict[str, Any]:
        """The schedule's API fields (camelCase), with the defaults above applied; not yet validated."""
        no_target = self.flow_id is None and self.agent_id is None
        return {
            "agentId": self.agent_id,
            "cron": self.cron if self.cron or self.run_at else DEFAULT_CRON,
            "enabled": self.enabled,
            "executionOptions": self.execution_options or {},
            "flowId": DEFAULT_FLOW_ID if no_target else self.flow_id,
            "inputs": self.inputs,
            "messages": self.messages,
            "name": self.name,
            "recordFilter": self.record_filter,
            "recordIds": list(self.record_ids) if self.record_ids is not None else None,
            "recordType": self.record_type,
            "runAt": self.run_at,
            "timezone": self.timezone,
            "triggerType": "one_time" if self.run_at and not self.cron else "recurring",
        }
