"""Reading an answer: status, headers and bytes become the decoded body or a typed error (sync and async alike).

* :func:`read_response` decodes the body strictly (UTF-8 JSON; an empty body is ``{}``), redacts the API
  key from it once (2xx included, :mod:`runtype_provider.client.redaction`) and maps every other status to its
  typed error, with the server's ``error`` / ``details`` bounded in length. Nothing but the provider's
  typed errors comes out, whatever the bytes: invalid UTF-8, JSON nested deeper than Python can decode,
  numbers too long to convert are all a ``RuntypeResponseError``.
* :func:`parse_retry_after` reads the server's wait hint and never raises.
* :func:`is_daily_limit` tells a 429 for a used-up plan allowance (daily or slow-mode limit) from a burst 429.
* :func:`redirect_error` names a 3xx answer's status and target host (never its user info, path or query).
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from datetime import timezone
from typing import Any
from urllib.parse import urljoin, urlsplit

from runtype_provider.client.redaction import redact, redact_body
from runtype_provider.exceptions import (
    RuntypeDailyLimitError,
    RuntypeRedirectError,
    RuntypeResponseError,
    api_error_class,
)

MAX_ERROR_TEXT = 1000
"""Longest server-supplied text (an ``error``, one detail) kept in an exception message."""
MAX_ERROR_DETAILS = 20


def _seconds(value: Any) -> float | None:
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError, OverflowError):
        return None
    return None if math.isnan(number) else number


def parse_retry_after(headers: Any, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After-Ms``, ``Retry-After`` (seconds or HTTP date) or ``X-RateLimit-Reset``.

    Never raises: an unreadable hint is no hint (None); an absurdly large one stays large (not retried).
    """
    now = time.time() if now is None else now
    value = headers.get("Retry-After-Ms")
    if value is not None and (ms := _seconds(value)) is not None:
        return max(0.0, ms / 1000)
    value = headers.get("Retry-After")
    if value is not None:
        seconds = _seconds(value)
        if seconds is not None:
            return max(0.0, seconds)
        try:
            when = email.utils.parsedate_to_datetime(str(value).strip())
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            return max(0.0, when.timestamp() - now)
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    value = headers.get("X-RateLimit-Reset")
    if value is not None and (reset := _seconds(value)) is not None:
        return max(0.0, reset - now)
    return None


_DAILY_CODE = re.compile(r"DAILY|QUOTA|SLOW_MODE|EXECUTION_LIMIT|USAGE_LIMIT", re.IGNORECASE)
_DAILY_TEXT = re.compile(r"\bdaily\b|\bquota\b|slow[ -]mode|execution limit|per day|\bday's\b", re.IGNORECASE)


def is_daily_limit(payload: Any, headers: Any) -> bool:
    """Whether a 429 says the plan's execution allowance is used up, not that requests came too fast.

    The docs name no daily-limit code; they name ``SLOW_MODE_HOURLY_LIMIT_EXCEEDED`` (the free tier past its daily
    executions) and the ``X-Quota-Remaining`` header. So: a ``code`` (top level or in ``details``) about a daily,
    quota, slow-mode or execution limit; an ``error``/``message`` saying so; or ``X-Quota-Remaining: 0``.
    """
    if str(headers.get("X-Quota-Remaining", "")).strip() == "0":
        return True
    if not isinstance(payload, dict):
        return False
    details = payload.get("details")
    items = (
        [payload, *(d for d in details[:MAX_ERROR_DETAILS] if isinstance(d, dict))]
        if isinstance(details, list)
        else [payload]
    )
    for item in items:
        code, text = item.get("code"), [item.get(k) for k in ("error", "message")]
        if isinstance(code, str) and _DAILY_CODE.search(code[:200]):
            return True
        if any(isinstance(t, str) and _DAILY_TEXT.search(t[:MAX_ERROR_TEXT]) for t in text):
            return True
    return False


def _decode_json(content: bytes, secret: str | None) -> tuple[Any, str | None]:
    """The redacted JSON of ``content`` (an empty body is ``{}``), or None and why it could not be decoded."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, f"invalid UTF-8 at byte {err.start}"
    text = text.removeprefix("\ufeff")
    if not text.strip():
        return {}, None
    try:
        payload = json.loads(text)
    except RecursionError:
        return None, "JSON nested too deeply"
    except ValueError as err:  # JSONDecodeError, or an integer too long to convert
        return None, str(err)[:200]
    return redact_body(text, payload, secret), None


def _short(value: Any, secret: str | None) -> str:
    """A bounded, redacted text for a server-supplied value of any JSON type."""
    if not isinstance(value, str):
        try:
            value = json.dumps(value, ensure_ascii=False)
        except (RecursionError, ValueError, TypeError):
            value = f"<{type(value).__name__}>"
    return redact(value, secret)[:MAX_ERROR_TEXT]


def redirect_error(
    method: str, path: str, status: int, location: str | None, url: str | None, secret: str | None
) -> RuntypeRedirectError:
    """The error for a 3xx answer: its status and the host it points to (never user info, path or query)."""
    host = None
    if location:
        try:
            parts = urlsplit(urljoin(url or "", str(location).strip()))
            host = parts.hostname
            if host and parts.port:
                host = f"{host}:{parts.port}"
        except ValueError:
            host = None
    return RuntypeRedirectError(
        method=method, path=path, status_code=status, location_host=redact(host, secret) if host else None
    )


def read_response(
    method: str,
    path: str,
    status: int,
    headers: Any,
    content: bytes,
    secret: str | None = None,
    *,
    url: str | None = None,
) -> Any:
    """The JSON body of a 2xx answer (the key redacted), or the typed error for any other status.

    Only :class:`~runtype_provider.exceptions.RuntypeException` subclasses come out: a 2xx body that is not
    JSON, not UTF-8 or nested too deeply is a ``RuntypeResponseError``; a 3xx a ``RuntypeRedirectError``.
    """
    if 300 <= status < 400:
        raise redirect_error(method, path, status, headers.get("Location"), url, secret)
    payload, problem = _decode_json(content, secret)
    if 200 <= status < 300:
        if problem is not None:
            raise RuntypeResponseError(
                f"Runtype API {method} {path} returned HTTP {status} with a body that is not JSON ({problem})",
                method=method,
                path=path,
            )
        return payload
    error: str | None = None
    details: list[Any] = []
    if isinstance(payload, dict):  # the error keeps the body (e.g. 402 code/upgradeUrl): redacted above
        raw_error = payload.get("error") or payload.get("message")
        error = _short(raw_error, secret) if raw_error else None
        raw_details = payload.get("details")
        if isinstance(raw_details, list):
            details = [
                {str(k): _short(v, secret) for k, v in d.items()} if isinstance(d, dict) else _short(d, secret)
                for d in raw_details[:MAX_ERROR_DETAILS]
            ]
    elif content:
        # Redact before truncating, so a key cut at the boundary cannot leave a prefix behind.
        error = redact(content.decode("utf-8", "replace"), secret)[:200].strip() or None
    error_class = api_error_class(status)
    if status == 429 and is_daily_limit(payload, headers):
        error_class = RuntypeDailyLimitError
    raise error_class(
        method=method,
        path=path,
        status_code=status,
        error=error,
        details=details,
        body=payload if isinstance(payload, dict) else None,
        retry_after=parse_retry_after(headers) if status in (429, 503) else None,
    )
