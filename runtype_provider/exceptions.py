"""Typed errors of the Runtype provider.

Every error is an ``AirflowException`` so Airflow treats it as a task failure, and every message names
the request (method and path) and the HTTP status. None of them ever carries the API key: the key is
only ever placed in a request header, never in a URL, a message or a repr.
"""

from __future__ import annotations

from typing import Any

from runtype_provider.version_compat import AirflowException, AirflowNotFoundException


def _rebuild(cls: type[Exception], message: str, state: dict[str, Any]) -> Exception:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class RuntypeException(AirflowException):
    """Base class of every error raised by this provider."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only arguments; rebuild from message and attributes so errors pickle.
        return (_rebuild, (type(self), str(self), dict(self.__dict__)))


class RuntypeConfigurationError(RuntypeException, ValueError):
    """A connection or argument is invalid; raised before any request is sent."""


class RuntypeRequestError(RuntypeException):
    """A request failed: ``method`` and ``path`` name it."""

    def __init__(self, message: str, *, method: str, path: str) -> None:
        super().__init__(message)
        self.method = method
        self.path = path


class RuntypeConnectionError(RuntypeRequestError):
    """No complete HTTP response arrived (refused, reset, timed out, dropped).

    ``sent`` is False only when the request provably never reached the server (connection refused,
    DNS failure, connect timeout); a retry of a non-idempotent call is safe only then.
    """

    def __init__(self, *, method: str, path: str, reason: str, sent: bool) -> None:
        super().__init__(f"Runtype API {method} {path} failed: {reason}", method=method, path=path)
        self.reason = reason
        self.sent = sent


class RuntypeTimeoutError(RuntypeConnectionError):
    """An attempt got no complete answer (connect, headers and whole body) within its time budget.

    ``timeout`` is that budget in seconds: the request timeout, or less when the caller's deadline was
    nearer (``by_deadline``). Like any connection error it may have reached the server (``sent``).
    """

    def __init__(self, *, method: str, path: str, timeout: float, by_deadline: bool = False) -> None:
        limit = "the time left before the caller's deadline" if by_deadline else "the request timeout"
        super().__init__(
            method=method,
            path=path,
            reason=f"no complete answer within {timeout:.3g} s ({limit}, connect plus the whole body)",
            sent=True,
        )
        self.timeout = timeout
        self.by_deadline = by_deadline


class RuntypeTlsError(RuntypeRequestError):
    """TLS failed (certificate not trusted or for another host, or the server does not speak TLS).

    A configuration problem, not a transient one: never retried, and not tolerated as a transient poll
    error. ``sent`` is always False: nothing was sent before the handshake failed.
    """

    def __init__(self, *, method: str, path: str, host: str, reason: str, hint: str = "") -> None:
        message = f"Runtype API {method} {path} failed: TLS problem with {host}: {reason}"
        super().__init__(message + (f" ({hint})" if hint else ""), method=method, path=path)
        self.host = host
        self.reason = reason
        self.sent = False


class RuntypeDeadlineError(RuntypeRequestError):
    """The caller's deadline was reached: no attempt starts and no retry sleeps past it.

    ``last_error`` is the text of the failure that would otherwise have been retried (None when no
    attempt was made).
    """

    def __init__(self, *, method: str, path: str, last_error: str | None = None) -> None:
        message = f"Runtype API {method} {path}: the caller's deadline was reached"
        message += f"; giving up after: {last_error}" if last_error else " before the request was sent"
        super().__init__(message, method=method, path=path)
        self.last_error = last_error


class RuntypeResponseError(RuntypeRequestError):
    """A 2xx response whose body is not the JSON shape the endpoint documents, or any body that cannot
    be decoded (invalid UTF-8, not JSON, nested too deeply, corrupt compression, too large)."""


class RuntypeResponseTooLargeError(RuntypeResponseError):
    """A body larger (decompressed) than the connection's cap (extra ``max_response_mb``); not read further."""

    def __init__(self, *, method: str, path: str, limit_bytes: int) -> None:
        super().__init__(
            f"Runtype API {method} {path} returned a body larger than the {limit_bytes / 2**20:g} MiB cap "
            "(connection extra 'max_response_mb'); stopped reading it",
            method=method,
            path=path,
        )
        self.limit_bytes = limit_bytes


