"""A production-shaped Airflow deployment for tests, next to the local Runtype in its own process.

:class:`AirflowDeployment` runs the real ``airflow api-server``, ``scheduler`` (LocalExecutor),
``dag-processor`` and ``triggerer`` processes on a fresh ``AIRFLOW_HOME``, with its own dags folder, a
metadata database of its own, and ``runtype_default`` pointing at a :class:`LocalRuntypeProcess`
(``python -m runtype_provider.testing.cli``). Everything listens on 127.0.0.1 only; the log servers are
not started (see :data:`SKIP_SERVE_LOGS`). Tests drive it only from outside, as an operator would: the
REST API (:class:`AirflowApi`), the local Runtype's admin routes, and signals to named components.

Process ownership. Every component starts in a session of its own (``start_new_session``), and every
process it ever forks stays in that session: Airflow calls ``setpgid`` for task processes (3.3) but never
``setsid``, and orphans keep their session when they are re-parented. So "all processes of a component"
is "every live process whose session id is the component's pid" (:func:`session_members`); that finds
LocalExecutor workers, task supervisors and task processes in their own process groups, the triggerer's
runner and the dag-processor's parsers, even after their parent died. Stopping sends SIGTERM to the
component's main process (as docker, Kubernetes and systemd's ``KillMode=mixed`` do; signalling the whole
group made the triggerer wait 10 s for its runner), then SIGKILLs whatever is left in the session after a
timeout; :meth:`AirflowDeployment.kill` SIGKILLs the whole session at once (a crash).
"""

from __future__ import annotations

import contextlib
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
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil
import requests

VENV_BIN = Path(sys.executable).parent
AIRFLOW = str(VENV_BIN / "airflow")
SHIPPED_DAGS = Path(__file__).resolve().parent / "dags"
LOOPBACK = "127.0.0.1"

SKIP_SERVE_LOGS = True
"""Start the scheduler and triggerer with ``--skip-serve-logs``. Their log servers
(``airflow.utils.serve_logs``) bind ``host=""`` (every interface) and Airflow 3.1/3.3 has no option to
bind them to loopback; they are only needed to read a running task's log from another host. Every
component here shares the same disk, so the API server reads task logs from ``AIRFLOW_HOME/logs``.
Free ports are still configured for them, so turning this off never collides with anything."""

