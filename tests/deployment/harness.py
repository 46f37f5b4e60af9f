"""A production-shaped Airflow deployment for tests, next to the local Runtype in its own process.

:class:`AirflowDeployment` runs the real ``airflow api-server``, ``scheduler`` (LocalExecutor),
``dag-processor`` and ``triggerer`` processes on a fresh ``AIRFLOW_HOME``, with its own dags folder, a
metadata database of its own, and ``runtype_default`` pointing at a :class:`LocalRuntypeProcess`
(``python -m runtype_provider.testing.cli``). Everything listens on 127.0.0.1 only; the log servers are
not started (see :data:`SKIP_SERVE_LOGS`). Tests drive it only from outside, as an operator would: the
REST API (:class:`AirflowApi`), the local Runtype's admin routes, and signals to named components.
``celery_deployment.py`` builds the CeleryExecutor shape on it.

The pieces: ``processes.py`` (components, process ownership, stopping), ``services.py`` (the local Runtype,
PostgreSQL, Redis), ``airflow_api.py`` (the REST client). Their names are re-exported here.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

from .airflow_api import AirflowApi
from .processes import (
    AIRFLOW,
    LOOPBACK,
    VENV_BIN,
    Component,
    base_env,
    describe,
    free_port,
    kill_session,
    session_members,
    stop_all,
    wait_until,
)
from .services import LocalRuntypeProcess, PostgresServer, RedisServer, postgres_bindir

__all__ = [
    "AIRFLOW",
    "LOOPBACK",
    "SHIPPED_DAGS",
    "SKIP_SERVE_LOGS",
    "VENV_BIN",
    "AirflowApi",
    "AirflowDeployment",
    "Component",
    "LocalRuntypeProcess",
    "PostgresServer",
    "RedisServer",
    "base_env",
    "describe",
    "free_port",
    "kill_session",
    "postgres_bindir",
    "session_members",
    "stop_all",
    "wait_until",
]

SHIPPED_DAGS = Path(__file__).resolve().parent / "dags"

SKIP_SERVE_LOGS = True
"""Start the scheduler, triggerer and Celery workers with ``--skip-serve-logs``. Their log servers
(``airflow.utils.serve_logs``) bind ``host=""`` (every interface) and Airflow 3.1/3.3 has no option to
bind them to loopback; they are only needed to read a running task's log from another host. Every
component here shares the same log folder, so the API server reads task logs from ``AIRFLOW_HOME/logs``.
Free ports are still configured for them, so turning this off never collides with anything."""


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
        servers: Sequence[Component] = (),
        parallelism: int = 4,
        extra_config: Mapping[str, str] | None = None,
    ) -> None:
        self.home = home
        self.runtype = runtype
        self.database_url = database_url or f"sqlite:///{home / 'airflow.db'}"
        self.database = self.database_url.split(":", 1)[0].split("+", 1)[0]  # "sqlite" / "postgresql"
        self.database_server = database_server  # started and stopped by the caller; checked by listening()
        self.servers = [s for s in (database_server, *servers) if s is not None]  # the same (e.g. Redis)
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

    def add_component(
        self, name: str, kind: str, env: Mapping[str, str] | None = None, argv: Sequence[str] | None = None
    ) -> Component:
        component = Component(
            name=name,
            argv=list(argv) if argv is not None else self.argv(kind),
            env={**self.env, **(env or {})},
            log_path=self.home / "components" / f"{name}.log",
            cwd=self.home,
        )
        self.components[name] = component
        return component

    def start(self, dag_ids: Iterable[str] = (), timeout: float = 300.0) -> None:
        """Migrate, start every component, wait until they are ready and ``dag_ids`` are parsed. ``timeout`` bounds
        each wait; it is generous (a loaded CI machine), and nothing asserts how long startup took."""
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
        components_began = time.monotonic()
        self.start_components()
        self.wait_ready(timeout=timeout)
        self.timings["healthy"] = time.monotonic() - components_began
        for dag_id in dag_ids:
            self.wait_for_dag(dag_id, timeout=timeout)
        self.timings["startup"] = time.monotonic() - began

    def start_components(self) -> None:
        """Start every component of :attr:`COMPONENTS` at once."""
        for kind in self.COMPONENTS:
            self.add_component(kind, kind).start()

    def wait_ready(self, timeout: float) -> None:
        """Wait until the components started by :meth:`start_components` are ready."""
        self.wait_healthy(timeout=timeout)

    def wait_healthy(self, timeout: float = 120.0) -> dict[str, Any]:
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

    def wait_for_dag(self, dag_id: str, timeout: float = 180.0) -> None:
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
        for component in [*self.components.values(), *self.servers, *extra]:
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
        """Live descendants of this (pytest) process running ``airflow`` that started after this deployment,
        the servers' processes aside (PostgreSQL's titles name the ``airflow`` database; its backends and
        autovacuum workers come and go while it runs, each in a session of its own: owned by its postmaster)."""
        found = []
        for process in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error, OSError):
                if (
                    process.status() != psutil.STATUS_ZOMBIE
                    and process.create_time() >= self.started_at - 1
                    and any("airflow" in part for part in process.cmdline())
                    and not any(server.owns(process) for server in self.servers)
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

    def executor_events(self, dag_id: str, task_id: str, state: str, try_number: int | None = None) -> set[str]:
        """DAG run ids of ``dag_id`` for which the scheduler has processed an executor event ``state`` of task
        ``task_id`` (of try ``try_number``, or any); from its log: ``Received executor event with state success for
        task instance TaskInstanceKey(...)``."""
        pattern = re.compile(
            rf"Received executor event with state {re.escape(state)} for task instance TaskInstanceKey\("
            rf"dag_id='{re.escape(dag_id)}', task_id='{re.escape(task_id)}', run_id='([^']+)', try_number=(\d+)"
        )
        found = pattern.findall(self.components["scheduler"].log_tail(10_000_000))
        return {run for run, number in found if try_number is None or int(number) == try_number}

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
