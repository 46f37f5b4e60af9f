"""Reading a Runtype connection: base URL, API key and options, checked before any request."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from runtype_provider.exceptions import RuntypeConfigurationError
from runtype_provider.transport import (
    DEFAULT_RETRY_DELAY,
    DEFAULT_RETRY_LIMIT,
    DEFAULT_RETRY_MAX_DELAY,
    RetryPolicy,
)

DEFAULT_BASE_URL = "https://api.runtype.com"
DEFAULT_DASHBOARD_URL = "https://app.runtype.com"
API_PREFIX = "/v1"
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class ConnectionSettings:
    """What a hook needs from its Airflow connection (plus hook-parameter overrides)."""

    base_url: str
    api_key: str = field(repr=False)
    timeout: float
    retry: RetryPolicy
    dashboard_url: str


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _number(value: Any, name: str, conn_id: str, cast: Callable[[Any], Any], minimum: float) -> Any:
    try:
        number = cast(value)
    except (TypeError, ValueError):
        number = None
    if number is None or number < minimum:
        raise RuntypeConfigurationError(
            f"Runtype connection {conn_id!r}: {name!r} must be a number >= {minimum}, got {value!r}"
        )
    return number


def settings_from_connection(conn: Any, overrides: dict[str, Any]) -> ConnectionSettings:
    """Read base URL, key and options from an Airflow connection; hook parameters win over extras."""
    conn_id = conn.conn_id
    extra = conn.extra_dejson if isinstance(conn.extra_dejson, dict) else {}

    def option(name: str, default: Any) -> Any:
        if overrides.get(name) is not None:
            return overrides[name]
        for key in (name, f"extra__runtype__{name}"):
            if extra.get(key) not in (None, ""):
                return extra[key]
        return default

    host = (conn.host or "").strip() or DEFAULT_BASE_URL
    if "://" not in host:
        host = f"https://{host}"
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RuntypeConfigurationError(f"Runtype connection {conn_id!r}: host must be an https:// URL, got {host!r}")
    try:
        url_port = parts.port
    except ValueError:
        raise RuntypeConfigurationError(f"Runtype connection {conn_id!r}: host has an invalid port: {host!r}") from None
    if conn.port:
        # The Port field is optional; it fills in a URL without a port and must not contradict one that has it.
        if url_port is None:
            host = parts._replace(netloc=f"{parts.netloc}:{conn.port}").geturl()
        elif url_port != conn.port:
            raise RuntypeConfigurationError(
                f"Runtype connection {conn_id!r}: port {conn.port} contradicts the port in host {host!r}"
            )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise RuntypeConfigurationError(
            f"Runtype connection {conn_id!r}: plain http:// is only allowed for loopback hosts; use https://"
        )
    base_url = host.rstrip("/")
    if base_url.endswith(API_PREFIX):
        base_url = base_url[: -len(API_PREFIX)]
    api_key = (conn.password or "").strip()
    if not api_key:
        raise RuntypeConfigurationError(f"Runtype connection {conn_id!r} has no API key (the password field)")
    dashboard = option("dashboard_url", None)
    if not dashboard:
        dashboard = DEFAULT_DASHBOARD_URL if parts.hostname == "api.runtype.com" else base_url
    return ConnectionSettings(
        base_url=base_url,
        api_key=api_key,
        timeout=_number(option("timeout", DEFAULT_TIMEOUT), "timeout", conn_id, float, 0.001),
        retry=RetryPolicy(
            retry_limit=_number(option("retry_limit", DEFAULT_RETRY_LIMIT), "retry_limit", conn_id, int, 0),
            retry_delay=_number(option("retry_delay", DEFAULT_RETRY_DELAY), "retry_delay", conn_id, float, 0),
            retry_max_delay=_number(
                option("retry_max_delay", DEFAULT_RETRY_MAX_DELAY), "retry_max_delay", conn_id, float, 0
            ),
        ),
        dashboard_url=str(dashboard).rstrip("/"),
    )
