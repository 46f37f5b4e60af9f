"""The servers next to Airflow: the local Runtype in its own process, a throwaway PostgreSQL cluster and a Redis
server (the Celery broker), each a :class:`~.processes.Component` on 127.0.0.1 and a free port."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from .processes import LOOPBACK, Component, base_env, free_port, wait_until

# --------------------------------------------------------------------------------------------------
# The local Runtype, in a process of its own


class LocalRuntypeProcess:
    """``python -m runtype_provider.testing.cli`` on a free loopback port, driven through ``/_local/``."""

    def __init__(self, workdir: Path, *, queued_seconds: float = 0.5, running_seconds: float = 10.0) -> None:
        from runtype_provider.testing.fake.settings import DEFAULT_API_KEY

        self.api_key = DEFAULT_API_KEY
        self.admin_token = "rt_admin_" + secrets.token_urlsafe(24)  # the admin routes' own credential
        self.workdir = workdir
        self.port_file = workdir / "runtype-local.port"
        self.port: int | None = None
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self.admin_token}"  # this session calls /_local/ only
        self.component = Component(
            name="runtype-local",
            argv=[
                sys.executable,
                "-m",
                "runtype_provider.testing.cli",
                "--host",
                LOOPBACK,
                "--port",
                "0",
                "--port-file",
                str(self.port_file),
                "--admin-token",
                self.admin_token,
                "--max-logged-requests",  # the tests count every call (one run-now per task): keep them all
                "1000000",
                "--queued-seconds",
                str(queued_seconds),
                "--running-seconds",
                str(running_seconds),
                "--log-level",
                "warning",
            ],
            env=base_env(workdir / "runtype-local-home"),
            log_path=workdir / "runtype-local.log",
            cwd=workdir,
        )

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.component.start()

        def port() -> int | None:
            if not self.component.running:
                raise RuntimeError(f"runtype-local exited:\n{self.component.log_tail()}")
            text = self.port_file.read_text().strip() if self.port_file.exists() else ""
            return int(text) if text else None

        self.port = wait_until(port, timeout=timeout, interval=0.1, what="runtype-local port file")
        wait_until(
            lambda: self.session.get(f"{self.url}/_local/health", timeout=2).ok,
            timeout=timeout,
            interval=0.1,
            what="runtype-local health",
        )

    def stop(self) -> None:
        self.component.stop(timeout=5)
        self.session.close()

    def connection_json(self, **extra: Any) -> str:
        """The ``AIRFLOW_CONN_RUNTYPE_DEFAULT`` value pointing at this server."""
        return json.dumps({"conn_type": "runtype", "host": self.url, "password": self.api_key, "extra": extra})

    def admin(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """Call an admin route (``/_local/<path>``) with the admin Bearer token; the JSON answer."""
        answer = self.session.request(method, f"{self.url}/_local/{path}", json=body, timeout=10)
        if not answer.ok:
            raise AssertionError(f"{method} /_local/{path}: HTTP {answer.status_code} {answer.text[:500]}")
        return answer.json()

    def api(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """Call the Runtype API (``/v1/<path>``) with the API key, as a client would; the JSON answer."""
        answer = requests.request(
            method,
            f"{self.url}/v1/{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=10,
        )
        if not answer.ok:
            raise AssertionError(f"{method} /v1/{path}: HTTP {answer.status_code} {answer.text[:500]}")
        return answer.json()

    def seed_schedule(self, **fields: Any) -> dict[str, Any]:
        return dict(self.admin("POST", "schedules", fields))

    def configure(self, **settings: Any) -> dict[str, Any]:
        return dict(self.admin("PUT", "config", settings))

    def requests(self) -> list[dict[str, Any]]:
        """The request log (oldest first): ``method``, ``path``, ``operation``, ``status``, ``fault``, ``body``.
        Refuses to answer from a log that dropped entries: a count read from it would be too low."""
        log = self.admin("GET", "requests")
        assert log["dropped"] == 0, f"the local Runtype's request log dropped {log['dropped']} entries"
        return list(log["data"])

    def calls(self, operation: str, path_contains: str = "") -> list[dict[str, Any]]:
        return [r for r in self.requests() if r["operation"] == operation and path_contains in r["path"]]

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move the local Runtype's clock forward (``POST /_local/clock/advance``): every run that would have
        ended by then has ended. Lets a test keep a run going as long as it needs, then end it at once."""
        return dict(self.admin("POST", "clock/advance", {"seconds": seconds}))

    def run_nows(self, schedule_id: str) -> list[dict[str, Any]]:
        """The run-now requests for ``schedule_id`` (each starts one Runtype run)."""
        return self.calls("run_schedule_now", f"/v1/schedules/{schedule_id}/")


