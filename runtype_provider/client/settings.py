"""Reading a Runtype connection: base URL, API key and options, checked before any request.

Every problem is a :class:`~runtype_provider.exceptions.RuntypeConfigurationError` that names the field
and says what to write; none echoes the API key or any credential (user info in a URL is never shown,
and the whole message is redacted against the key).
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field
from typing import Any, NoReturn, cast
from urllib.parse import SplitResult, urlsplit

from runtype_provider.client.limits import MIB
from runtype_provider.client.options import OPTIONS, OptionError
from runtype_provider.client.redaction import redact
from runtype_provider.client.retry import RetryPolicy
from runtype_provider.exceptions import RuntypeConfigurationError

DEFAULT_BASE_URL = "https://api.runtype.com"
DEFAULT_DASHBOARD_URL = "https://app.runtype.com"
API_PREFIX = "/v1"
# Kept for importers; the table in runtype_provider.client.options is the source.
DEFAULT_TIMEOUT: float = OPTIONS["timeout"].default
MAX_RETRY_LIMIT = int(cast(float, OPTIONS["retry_limit"].maximum))
MIN_RESPONSE_MB = cast(float, OPTIONS["max_response_mb"].minimum)
MAX_RESPONSE_MB = cast(float, OPTIONS["max_response_mb"].maximum)
HOST_EXAMPLE = "e.g. https://api.runtype.com (http:// only for a loopback host, e.g. http://127.0.0.1:8765)"


@dataclass(frozen=True)
class ConnectionSettings:
    """What a hook needs from its Airflow connection (plus hook-parameter overrides)."""

    base_url: str
    api_key: str = field(repr=False)
    timeout: float
    retry: RetryPolicy
    dashboard_url: str
    max_response_bytes: int = int(OPTIONS["max_response_mb"].default * MIB)
    max_concurrent_pages: int = OPTIONS["max_concurrent_pages"].default
    """Result pages fetched at the same time (extra ``max_concurrent_pages``)."""
    shared_run_list_polls: bool = OPTIONS["shared_run_list_polls"].default
    """Deferred waits on one schedule share its run-list reads (extra ``shared_run_list_polls``)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _unprintable(text: str) -> bool:
    return any(c.isspace() or not c.isprintable() for c in text)


def _key_problem(key: str) -> str | None:
    """What is wrong with an API key (keys are printable ASCII without spaces), never the key itself."""
    for position, char in enumerate(key, start=1):
        if char in "\r\n":
            kind = "a line break"
        elif char.isspace():
            kind = "whitespace"
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            kind = "a control character"
        elif ord(char) > 0x7E:
            kind = "a non-ASCII character"
        else:
            continue
        return f"{kind} (character {position})"
    return None


def describe_host(conn: Any) -> str:
    """The connection's API host for messages: ``host[:port]`` only (no user info, path or query)."""
    raw = conn.host.strip() if isinstance(conn.host, str) else ""
    raw = raw or DEFAULT_BASE_URL
    try:
        parts = urlsplit(raw if "://" in raw else f"https://{raw}")
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or _unprintable(host):
        return "an unreadable host"
    text = f"{host}:{port}" if port else host
    secret = conn.password if isinstance(conn.password, str) else None
    return redact(redact(text, secret), secret.strip() if secret else None)


def _parse_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