T = TypeVar("T")


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.5,
    what: str,
    diagnostics: Callable[[], str] | None = None,
) -> T:
    """Call ``predicate`` until it returns something truthy (returned) or ``timeout`` seconds pass
    (``TimeoutError`` naming ``what``, its last value or error, and ``diagnostics()``)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = predicate()
        except (requests.RequestException, OSError, ValueError, KeyError) as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            details = diagnostics() if diagnostics else ""
            raise TimeoutError(f"{what}: not reached within {timeout:g} s (last: {last!r})\n{details}".rstrip())
        time.sleep(interval)


# --------------------------------------------------------------------------------------------------
# Processes


def session_members(sid: int) -> list[psutil.Process]:
    """Live (non-zombie) processes of session ``sid``."""
    members = []
    for pid in psutil.pids():
        try:
            if os.getsid(pid) != sid:
                continue
            process = psutil.Process(pid)
            if process.status() != psutil.STATUS_ZOMBIE:
                members.append(process)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return members


def kill_session(sid: int, *, timeout: float = 10.0) -> list[int]:
    """SIGKILL every process of session ``sid`` until none is left (catches processes forked meanwhile);
    returns the pids killed. ``RuntimeError`` if some survive ``timeout`` seconds."""
    killed: list[int] = []
    deadline = time.monotonic() + timeout
    while members := session_members(sid):
        for process in members:
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                process.send_signal(signal.SIGKILL)
                killed.append(process.pid)
        psutil.wait_procs(members, timeout=1)
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes of session {sid} survive SIGKILL: {describe(session_members(sid))}")
    return killed


def describe(processes: Iterable[psutil.Process]) -> str:
    out = []
    for process in processes:
        with contextlib.suppress(psutil.Error):
            out.append(f"{process.pid} {' '.join(process.cmdline())[:120]!r}")
    return ", ".join(out) or "none"


@dataclass
class Component:
    """One long-running process (and everything it forks), in a session of its own."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    log_path: Path
    cwd: Path
    popen: subprocess.Popen[bytes] | None = None
    user: str | None = None  # run as this user (PostgreSQL refuses to run as root)
    stop_signal: int = signal.SIGTERM
    generation: int = 0
    expected_down: bool = False  # stopped or killed on purpose: not an unexpected exit
    sessions: list[int] = field(default_factory=list)  # every session this component ever had

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.generation += 1
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n===== {self.name} start #{self.generation} at {time.strftime('%X')} =====\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                list(self.argv),
                env=dict(self.env),
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=self.user,
                group=self.user,
            )
        self.sessions.append(self.popen.pid)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def members(self) -> list[psutil.Process]:
        """Live processes of every session this component ever had (the current one and earlier ones)."""
        return [p for sid in self.sessions for p in session_members(sid)]

    def kill(self) -> list[int]:
        """SIGKILL the component and everything it forked, at once (a crash); returns the pids killed."""
        killed = []
        for sid in self.sessions:
            killed += kill_session(sid)
        if self.popen is not None:
            self.popen.wait(timeout=10)
        return killed

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the main process, wait up to ``timeout`` s for the whole session, then SIGKILL the rest."""
        if self.running and self.popen is not None:
            self.popen.send_signal(self.stop_signal)  # the main process: it stops its own children
            for process in self.members():  # a paused (SIGSTOPped) component could not stop
                with contextlib.suppress(psutil.Error):
                    process.send_signal(signal.SIGCONT)
            deadline = time.monotonic() + timeout
            while self.members() and time.monotonic() < deadline:
                time.sleep(0.2)
        self.kill()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-chars:]


def stop_all(components: Sequence[Component], timeout: float = 15.0) -> dict[str, float]:
    """Stop components together: SIGTERM every main process at once, wait up to ``timeout`` s for all
    their sessions to end, then SIGKILL whatever is left. Returns the seconds each took to end."""
    began = time.monotonic()
    for component in components:
        component.expected_down = True
        if component.running and component.popen is not None:
            component.popen.send_signal(component.stop_signal)  # the main process, as systemd/k8s/docker do
        for process in component.members():  # a paused (SIGSTOPped) component could not stop
            with contextlib.suppress(psutil.Error):
                process.send_signal(signal.SIGCONT)
    pending = {c.name: c for c in components}
    took: dict[str, float] = {}
    while pending and time.monotonic() < began + timeout:
        for name, component in list(pending.items()):
            if not component.members():
                took[name] = time.monotonic() - began
                del pending[name]
        time.sleep(0.1)
    for component in components:
        with contextlib.suppress(RuntimeError):  # survivors show up in the caller's leftover check
            component.kill()
    took.update(dict.fromkeys(pending, time.monotonic() - began))  # SIGKILLed
    return took


def base_env(home: Path) -> dict[str, str]:
    """The caller's environment without any Airflow setting, with this venv first on PATH."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "_AIRFLOW", "PYTEST_", "COV_CORE", "COVERAGE"))
    }
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["AIRFLOW_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    return env


# --------------------------------------------------------------------------------------------------
# The local Runtype, in a process of its own


class LocalRuntypeProcess:
    """``python -m runtype_provider.testing.cli`` on a free loopback port, driven through ``/_local/``."""

    def __init__(self, workdir: Path, *, queued_seconds: float = 0.5, running_seconds: float = 10.0) -> None:
        from runtype_provider.testing.fake.settings import DEFAULT_API_KEY

        self.api_key = DEFAULT_API_KEY
        self.workdir = workdir
        self.port_file = workdir / "runtype-local.port"
        self.port: int | None = None
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self.api_key}"
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

    def seed_schedule(self, **fields: Any) -> dict[str, Any]:
        return dict(self.admin("POST", "schedules", fields))

    def configure(self, **settings: Any) -> dict[str, Any]:
        return dict(self.admin("PUT", "config", settings))

    def requests(self) -> list[dict[str, Any]]:
        """The request log (oldest first): ``method``, ``path``, ``operation``, ``status``, ``fault``, ``body``."""
        return list(self.admin("GET", "requests")["data"])

    def calls(self, operation: str, path_contains: str = "") -> list[dict[str, Any]]:
        return [r for r in self.requests() if r["operation"] == operation and path_contains in r["path"]]


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
    ``full_page_writes``): the cluster lives for one test module. Airflow reaches it with psycopg2
    (sync) and asyncpg (async), the drivers of ``apache-airflow[postgres]``.
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

    def stop(self) -> None:
        self.component.stop(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# Airflow's REST API (/api/v2) with the simple auth manager's password login


class AirflowApi:
    """A small client for ``/api/v2``: logs in as ``admin`` with the generated password (``POST
    /auth/token``, the same on 3.1 and 3.3) and retries once with a fresh token on 401."""

    def __init__(self, base_url: str, password_file: Path, username: str = "admin") -> None:
        self.base_url = base_url
        self.password_file = password_file
        self.username = username
        self.session = requests.Session()

    def login(self) -> None:
        passwords = json.loads(self.password_file.read_text())
        answer = self.session.post(
            f"{self.base_url}/auth/token",
            json={"username": self.username, "password": passwords[self.username]},
            timeout=10,
        )
        answer.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        if "Authorization" not in self.session.headers:
            self.login()
        answer = self.session.request(method, f"{self.base_url}{path}", **kwargs)
        if answer.status_code == 401:
            self.login()
            answer = self.session.request(method, f"{self.base_url}{path}", **kwargs)
        return answer

    def get(self, path: str, **params: Any) -> Any:
        answer = self.request("GET", path, params=params)
        if not answer.ok:
            raise AssertionError(f"GET {path}: HTTP {answer.status_code} {answer.text[:500]}")
        return answer.json()

    def get_all(self, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a paginated list endpoint (``limit``/``offset``, ``total_entries``)."""
        items: list[dict[str, Any]] = []
        while True:
            page = self.get(path, limit=100, offset=len(items), **params)
            items += page[key]
            if not page[key] or len(items) >= page["total_entries"]:
                return items

    def health(self) -> dict[str, Any]:
        answer = requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=5)
        answer.raise_for_status()
        return dict(answer.json())

    def dag_exists(self, dag_id: str) -> bool:
        return self.request("GET", f"/api/v2/dags/{dag_id}").status_code == 200

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self.get("/api/v2/importErrors")["import_errors"])

    def trigger_dag_run(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Trigger a DAG run now; its ``dag_run_id``."""
        answer = self.request(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": dict(conf or {})}
        )
        if not answer.ok:
            raise AssertionError(f"trigger {dag_id}: HTTP {answer.status_code} {answer.text[:500]}")
        return str(answer.json()["dag_run_id"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run (mapped ones one per map index), with ``state``,
        ``try_number``, ``trigger`` (``triggerer_id``) and ``triggerer_job``."""
        return self.get_all(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", "task_instances")

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        return dict(self.get(path if map_index < 0 else f"{path}/{map_index}"))

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        """An XCom value as JSON."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.get(path, map_index=map_index)["value"]

    def triggerer_jobs(self, alive: bool = True) -> list[dict[str, Any]]:
        """Triggerer jobs, newest heartbeat first. One page only: ``is_alive`` filters after paging (so
        ``total_entries`` counts dead jobs too), and live jobs have the newest heartbeats."""
        return list(self.get("/api/v2/jobs", job_type="TriggererJob", is_alive=alive, limit=100)["jobs"])


# --------------------------------------------------------------------------------------------------
# The deployment


TERMINAL_RUN_STATES = {"success", "failed"}
TERMINAL_TI_STATES = {"success", "failed", "skipped", "upstream_failed", "removed"}


class AirflowDeployment:
    """Airflow's four services on a fresh ``AIRFLOW_HOME`` (``home``), LocalExecutor, on SQLite in
    ``home`` or on ``database_url`` (e.g. :attr:`PostgresServer.url`).

    ``start()`` migrates the database, starts api-server, scheduler, dag-processor and triggerer at once,
    and returns when the health endpoint reports every service healthy and the shipped DAGs are parsed.
    ``timings`` holds the measured seconds. Use :meth:`kill` / :meth:`start_component` to crash and
    restart a component, :meth:`add_triggerer` for more triggerers, :meth:`stop` to end everything.
    """

    COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")

    def __init__(
        self,
        home: Path,
        runtype: LocalRuntypeProcess,
        *,
        database_url: str | None = None,
        database_server: Component | None = None,
        parallelism: int = 4,
        extra_config: Mapping[str, str] | None = None,
    ) -> None:
        self.home = home
        self.runtype = runtype
        self.database_url = database_url or f"sqlite:///{home / 'airflow.db'}"
        self.database = self.database_url.split(":", 1)[0].split("+", 1)[0]  # "sqlite" / "postgresql"
        self.database_server = database_server  # started and stopped by the caller; checked by listening()
        self.dags_folder = home / "dags"
        self.api_port = free_port()
        self.base_url = f"http://{LOOPBACK}:{self.api_port}"
        self.parallelism = parallelism
        self.components: dict[str, Component] = {}
        self.timings: dict[str, float] = {}
        self.stop_times: dict[str, float] = {}
        self.started_at = time.time()
        self.env = base_env(home)
        self.env.update(self.config(extra_config or {}))
        self.api = AirflowApi(self.base_url, home / "simple_auth_manager_passwords.json.generated")

    # ----------------------------------------------------------------- configuration

    def config(self, extra: Mapping[str, str]) -> dict[str, str]:
        """Every Airflow setting, as ``AIRFLOW__SECTION__KEY`` variables (nothing from the caller leaks in)."""
        settings = {
            # Where things are.
            "core.dags_folder": str(self.dags_folder),
            "database.sql_alchemy_conn": self.database_url,
            "logging.base_log_folder": str(self.home / "logs"),
            "core.load_examples": "False",
            "core.executor": "LocalExecutor",
            "core.parallelism": str(self.parallelism),
            "core.dags_are_paused_at_creation": "False",
            # Everything on loopback: the API server (UI, /api/v2, /execution/) ...
            "api.host": LOOPBACK,
            "api.port": str(self.api_port),
            "api.base_url": self.base_url,
            "api.workers": "1",
            "core.execution_api_server_url": f"{self.base_url}/execution/",
            # ... and free ports for the log servers (not started: SKIP_SERVE_LOGS).
            "logging.worker_log_server_port": str(free_port()),
            "logging.trigger_log_server_port": str(free_port()),
            # One secret for every process (tokens the API server signs are checked by all of them).
            "api_auth.jwt_secret": secrets.token_urlsafe(32),
            "api.secret_key": secrets.token_urlsafe(32),
            # Simple auth manager with a generated password for "admin" (the production-like login flow).
            "core.auth_manager": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "core.simple_auth_manager_users": "admin:admin",
            "core.simple_auth_manager_all_admins": "False",
            # React within a second or two: DAG files listed and re-parsed, scheduler and triggerer loops ...
            "dag_processor.refresh_interval": "1",
            "dag_processor.bundle_refresh_check_interval": "1",
            "dag_processor.min_file_process_interval": "2",
            "dag_processor.parsing_processes": "1",
            "dag_processor.print_stats_interval": "600",
            "core.min_serialized_dag_update_interval": "1",
            "scheduler.scheduler_idle_sleep_time": "0.5",
            "scheduler.scheduler_heartbeat_sec": "1",
            "scheduler.job_heartbeat_sec": "1",
            "scheduler.trigger_timeout_check_interval": "2",
            "triggerer.job_heartbeat_sec": "1",
            # ... and a crashed triggerer's triggers move to a live one after 8 s without heartbeat (default 30).
            "triggerer.triggerer_health_check_threshold": "8",
        }
        settings.update(extra)
        env = {"AIRFLOW__" + key.replace(".", "__").upper(): value for key, value in settings.items()}
        env["AIRFLOW_CONN_RUNTYPE_DEFAULT"] = self.runtype.connection_json(retry_delay=0.2)
        return env

    # ----------------------------------------------------------------- lifecycle

    def argv(self, kind: str) -> list[str]:
        skip = ["--skip-serve-logs"] if SKIP_SERVE_LOGS else []
        return {
            "api-server": [AIRFLOW, "api-server", "--host", LOOPBACK, "--port", str(self.api_port)],
            "scheduler": [AIRFLOW, "scheduler", *skip],
            "dag-processor": [AIRFLOW, "dag-processor"],
            "triggerer": [AIRFLOW, "triggerer", *skip],
        }[kind]

    def add_component(self, name: str, kind: str, env: Mapping[str, str] | None = None) -> Component:
        component = Component(
            name=name,
            argv=self.argv(kind),
            env={**self.env, **(env or {})},
            log_path=self.home / "components" / f"{name}.log",
            cwd=self.home,
        )
        self.components[name] = component
        return component

    def start(self, dag_ids: Iterable[str] = (), timeout: float = 120.0) -> None:
        began = time.monotonic()
        self.home.mkdir(parents=True, exist_ok=True)
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        for dag_file in SHIPPED_DAGS.glob("*.py"):
            shutil.copy2(dag_file, self.dags_folder / dag_file.name)
        migrate = subprocess.run(
            [AIRFLOW, "db", "migrate"], env=self.env, cwd=self.home, capture_output=True, text=True, timeout=300
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{migrate.stdout[-3000:]}\n{migrate.stderr[-3000:]}")
        self.timings["db_migrate"] = time.monotonic() - began
        for kind in self.COMPONENTS:
            self.add_component(kind, kind).start()
        components_began = time.monotonic()
        self.wait_healthy(timeout=timeout)
        self.timings["healthy"] = time.monotonic() - components_began
        for dag_id in dag_ids:
            self.wait_for_dag(dag_id, timeout=timeout)
        self.timings["startup"] = time.monotonic() - began

    def wait_healthy(self, timeout: float = 60.0) -> dict[str, Any]:
        def healthy() -> dict[str, Any] | None:
            self.check_running()
            health = self.api.health()
            services = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            return health if all(health.get(s, {}).get("status") == "healthy" for s in services) else None

        result = wait_until(
            healthy, timeout=timeout, interval=0.25, what="Airflow health", diagnostics=self.diagnostics
        )
        self.api.login()
        return result

    def wait_for_dag(self, dag_id: str, timeout: float = 60.0) -> None:
        def parsed() -> bool:
            self.check_running()
            if self.api.dag_exists(dag_id):
                return True
            errors = self.api.import_errors()
            if errors:
                raise AssertionError(f"DAG import errors: {errors}")
            return False

        wait_until(parsed, timeout=timeout, interval=0.25, what=f"DAG {dag_id} parsed", diagnostics=self.diagnostics)

    def check_running(self) -> None:
        """``RuntimeError`` if a component that should run has exited."""
        for name, component in self.components.items():
            if component.popen is not None and not component.running and not component.expected_down:
                raise RuntimeError(
                    f"{name} exited with {component.popen.returncode}:\n{component.log_tail()}\n{self.diagnostics()}"
                )

    def kill(self, name: str) -> list[int]:
        """SIGKILL component ``name`` and every process it forked, at once; returns the pids killed."""
        component = self.components[name]
        component.expected_down = True
        killed = component.kill()
        assert not component.members(), f"{name} left processes: {describe(component.members())}"
        return killed

    def start_component(self, name: str) -> None:
        """(Re)start a known component; it becomes the next generation of ``name``."""
        component = self.components[name]
        component.expected_down = False
        component.start()

    def add_triggerer(self, name: str) -> Component:
        """Start one more triggerer (HA). Its log server port is its own (not started anyway)."""
        component = self.add_component(
            name, "triggerer", {"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())}
        )
        component.start()
        return component

    def pause(self, name: str) -> list[psutil.Process]:
        """SIGSTOP every process of component ``name`` (a stalled host: VM pause, long GC, CPU starvation)."""
        members = self.components[name].members()
        for process in members:
            process.send_signal(signal.SIGSTOP)
        return members

    def resume(self, name: str) -> None:
        """SIGCONT every process of component ``name``."""
        for process in self.components[name].members():
            process.send_signal(signal.SIGCONT)

    def listening(self, extra: Iterable[Component] = ()) -> set[tuple[str, str, int]]:
        """``(component, ip, port)`` of every listening TCP socket of the deployment's processes."""
        found = set()
        servers = [self.database_server] if self.database_server else []
        for component in [*self.components.values(), *servers, *extra]:
            for process in component.members():
                with contextlib.suppress(psutil.NoSuchProcess):  # e.g. a task process that just ended
                    for conn in process.net_connections(kind="inet"):
                        if conn.status == psutil.CONN_LISTEN:
                            found.add((component.name, conn.laddr.ip, conn.laddr.port))
        return found

    def stop_component(self, name: str) -> None:
        component = self.components[name]
        component.expected_down = True
        component.stop()

    def stop(self) -> list[str]:
        """Stop every component (SIGTERM, then SIGKILL); return descriptions of processes that were still
        alive afterwards (should be none: the caller asserts)."""
        began = time.monotonic()
        self.api.session.close()  # an open keep-alive connection would hold up the API server's shutdown
        self.stop_times = stop_all(list(self.components.values()))
        self.timings["stop"] = time.monotonic() - began
        leftovers = [p for c in self.components.values() for p in c.members()]
        leftovers += self.airflow_descendants()
        return [describe([p]) for p in leftovers]

    def airflow_descendants(self) -> list[psutil.Process]:
        """Live descendants of this (pytest) process running ``airflow`` that started after this deployment
        (the database server's processes aside: their titles name the ``airflow`` database)."""
        database = set(self.database_server.sessions) if self.database_server else set()
        found = []
        for process in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error, OSError):
                if (
                    process.status() != psutil.STATUS_ZOMBIE
                    and process.create_time() >= self.started_at - 1
                    and os.getsid(process.pid) not in database
                    and any("airflow" in part for part in process.cmdline())
                ):
                    found.append(process)
        return found

    # ----------------------------------------------------------------- waiting on runs

    def wait_for_run(
        self, dag_id: str, run_id: str, *, timeout: float, states: Iterable[str] = ("success",)
    ) -> dict[str, Any]:
        """Wait until the DAG run is terminal; ``AssertionError`` unless its state is one of ``states``."""
        wanted = set(states)

        def terminal() -> dict[str, Any] | None:
            self.check_running()
            run = self.api.dag_run(dag_id, run_id)
            return run if run["state"] in TERMINAL_RUN_STATES | wanted else None

        run = wait_until(
            terminal,
            timeout=timeout,
            what=f"DAG run {dag_id}/{run_id}",
            diagnostics=lambda: self.run_report(dag_id, run_id),
        )
        assert run["state"] in wanted, f"DAG run {run_id} ended {run['state']}\n{self.run_report(dag_id, run_id)}"
        return run

    def wait_for_task_state(
        self, dag_id: str, run_id: str, task_id: str, state: str, *, timeout: float, map_index: int = -1
    ) -> dict[str, Any]:
        """Wait until the task instance is in ``state``; ``AssertionError`` if it ends in another state."""

        def reached() -> dict[str, Any] | None:
            self.check_running()
            ti = self.api.task_instance(dag_id, run_id, task_id, map_index)
            if ti["state"] == state:
                return ti
            if ti["state"] in TERMINAL_TI_STATES:
                raise AssertionError(f"{task_id} ended {ti['state']}, not {state}\n{self.run_report(dag_id, run_id)}")
            return None

        return wait_until(
            reached,
            timeout=timeout,
            interval=0.25,
            what=f"{dag_id}/{run_id}/{task_id} {state}",
            diagnostics=lambda: self.run_report(dag_id, run_id),
        )

    # ----------------------------------------------------------------- diagnostics

    def task_logs(self, dag_id: str, run_id: str, chars: int = 2500) -> str:
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
        out = []
        for path in sorted(folder.rglob("*.log"))[:6] if folder.exists() else []:
            out.append(f"--- {path.relative_to(folder)}\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(out)

    def run_report(self, dag_id: str, run_id: str) -> str:
        lines = []
        with contextlib.suppress(Exception):
            for ti in self.api.task_instances(dag_id, run_id):
                lines.append(f"  {ti['task_id']}[{ti['map_index']}] {ti['state']} try {ti['try_number']}")
        return "task instances:\n" + "\n".join(lines[:40]) + "\n" + self.task_logs(dag_id, run_id) + self.diagnostics()

    def diagnostics(self) -> str:
        parts = []
        for name, component in self.components.items():
            state = (
                "running" if component.running else f"exited {component.popen.returncode if component.popen else '-'}"
            )
            parts.append(f"===== {name} ({state}), last lines of {component.log_path}:\n{component.log_tail(2000)}")
        return "\n".join(parts)