# --------------------------------------------------------------------------------------------------
# PostgreSQL, for what SQLite cannot do (row locks: several triggerers)


def postgres_bindir() -> Path:
    """The server binaries of Debian's ``postgresql`` package (newest major version installed)."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    if not candidates:
        raise RuntimeError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql: "
            "apt-get install postgresql (Debian package) for the deployment tests"
        )
    return candidates[-1].parent


class PostgresServer:
    """A throwaway PostgreSQL cluster (Debian's ``postgresql`` package) on 127.0.0.1 and a free port.

    ``initdb`` into a fresh directory (outside pytest's 0700 temp root: the server runs as the
    ``postgres`` user when the tests run as root), then ``postgres`` in the foreground as a
    :class:`Component`; durability is switched off (``fsync``, ``synchronous_commit``,
    ``full_page_writes``): the cluster lives for one test module. Airflow reaches it with psycopg2 (sync) and
    asyncpg (async), the drivers of ``apache-airflow[postgres]``. Every child of the postmaster calls
    ``setsid()``, so the component tracks the postmaster's descendants, not only its session.
    """

    def __init__(self, log_dir: Path) -> None:
        self.bindir = postgres_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="runtype-deployment-pg-"))
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        self.component = Component(
            name="postgres",
            argv=[
                str(self.bindir / "postgres"),
                "-D",
                str(self.root / "data"),
                "-h",
                LOOPBACK,
                "-p",
                str(self.port),
                "-k",
                str(self.root),
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
            ],
            env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"},
            log_path=log_dir / "postgres.log",
            cwd=self.root,
            user=self.user,
            stop_signal=signal.SIGINT,  # "fast" shutdown: do not wait for clients to disconnect
            track_descendants=True,  # every child of the postmaster calls setsid(): a session of its own
        )

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://airflow@{LOOPBACK}:{self.port}/airflow"

    def _run(self, *argv: str) -> None:
        done = subprocess.run(
            argv, cwd=self.root, user=self.user, group=self.user, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")

    def start(self, timeout: float = 60.0) -> None:
        for driver in ("psycopg2", "asyncpg"):
            if importlib.util.find_spec(driver) is None:
                raise RuntimeError(f"{driver} is not installed: pip install psycopg2-binary asyncpg")
        if self.user:
            shutil.chown(self.root, self.user, self.user)
        self._run(str(self.bindir / "initdb"), "-D", str(self.root / "data"), "-U", "airflow", "-A", "trust",
                  "-E", "UTF8", "--no-sync")  # fmt: skip
        self.component.start()
        address = ("-h", LOOPBACK, "-p", str(self.port), "-U", "airflow")

        def ready() -> bool:
            if not self.component.running:
                raise RuntimeError(f"postgres exited:\n{self.component.log_tail()}")
            return subprocess.run([str(self.bindir / "pg_isready"), *address], capture_output=True).returncode == 0

        wait_until(ready, timeout=timeout, interval=0.1, what="postgres accepting connections")
        self._run(str(self.bindir / "createdb"), *address, "airflow")

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT): the postmaster ends its backends, autovacuum workers and background processes,
        writes a checkpoint and exits. Waits (up to ``timeout`` s) for every one of them, not only the postmaster:
        they are sessions of their own, remembered by the component; then SIGKILLs any left."""
        self.component.stop(timeout=timeout)
        shutil.rmtree(self.root, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# Redis, the Celery broker (and result backend): Debian's redis-server


class RedisServer:
    """``redis-server`` (Debian's ``redis-server`` package) on 127.0.0.1 and a free port, no persistence
    (``--save ""``, no append-only file), its working directory under ``workdir``. Stopped with SIGTERM."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise RuntimeError("redis-server not found: apt-get install redis-server (Debian package; make redis)")
        self.workdir = workdir
        self.port = free_port()
        self.component = Component(
            name="redis",
            argv=[binary, "--bind", LOOPBACK, "--port", str(self.port), "--dir", str(workdir), "--save", "",
                  "--appendonly", "no", "--protected-mode", "yes", "--daemonize", "no", "--loglevel", "notice"],
            env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"},
            log_path=workdir / "redis.log",
            cwd=workdir,
        )  # fmt: skip

    def url(self, db: int = 0) -> str:
        return f"redis://{LOOPBACK}:{self.port}/{db}"

    def ping(self) -> bool:
        with socket.create_connection((LOOPBACK, self.port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")

    def start(self, timeout: float = 30.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.component.start()

        def ready() -> bool:
            if not self.component.running:
                raise RuntimeError(f"redis-server exited:\n{self.component.log_tail()}")
            return self.ping()

        wait_until(ready, timeout=timeout, interval=0.1, what="redis-server answering PING")

    def stop(self) -> None:
        self.component.stop(timeout=10)
