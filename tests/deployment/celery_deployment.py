"""The CeleryExecutor shape of a production deployment, on one machine but shaped like several hosts.

:class:`CeleryDeployment` runs ``airflow api-server``, ``scheduler`` (CeleryExecutor), ``dag-processor`` and
two ``triggerer`` processes on PostgreSQL, with Redis as the Celery broker and result backend, and two
``airflow celery worker`` processes, each as its own "host":

* its own ``AIRFLOW_HOME`` (``<home>/workers/worker-N``); as root, each worker runs in a mount namespace of its
  own (``unshare --mount``) where a tmpfs hides the other worker's home, so neither can read the other's files;
* no metadata database: its ``[database] sql_alchemy_conn`` points at a closed port (127.0.0.1:1), so anything
  that touched the database would fail loudly. Workers reach Airflow through the execution API only
  (XCom, connections, the task state store) and Celery through Redis;
* queues ``default`` plus one of its own (``w1``, ``w2``): ``queue="w1"`` pins a task to worker 1.

What the workers share stands for what hosts share: the DAG files (a DAG bundle), the task-log folder (remote
logging), and whatever directory a test hands both of them (shared storage). Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil

from .harness import SHIPPED_DAGS, SKIP_SERVE_LOGS, TERMINAL_TI_STATES, AirflowDeployment
from .processes import AIRFLOW, LOOPBACK, free_port, wait_until
from .services import LocalRuntypeProcess, PostgresServer, RedisServer

CELERY_DAGS = SHIPPED_DAGS / "celery"
UNREACHABLE_DATABASE = "postgresql+psycopg2://airflow@127.0.0.1:1/airflow"
WORKERS = {"worker-1": "w1", "worker-2": "w2"}
"""Worker component name -> its own queue (each also consumes ``default``)."""
HIDE_OTHER_HOMES = (
    'while [ "$1" != -- ]; do mount -t tmpfs -o size=1m,mode=0700 runtype-hidden "$1" || exit 1; shift; done; '
    'shift; exec "$@"'
)


def can_hide_homes() -> bool:
    """Mount namespaces need root (CAP_SYS_ADMIN) and util-linux's ``unshare``."""
    return os.geteuid() == 0 and shutil.which("unshare") is not None and shutil.which("mount") is not None


