"""``LocalRuntype``: the local Runtype served by uvicorn on a loopback port in a background thread."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import threading
import time
from types import TracebackType
from typing import Any
from urllib.parse import quote

import uvicorn

from runtype_provider.testing.fake.app import RuntypeApp, create_app
from runtype_provider.testing.fake.handlers import State
from runtype_provider.testing.fake.settings import DEFAULT_API_KEY, SeedSpec, Settings
from runtype_provider.testing.fake.store import advance

# Captured at import: tests often monkeypatch ``asyncio.sleep`` process-wide, and the server thread
# must keep its own timing regardless.
_sleep = asyncio.sleep


class _FastStopServer(uvicorn.Server):
    """A ``uvicorn.Server`` that stops within milliseconds instead of ~0.2 s (one server per test).

    ``main_loop`` ticks every 5 ms instead of 100 ms, and ``shutdown`` drains connections with 5 ms
    polls instead of fixed 100 ms sleeps; both use the sleep captured above.
    """

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            await _sleep(0.005)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.config.timeout_graceful_shutdown or 0)
        while (self.server_state.connections or self.server_state.tasks) and loop.time() < deadline:
            await _sleep(0.005)
        for task in self.server_state.tasks:
            task.cancel()
        await self.lifespan.shutdown()


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (the only hosts the fake may bind)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind and listen on ``host:port`` (``port=0``: a free port); refuses non-loopback hosts."""
    if not is_loopback(host):
        raise ValueError(f"refusing to bind non-loopback host {host!r}: the local Runtype has no real security")
    host = "127.0.0.1" if host == "localhost" else host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def format_url(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class LocalRuntype:
    """A started-on-demand local Runtype for tests, demos and benchmarks.

    Use as a context manager (``with LocalRuntype() as rt: ...``) or call :meth:`start`/:meth:`stop`.
    Simulation settings (``queued_seconds``, ``running_seconds``, ``failure_share``,
    ``default_record_count``, ``max_active_schedules``, ``read_only_api_key``, ``admin_token``, ...) are
    :class:`~runtype_provider.testing.fake.settings.Settings` fields passed as keyword arguments.

    The Python helpers below change the state directly. Another process drives the server through the
    ``/_local/`` admin routes, which need :attr:`admin_headers` (``Authorization: Bearer <admin token>``;
    the admin token is ``admin_token`` if given, else a random one made for this instance, never the API key);
    only ``GET /_local/health`` is open. Requests must name the server by a loopback ``Host`` (``localhost``,
    127.0.0.0/8, ``[::1]``) or one of ``allowed_hosts``; others get 421.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = DEFAULT_API_KEY,
        startup_timeout: float = 10.0,
        http: str = "auto",
        **settings: Any,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(f"refusing to bind non-loopback host {host!r}")
        self.state = State(Settings(api_key=api_key, **settings))
        self.app: RuntypeApp = create_app(self.state)
        self._host, self._port = host, port
        self._startup_timeout = startup_timeout
        self._http = http
        self._server: _FastStopServer | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._url: str | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> LocalRuntype:
        """Bind, start uvicorn in a daemon thread and return once it accepts connections."""
        if self._thread is not None:
            raise RuntimeError("LocalRuntype is already started")
        self._socket = bind_socket(self._host, self._port)
        self._url = format_url(self._socket)
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            http=self._http,
            proxy_headers=False,
            timeout_graceful_shutdown=2,
        )
        self._server = _FastStopServer(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name=f"local-runtype-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("local Runtype failed to start")
            time.sleep(0.005)
        with socket.create_connection(self._socket.getsockname()[:2], timeout=self._startup_timeout):
            pass
        return self

    def stop(self) -> None:
        """Stop the server and wait for its thread (idempotent)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> LocalRuntype:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True between a successful :meth:`start` and :meth:`stop`."""
        return self._thread is not None and self._thread.is_alive()

    # ---------------------------------------------------------------- addresses and credentials

    @property
    def url(self) -> str:
        """Base URL without ``/v1``, e.g. ``http://127.0.0.1:54321`` (only while started)."""
        if self._url is None:
            raise RuntimeError("LocalRuntype is not started")
        return self._url

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return int(self.url.rsplit(":", 1)[1])

    @property
    def api_key(self) -> str:
        """The full-access API key (send it as ``Authorization: Bearer <key>``)."""
        return self.state.settings.api_key

    @property
    def admin_token(self) -> str:
        """The Bearer token of the ``/_local/`` admin routes: ``admin_token`` if set, else a random token made for
        this instance (kept across :meth:`reset`; never the API key)."""
        return self.state.admin_token

    @property
    def admin_headers(self) -> dict[str, str]:
        """``{"Authorization": "Bearer <admin token>"}`` for requests to the ``/_local/`` admin routes."""
        return {"Authorization": f"Bearer {self.admin_token}"}

    def airflow_connection_json(self, conn_type: str = "runtype") -> str:
        """JSON for ``AIRFLOW_CONN_RUNTYPE_DEFAULT``: ``{"conn_type", "host": url, "password": key}``."""
        return json.dumps({"conn_type": conn_type, "host": self.url, "password": self.api_key})

    def airflow_connection_uri(self, conn_type: str = "runtype") -> str:
        """Airflow URI form ``runtype://http://:KEY@127.0.0.1:PORT``.

        Airflow parses it to ``host="http://127.0.0.1"``, ``port=PORT``, ``password=KEY`` (its URI
        format cannot carry the port inside ``host``); the JSON form keeps the full URL in ``host``.
        """
        scheme, rest = self.url.split("://", 1)
        return f"{conn_type}://{scheme}://:{quote(self.api_key, safe='')}@{rest}"

    # ---------------------------------------------------------------- state control

    def seed_schedule(self, spec: SeedSpec | None = None, /, **spec_fields: Any) -> dict[str, Any]:
        """Insert a schedule: a :class:`SeedSpec` or its fields as keywords (see :meth:`State.seed_schedule`)."""
        return self.state.seed_schedule(spec, **spec_fields)

    def configure_schedule(self, schedule_id: str, **changes: Any) -> dict[str, Any]:
        """Change a schedule's simulation knobs (failing_record_ids, failure_share, run_outcome, ...)."""
        return self.state.configure_schedule(schedule_id, **changes)

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move the server's clock forward: runs progress, and with ``cron_runs=True`` its cron starts runs
        (``store.advance``; ``POST /_local/clock/advance`` from another process)."""
        return advance(self.state, seconds)

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change server settings at runtime (queued_seconds, running_seconds, failure_share, ...).

        All changes are validated before any is applied; returns the settings without the secrets."""
        return self.state.configure(**changes)

    def add_surface(
        self, product_id: str, surface_id: str, type: str = "schedule", name: str | None = None
    ) -> dict[str, Any]:
        """Create a product surface (type ``schedule`` to host schedules)."""
        return self.state.add_surface(product_id, surface_id, type, name)

    def inject_fault(self, operation: str, kind: str, times: int | None = 1, **opts: Any) -> dict[str, Any]:
        """Arm a fault for ``operation`` (or ``"*"``) for the next ``times`` requests.

        ``opts``: ``status`` (server_error, default 503), ``retry_after`` (rate_limit, default 1),
        ``delay`` (slow, default 1.0), ``body`` (malformed), ``after_effect`` (process the request first).
        """
        return self.state.faults.arm(operation, kind, times, **opts).to_dict()

    def clear_faults(self) -> None:
        """Disarm every fault."""
        self.state.faults.clear()

    @property
    def faults(self) -> list[dict[str, Any]]:
        """Armed faults."""
        return self.state.faults.list()

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Request log (at most ``max_logged_requests`` entries, oldest first): dicts with ``method``, ``path``,
        ``query``, ``operation``, ``status``, ``fault``, ``body`` (``None`` for a request without a valid API key)."""
        return self.state.requests()

    @property
    def request_log_stats(self) -> dict[str, int]:
        """Counts of the request log: ``logged`` entries, ``dropped`` ones (past ``max_logged_requests``, oldest
        first) and ``refused_hosts`` (requests refused for their ``Host``, never logged)."""
        return self.state.request_log_stats()

    def clear_requests(self) -> None:
        """Empty the request log and zero its counts."""
        self.state.clear_requests()

    def reset(self) -> None:
        """Forget all schedules, surfaces, runs, faults and logged requests; restore the initial settings."""
        self.state.reset()
