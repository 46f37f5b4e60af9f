"""Which failed requests are retried and how long to wait: one policy for the sync and async transports.

Connection errors, timeouts, 5xx and 429 (honouring ``Retry-After``) are retried with exponential backoff and
jitter, bounded. Non-idempotent requests (run-now, create) are retried only when they provably never reached the
server, or on 429 (the server refused them), so a retry never starts a second run. A server asking for a longer
wait than :data:`MAX_RETRY_AFTER` ends the call at once; an optional absolute deadline bounds every sleep.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runtype_provider.exceptions import (
    RuntypeApiError,
    RuntypeConnectionError,
    RuntypeDailyLimitError,
    RuntypeDeadlineError,
    RuntypeRateLimitError,
    RuntypeServerError,
)

if TYPE_CHECKING:
    import tenacity

    from runtype_provider.client.request import ApiRequest

DEFAULT_RETRY_LIMIT = 3
DEFAULT_RETRY_DELAY = 1.0
DEFAULT_RETRY_MAX_DELAY = 60.0
MAX_RETRY_AFTER = 300.0
"""Longest server-requested wait (``Retry-After``) honoured; a longer one ends the call at once."""

log = logging.getLogger(__name__)


def _error_of(state: Any) -> BaseException | None:
    return state.outcome.exception() if state.outcome else None


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry and how long to wait; shared by the sync and async executors.

    ``retry_limit`` is the number of retries after the first attempt.
    """

    retry_limit: int = DEFAULT_RETRY_LIMIT
    retry_delay: float = DEFAULT_RETRY_DELAY
    retry_max_delay: float = DEFAULT_RETRY_MAX_DELAY

    def should_retry(self, error: BaseException, idempotent: bool) -> bool:
        if isinstance(error, RuntypeConnectionError):
            return idempotent or not error.sent
        hint = getattr(error, "retry_after", None)
        if (
            isinstance(error, (RuntypeRateLimitError, RuntypeServerError))
            and hint is not None
            and hint > MAX_RETRY_AFTER
        ):
            return False  # the server asks us to come back later than we are willing to wait
        if isinstance(error, RuntypeDailyLimitError):
            return False  # a quota, not a burst: retrying within seconds cannot succeed
        if isinstance(error, RuntypeRateLimitError):
            return True  # the server refused the request: nothing was started, so even run-now may be retried
        if isinstance(error, RuntypeServerError) or (isinstance(error, RuntypeApiError) and error.status_code == 408):
            return idempotent
        return False

    def wait_seconds(self, attempt: int, error: BaseException | None) -> float:
        """Seconds before retry number ``attempt`` (1-based): the server's hint, else backoff with jitter."""
        hint = getattr(error, "retry_after", None)
        if hint is not None:
            return max(0.0, min(float(hint), MAX_RETRY_AFTER))
        ceiling = min(self.retry_max_delay, self.retry_delay * (2 ** (attempt - 1)))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def tenacity_kwargs(
        self,
        request: ApiRequest[Any],
        sleep: Callable[[float], Any],
        *,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> dict[str, Any]:
        """Arguments for ``tenacity.Retrying`` / ``AsyncRetrying``.

        ``deadline`` (a ``clock()`` value, by default ``time.monotonic()``) ends the retries: a sleep that
        would reach it is not taken and :class:`~runtype_provider.exceptions.RuntypeDeadlineError` is
        raised instead (naming the last failure).
        """
        import tenacity

        waits: dict[int, float] = {}  # computed once per attempt, whether tenacity asks stop or wait first
        stopped_by_deadline: list[bool] = []

        def upcoming(state: tenacity.RetryCallState) -> float:
            if state.attempt_number not in waits:
                waits[state.attempt_number] = self.wait_seconds(state.attempt_number, _error_of(state))
            return waits[state.attempt_number]

        def stop(state: tenacity.RetryCallState) -> bool:
            if state.attempt_number > self.retry_limit:
                return True
            if deadline is not None and clock() + upcoming(state) >= deadline:
                stopped_by_deadline.append(True)
                return True
            return False

        def give_up(state: tenacity.RetryCallState) -> Any:
            error = _error_of(state)
            if error is None:  # pragma: no cover - tenacity only stops after a failure here
                return state.outcome.result() if state.outcome else None
            if stopped_by_deadline:
                raise RuntypeDeadlineError(method=request.method, path=request.path, last_error=str(error)) from error
            raise error

        def before_sleep(state: tenacity.RetryCallState) -> None:
            log.warning(
                "%s; retry %d/%d in %.1f s",
                _error_of(state),
                state.attempt_number,
                self.retry_limit,
                state.next_action.sleep if state.next_action else 0.0,
            )

        return {
            "stop": stop,
            "wait": upcoming,
            "retry": tenacity.retry_if_exception(lambda e: self.should_retry(e, request.idempotent)),
            "sleep": sleep,
            "before_sleep": before_sleep,
            "retry_error_callback": give_up,
        }