class _Reader:
    """Reads one connection, raising every problem as a redacted, field-naming configuration error."""

    def __init__(self, conn: Any, overrides: dict[str, Any], where: str) -> None:
        self.conn = conn
        self.overrides = overrides
        self.where = where
        extra = conn.extra_dejson
        self.extra = extra if isinstance(extra, dict) else {}
        password = conn.password
        self.secret = password if isinstance(password, str) else ("" if password is None else str(password))

    def fail(self, message: str) -> NoReturn:
        text = redact(f"{self.where}: {message}", self.secret)
        raise RuntypeConfigurationError(redact(text, self.secret.strip()))

    def value(self, name: str) -> Any:
        """Option ``name`` (see :data:`~runtype_provider.client.options.OPTIONS`): the hook parameter, else the
        extra (also under the old form's ``extra__runtype__`` prefix), checked against the table; unset (None or
        empty), its default."""
        option = OPTIONS[name]
        value = self.overrides.get(name)
        keys = (name, f"extra__runtype__{name}")
        if value is None:
            value = next((self.extra[key] for key in keys if self.extra.get(key) not in (None, "")), None)
        if value is None:
            return option.default
        try:
            return option.check(value)
        except OptionError as err:
            self.fail(str(err))

    def api_key(self) -> str:
        key = self.secret.strip()
        if not key:
            self.fail("no API key: fill in the password field ('API Key')")
        problem = _key_problem(key)
        if problem:
            self.fail(
                f"the API key (the password field, 'API Key') contains {problem}; keys are printable ASCII "
                "without spaces: paste the key again"
            )
        return key

    def _url(self, text: str, what: str) -> SplitResult:
        if _unprintable(text):
            self.fail(f"{what} contains whitespace or control characters; write it as {HOST_EXAMPLE}")
        try:
            parts = urlsplit(text)
        except ValueError:
            self.fail(f"{what} is not a valid URL; write it as {HOST_EXAMPLE}")
        try:
            parts.port  # noqa: B018  (raises ValueError for a port that is not 0-65535)
        except ValueError:
            self.fail(f"{what} has an invalid port (1-65535); write it as {HOST_EXAMPLE}")
        if "@" in parts.netloc:
            self.fail(f"{what} must not contain a user name or password ('user:password@'); the key goes in 'API Key'")
        if parts.scheme not in ("http", "https"):
            self.fail(f"{what} must be an https:// URL (got scheme {parts.scheme!r}); write it as {HOST_EXAMPLE}")
        if not parts.hostname:
            self.fail(f"{what} has no host name; write it as {HOST_EXAMPLE}")
        if parts.port == 0:
            self.fail(f"{what} has an invalid port 0 (1-65535)")
        if "?" in text or "#" in text:
            self.fail(f"{what} must not contain a query ('?…') or a fragment ('#…'); write it as {HOST_EXAMPLE}")
        return parts

    def port(self) -> int | None:
        """The optional Port field (None or 0 means unset: Airflow's Test button sends 0 for "no port")."""
        value = self.conn.port
        if value in (None, 0, ""):
            return None
        number = _parse_number(value)
        if number is None or not number.is_integer() or not 1 <= number <= 65535:
            self.fail(f"port must be a whole number from 1 to 65535, got {value!r}")
        return int(number)

    def base_url(self) -> tuple[str, SplitResult]:
        host = self.conn.host.strip() if isinstance(self.conn.host, str) else ""
        host = host or DEFAULT_BASE_URL
        url = host if "://" in host else f"https://{host}"
        parts = self._url(url, "host")
        port = self.port()
        if port:
            # The Port field is optional; it fills in a URL without a port and must not contradict one that has it.
            if parts.port is None:
                url = parts._replace(netloc=f"{parts.netloc}:{port}").geturl()
            elif parts.port != port:
                self.fail(f"port {port} contradicts the port in host {parts.netloc!r}")
        if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
            self.fail("plain http:// is only allowed for loopback hosts; use https://")
        base_url = url.rstrip("/")
        if base_url.endswith(API_PREFIX):
            base_url = base_url[: -len(API_PREFIX)]
        return base_url, parts

    def dashboard_url(self, base_url: str, api_host: str | None) -> str:
        value = self.value("dashboard_url")
        if value is None:
            return DEFAULT_DASHBOARD_URL if api_host == "api.runtype.com" else base_url
        self._url(value, "'dashboard_url'")
        return str(value).rstrip("/")


def settings_from_connection(conn: Any, overrides: dict[str, Any], *, label: str | None = None) -> ConnectionSettings:
    """Read base URL, key and options from an Airflow connection; hook parameters win over extras.

    Messages start with ``label`` (default ``Runtype connection '<conn_id>'``); the connection test passes
    one naming the host instead, since Airflow tests a temporary connection with a random id.
    """
    reader = _Reader(conn, overrides, label or f"Runtype connection {conn.conn_id!r}")
    base_url, parts = reader.base_url()
    api_key = reader.api_key()
    dashboard_url = reader.dashboard_url(base_url, parts.hostname)
    retry = RetryPolicy(
        retry_limit=reader.value("retry_limit"),
        retry_delay=reader.value("retry_delay"),
        retry_max_delay=reader.value("retry_max_delay"),
    )
    return ConnectionSettings(
        base_url=base_url,
        api_key=api_key,
        timeout=reader.value("timeout"),
        retry=retry,
        dashboard_url=dashboard_url,
        max_response_bytes=int(reader.value("max_response_mb") * MIB),
        max_concurrent_pages=reader.value("max_concurrent_pages"),
        shared_run_list_polls=reader.value("shared_run_list_polls"),
    )