class CeleryDeployment(AirflowDeployment):
    """Airflow with the CeleryExecutor: api-server, scheduler, dag-processor and two triggerers on
    ``postgres``; two Celery workers with homes of their own and no database; ``redis`` as broker and
    result backend. ``worker_env`` adds settings per worker (e.g. ``[runtype] results_path`` on one only)."""

    COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")

    def __init__(
        self,
        home: Path,
        runtype: LocalRuntypeProcess,
        *,
        postgres: PostgresServer,
        redis: RedisServer,
        worker_env: Mapping[str, Mapping[str, str]] | None = None,
        concurrency: int = 2,
        parallelism: int = 16,
    ) -> None:
        super().__init__(
            home,
            runtype,
            database_url=postgres.url,
            database_server=postgres.component,
            servers=[redis.component],
            parallelism=parallelism,
            extra_config={
                "core.executor": "CeleryExecutor",
                "celery.broker_url": redis.url(0),
                "celery.result_backend": redis.url(1),
                "celery.worker_concurrency": str(concurrency),
                "celery.sync_parallelism": "1",
                "celery_broker_transport_options.visibility_timeout": "3600",
            },
        )
        self.redis = redis
        self.concurrency = concurrency
        self.worker_env = {name: dict((worker_env or {}).get(name, {})) for name in WORKERS}
        self.worker_homes = {name: home / "workers" / name for name in WORKERS}
        self.hide_homes = can_hide_homes()
        self._celery: Any = None

    # ----------------------------------------------------------------- lifecycle

    def hostname(self, worker: str) -> str:
        return f"{WORKERS[worker]}@{LOOPBACK}"

    def worker_argv(self, worker: str) -> list[str]:
        argv = [AIRFLOW, "celery", "worker", "--celery-hostname", self.hostname(worker)]
        argv += ["--concurrency", str(self.concurrency), "--queues", f"default,{WORKERS[worker]}"]
        argv += ["--skip-serve-logs"] if SKIP_SERVE_LOGS else []
        if not self.hide_homes:
            return argv
        others = [str(path) for name, path in self.worker_homes.items() if name != worker]
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", HIDE_OTHER_HOMES, "sh",
                *others, "--", *argv]  # fmt: skip

    def start_components(self) -> None:
        for dag_file in CELERY_DAGS.glob("*.py"):
            shutil.copy2(dag_file, self.dags_folder / dag_file.name)
        super().start_components()
        self.add_component(
            "triggerer-2", "triggerer", {"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())}
        ).start()
        for home in self.worker_homes.values():  # all first: each worker mounts a tmpfs over the others' homes
            home.mkdir(parents=True, exist_ok=True)
        for worker, home in self.worker_homes.items():
            env = {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": UNREACHABLE_DATABASE,
                **self.worker_env[worker],
            }
            component = self.add_component(worker, "celery-worker", env, argv=self.worker_argv(worker))
            component.cwd = home
            component.start()

    def wait_ready(self, timeout: float) -> None:
        super().wait_ready(timeout)
        wait_until(
            lambda: self.check_running() or len(self.api.triggerer_jobs(alive=True)) == 2,
            timeout=timeout,
            what="two live triggerers",
            diagnostics=self.diagnostics,
        )
        expected = {self.hostname(w): {"default", q} for w, q in WORKERS.items()}
        wait_until(
            lambda: self.check_running() or self.active_queues() == expected,
            timeout=timeout,
            what="both Celery workers consuming their queues",
            diagnostics=self.diagnostics,
        )

    def stop(self) -> list[str]:
        leftovers = super().stop()
        if self._celery is not None:
            self._celery.close()
        return leftovers

    # ----------------------------------------------------------------- Celery control (as `airflow celery ...`)

    @property
    def celery(self) -> Any:
        """A Celery app on the deployment's broker, for remote control only (it runs no task)."""
        if self._celery is None:
            from celery import Celery

            self._celery = Celery("runtype-deployment-tests", broker=self.redis.url(0))
        return self._celery

    def active_queues(self) -> dict[str, set[str]]:
        """``{worker hostname: queues it consumes}`` of the workers that answer within two seconds."""
        answer = self.celery.control.inspect(timeout=2).active_queues() or {}
        return {host: {queue["name"] for queue in queues} for host, queues in answer.items()}

    def stop_consuming(self, worker: str, queue: str, timeout: float = 60.0) -> None:
        """``airflow celery remove-queue``: ``worker`` stops taking new tasks from ``queue`` (confirmed)."""
        host = self.hostname(worker)
        self.celery.control.cancel_consumer(queue, destination=[host], reply=True, timeout=5)
        wait_until(
            lambda: queue not in self.active_queues().get(host, {queue}),
            timeout=timeout,
            what=f"{worker} no longer consuming {queue}",
        )

    def start_consuming(self, worker: str, queue: str, timeout: float = 60.0) -> None:
        """``airflow celery add-queue``: ``worker`` takes tasks from ``queue`` again (confirmed)."""
        host = self.hostname(worker)
        self.celery.control.add_consumer(queue, destination=[host], reply=True, timeout=5)
        wait_until(
            lambda: queue in self.active_queues().get(host, set()),
            timeout=timeout,
            what=f"{worker} consuming {queue} again",
        )

    # ----------------------------------------------------------------- which worker runs what

    def task_processes(self, ti_id: str) -> dict[str, list[psutil.Process]]:
        """``{worker: [task process]}`` for the task process of try ``ti_id`` (titled ``airflow worker --
        <ti id>`` by the task runner, under the worker's pool process and the task supervisor)."""
        found: dict[str, list[psutil.Process]] = {}
        for worker in WORKERS:
            for process in self.components[worker].members():
                with contextlib.suppress(psutil.Error):
                    if " ".join(process.cmdline()).strip() == f"airflow worker -- {ti_id}":
                        found.setdefault(worker, []).append(process)
        return found

    def runs_executed(self, dag_id: str) -> dict[str, set[str]]:
        """``{worker: DAG run ids of dag_id}`` whose tasks the worker received, from its log (every workload
        the worker executes is logged with its task instance)."""
        pattern = re.compile(rf"dag_id='{re.escape(dag_id)}'.*?run_id='([^']+)'")
        return {worker: set(pattern.findall(self.components[worker].log_tail(10_000_000))) for worker in WORKERS}

    def wait_for_try(
        self, dag_id: str, run_id: str, task_id: str, try_number: int, state: str, *, timeout: float
    ) -> dict[str, Any]:
        """Wait until the task instance is at try ``try_number`` and in ``state``; ``AssertionError`` if that try
        ends in another state."""

        def reached() -> dict[str, Any] | None:
            self.check_running()
            ti = self.api.task_instance(dag_id, run_id, task_id)
            if ti["try_number"] >= try_number and ti["state"] in TERMINAL_TI_STATES - {state}:
                raise AssertionError(
                    f"{task_id} try {ti['try_number']} ended {ti['state']}\n{self.run_report(dag_id, run_id)}"
                )
            return ti if (ti["try_number"], ti["state"]) == (try_number, state) else None

        return wait_until(
            reached,
            timeout=timeout,
            interval=0.25,
            what=f"{dag_id}/{run_id}/{task_id} try {try_number} {state}",
            diagnostics=lambda: self.run_report(dag_id, run_id),
        )


def start_services(root: Path) -> tuple[PostgresServer, RedisServer, float]:
    """PostgreSQL and Redis for a :class:`CeleryDeployment` (stop them with :func:`stop_services`); the seconds
    they took to start."""
    began = time.monotonic()
    postgres, redis = PostgresServer(root), RedisServer(root / "redis")
    try:
        postgres.start()
        redis.start()
    except BaseException:
        stop_services(postgres, redis)
        raise
    return postgres, redis, time.monotonic() - began


def stop_services(postgres: PostgresServer, redis: RedisServer) -> list[str]:
    """Stop Redis and PostgreSQL; descriptions of any of their processes still alive (should be none)."""
    redis.stop()
    postgres.stop()
    return [f"{p.pid} {p.name()}" for c in (redis.component, postgres.component) for p in c.members()]
