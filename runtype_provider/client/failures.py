"""Classifying a failed attempt: whether the request never left (safe to retry even when not idempotent), which
``requests`` error a urllib3 error stands for, and the TLS error behind any wrapper. Used by both transports."""

from __future__ import annotations

import ssl
from typing import Any

from runtype_provider.client.http11 import ConnectFailedError


def requests_never_sent(error: Exception) -> bool:
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(error, requests.exceptions.ConnectionError) and error.args:
        reason = getattr(error.args[0], "reason", error.args[0])
        return isinstance(reason, NewConnectionError)
    return False


def as_requests_error(error: Exception) -> Exception:
    """The exception ``requests``' adapter raises for this urllib3 error (same mapping as ``HTTPAdapter.send``)."""
    import requests.exceptions as rex
    from urllib3.exceptions import (
        ConnectTimeoutError,
        MaxRetryError,
        NewConnectionError,
        ProxyError,
        ReadTimeoutError,
        SSLError,
    )

    if isinstance(error, MaxRetryError):
        reason = error.reason
        if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
            return rex.ConnectTimeout(error)
        if isinstance(reason, ProxyError):
            return rex.ProxyError(error)
        if isinstance(reason, SSLError):
            return rex.SSLError(error)
        return rex.ConnectionError(error)
    if isinstance(error, ReadTimeoutError):
        return rex.ReadTimeout(error)
    if isinstance(error, SSLError):
        return rex.SSLError(error)
    return rex.ConnectionError(error)


def httpx_never_sent(error: Exception) -> bool:
    import httpx

    return isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


def tls_failure(error: BaseException) -> str | None:
    """The TLS error behind ``error`` (causes, contexts, urllib3 reasons and args searched), if any.

    An EOF during the handshake (a dropped connection) is not counted: it is a transient network error.
    """
    pending: list[Any] = [error]
    seen: set[int] = set()
    wrapped = False
    while pending and len(seen) < 32:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            return None
        if isinstance(current, ssl.SSLError):
            return str(current)
        wrapped = wrapped or type(current).__name__ == "SSLError"  # requests' / urllib3's wrappers
        pending.extend([current.__cause__, current.__context__, getattr(current, "reason", None), *current.args])
    return str(error) if wrapped else None


def lean_never_sent(error: Exception) -> bool:
    """An :class:`~runtype_provider.client.http11.Http11Client` failure before the request was written."""
    return isinstance(error, ConnectFailedError)
