"""Fault injection for the local Runtype: what can go wrong, on which operation, how many times.

A fault is armed for one operation name (see :data:`OPERATIONS`) or ``"*"`` and fires on the next
``times`` matching requests (``times=None``: until cleared). Kinds:

* ``rate_limit``: 429 with ``Retry-After: <retry_after>`` (default 1 s) and an ``Error`` body.
* ``server_error``: ``status`` (default 503) with an ``Error`` body.
* ``slow``: wait ``delay`` seconds (default 1.0), then answer normally.
* ``drop``: close the TCP connection without sending any HTTP response.
* ``malformed``: 200 with a truncated JSON body (or ``body`` if given).
* ``daily_limit``: 429 for a used-up daily execution limit (code ``DAILY_LIMIT_EXCEEDED``, ``X-Quota-Remaining: 0``,
  ``Retry-After: <retry_after>``), as ``Settings.daily_record_limit`` answers ``POST /v1/batch/flow``.
* ``payment_required``: 402 for a used-up quota or billing problem (code ``QUOTA_EXCEEDED``, ``upgradeUrl``).

With ``after_effect=True`` the request is processed first (e.g. the run IS created) and only the
response is replaced by the fault; that is how a test proves a client never repeats a non-idempotent
call. For ``slow`` it means: process at once, delay the response (instead of delaying processing).
"""

from __future__ import annotations

import itertools
import math
import threading
from dataclasses import asdict, dataclass
from typing import Any

from runtype_provider.api.spec import ENDPOINTS

OPERATIONS: tuple[str, ...] = tuple(ENDPOINTS)
"""Operation names a fault can target: those of the API table (``runtype_provider.api.spec``)."""
FAULT_KINDS: tuple[str, ...] = (
    "rate_limit", "server_error", "slow", "drop", "malformed", "daily_limit", "payment_required",
)  # fmt: skip
DEFAULT_MALFORMED_BODY = '{"data": [{"id": "sch_trunc'


@dataclass
class Fault:
    """One armed fault. ``remaining`` counts down; ``None`` means unlimited."""

    id: int
    operation: str
    kind: str
    remaining: int | None
    status: int = 503
    retry_after: int = 1
    delay: float = 1.0
    body: str | None = None
    after_effect: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (used by the admin API and ``LocalRuntype.faults``)."""
        return asdict(self)


class FaultRegistry:
    """Thread-safe list of armed faults; the first matching fault with remaining uses wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def arm(
        self,
        operation: str,
        kind: str,
        times: int | None = 1,
        *,
        status: int = 503,
        retry_after: int = 1,
        delay: float = 1.0,
        body: str | None = None,
        after_effect: bool = False,
    ) -> Fault:
        """Arm a fault; raise ``ValueError`` for an unknown operation/kind or a bad option."""
        if operation != "*" and operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; expected '*' or one of {', '.join(OPERATIONS)}")
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
            raise ValueError("times must be a positive integer or None (unlimited)")
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        if isinstance(retry_after, bool) or not isinstance(retry_after, int) or retry_after < 0:
            raise ValueError("retry_after must be a non-negative integer (seconds)")
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay < math.inf:
            raise ValueError("delay must be a non-negative, finite number of seconds")
        if body is not None and not isinstance(body, str):
            raise ValueError("body must be a string")
        fault = Fault(
            id=next(self._ids),
            operation=operation,
            kind=kind,
            remaining=times,
            status=status,
            retry_after=retry_after,
            delay=float(delay),
            body=body,
            after_effect=bool(after_effect),
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, operation: str | None) -> Fault | None:
        """Consume one use of the first fault matching ``operation`` (None: unrouted request, never)."""
        if operation is None:
            return None
        with self._lock:
            for fault in self._faults:
                if fault.operation in (operation, "*"):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        """The armed faults, in matching order."""
        with self._lock:
            return [fault.to_dict() for fault in self._faults]