class RuntypeApiError(RuntypeRequestError):
    """The API answered with an error status; carries the server's ``error`` message and ``details``."""

    def __init__(
        self,
        *,
        method: str,
        path: str,
        status_code: int,
        error: str | None = None,
        details: list[Any] | None = None,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        self.status_code = status_code  # type: ignore[assignment]  # AirflowException declares HTTPStatus
        self.error = error
        self.details = details or []
        self.body = body
        self.retry_after = retry_after
        super().__init__(self._format(method, path), method=method, path=path)

    def _format(self, method: str, path: str) -> str:
        text = f"Runtype API {method} {path} returned HTTP {self.status_code}"
        if self.error:
            text += f": {self.error}"
        parts = []
        for item in self.details:
            if isinstance(item, dict):
                where = f"{item['path']}: " if item.get("path") else ""
                parts.append(f"{where}{item.get('message', item)}")
            else:
                parts.append(str(item))
        if parts:
            text += " (" + "; ".join(parts) + ")"
        return text


class RuntypeRedirectError(RuntypeApiError):
    """3xx: redirects are never followed (they could replay run-now or send the key elsewhere).

    ``location_host`` is the host the answer pointed to (never its user info, path or query).
    """

    def __init__(self, *, method: str, path: str, status_code: int, location_host: str | None) -> None:
        where = f"a redirect to host {location_host!r}" if location_host else "a redirect without a Location"
        super().__init__(
            method=method,
            path=path,
            status_code=status_code,
            error=f"{where}, which is not followed; set the connection's host to the API's own URL",
        )
        self.location_host = location_host


class RuntypeAuthError(RuntypeApiError):
    """401 (missing, invalid or revoked API key) or 403 (key lacks the scope)."""


class RuntypeNotFoundError(RuntypeApiError, AirflowNotFoundException):
    """404: the schedule, run, batch, product or surface does not exist."""


class RuntypeEntitlementError(RuntypeApiError):
    """402: a plan limit (e.g. ``ACTIVE_SCHEDULE_LIMIT``) or billing (quota, payment); ``code`` and
    ``upgrade_url`` come from the body. The message says so and what to do: retrying does not help."""

    @property
    def code(self) -> str | None:
        code = self.body.get("code") if isinstance(self.body, dict) else None
        return code if isinstance(code, str) else None

    @property
    def upgrade_url(self) -> str | None:
        url = self.body.get("upgradeUrl") if isinstance(self.body, dict) else None
        return url if isinstance(url, str) else None

    def _format(self, method: str, path: str) -> str:
        return super()._format(method, path) + self._plan_hint(
            "a plan limit or billing problem (quota used up, or no valid payment method)",
            "raise the plan or fix billing in the Runtype dashboard, or free what counts against the limit; "
            "retrying will not help until then",
        )

    def _plan_hint(self, what: str, action: str) -> str:
        code = f" (code {quoted(self.code, 100)})" if self.code else ""
        message = self.body.get("message") if isinstance(self.body, dict) else None
        said = f": {printable(message.rstrip('. '), 300)}" if isinstance(message, str) and message != self.error else ""
        where = f" (billing: {quoted(self.upgrade_url, 200)})" if self.upgrade_url else ""
        return f". This is {what}{code}{said}. To go on: {action}{where}"


class RuntypeRateLimitError(RuntypeApiError):
    """429: too many requests; ``retry_after`` is the server's hint in seconds, if any."""


class RuntypeDailyLimitError(RuntypeRateLimitError, RuntypeEntitlementError):
    """429 because the plan's execution allowance is used up (the daily limit, or the free tier's slow-mode hourly
    limit, ``SLOW_MODE_HOURLY_LIMIT_EXCEEDED``), not a burst: waiting seconds does not help. Also a
    :class:`RuntypeEntitlementError` (``code``, ``upgrade_url``); told apart from a burst 429 by
    :func:`runtype_provider.client.decoding.is_daily_limit`."""

    def _format(self, method: str, path: str) -> str:
        when = f" (the server says in {self.retry_after:.0f} s)" if self.retry_after is not None else ""
        return RuntypeApiError._format(self, method, path) + self._plan_hint(
            "the plan's execution limit for the day (or the free tier's hourly slow-mode limit) being reached",
            f"wait until the limit resets{when}, submit fewer records, or raise the plan",
        )


class RuntypeServerError(RuntypeApiError):
    """5xx: the server failed; retried for idempotent requests."""


class RuntypeRunError(RuntypeException):
    """A schedule run ended badly (failed, cancelled, too many failed records, or timed out waiting)."""

    def __init__(self, message: str, *, run: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.run = run or {}


def api_error_class(status_code: int) -> type[RuntypeApiError]:
    """The exception class for an HTTP error status."""
    if status_code in (401, 403):
        return RuntypeAuthError
    if status_code == 404:
        return RuntypeNotFoundError
    if status_code == 402:
        return RuntypeEntitlementError
    if status_code == 429:
        return RuntypeRateLimitError
    if status_code >= 500:
        return RuntypeServerError
    return RuntypeApiError


TRANSIENT_ERRORS: tuple[type[RuntypeException], ...] = (
    RuntypeConnectionError,
    RuntypeServerError,
    RuntypeRateLimitError,
    RuntypeResponseError,
)
"""Poll failures a wait tolerates (up to ``max_poll_errors`` in a row): the next poll may well succeed."""


class RuntypeScheduleLookupError(RuntypeException):
    """A ``schedule_name`` did not name exactly one schedule; ``name`` is the name looked up and
    ``candidates`` the ids of the schedules carrying exactly that name (at most a bounded number)."""

    def __init__(self, message: str, *, name: str, candidates: list[str] | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.candidates = list(candidates or [])


class RuntypeScheduleNotFoundError(RuntypeScheduleLookupError):
    """No schedule is named exactly ``name``."""


class RuntypeAmbiguousScheduleError(RuntypeScheduleLookupError):
    """Several schedules are named exactly ``name`` (their ids in ``candidates``), or too many schedules
    matched the search to tell."""


def printable(text: str, limit: int = 2000) -> str:
    """``text`` from outside (a server, a template) made safe for one log line or message: every character that is
    not printable (line breaks, terminal escapes, bidi controls) spelled as its escape, and at most ``limit``
    characters kept, saying how many were cut. A forged "next log line" or a 5 MB message cannot come through."""
    cut = text[:limit]
    safe = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in cut)
    return safe + (f"… ({len(text) - limit} more characters)" if len(text) > limit else "")


def quoted(text: Any, limit: int = 200) -> str:
    """A value from outside, quoted for a message: ``'…'`` with :func:`printable`'s escaping and bound."""
    return "'" + printable(str(text), limit).replace("'", "\\'") + "'"
