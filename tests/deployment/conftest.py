"""Deployment tests: real Airflow services (api-server, scheduler with LocalExecutor, dag-processor,
triggerer) against the local Runtype in its own process, all on 127.0.0.1. See ``harness.py``.

Which database:

* ``airflow_deployment``: SQLite. Airflow 3.1 and 3.3 accept SQLite with the LocalExecutor (there is
  no executor/database check left in 3.x; tasks reach the database only through the API server) and
  ``airflow standalone`` runs exactly that. Fast to start; right for one scheduler and one triggerer.
* ``airflow_deployment_postgres``: PostgreSQL (Debian's ``postgresql``, started by the harness). Needed
  for several triggerers: Airflow hands triggers out with ``SELECT ... FOR UPDATE SKIP LOCKED``, which is
  a no-op on SQLite, so two triggerers on SQLite can claim the same trigger (seen here: one trigger
  started in both triggerers; on 3.3.2 the loser's cancellation went through ``on_kill`` and cancelled
  the remote run).

Both are module-scoped, so at most one deployment runs at a time, and each is stopped, with every
process it started, before the next module or the rest of the suite runs. Startup and stop times are
printed in the terminal summary; no test asserts a wall-clock time (waits are for conditions, with generous
bounds). ``test_celery_executor.py`` has a CeleryExecutor deployment of its own (``celery_deployment.py``).
"""

from __future__ import annotations

import importlib.metadata
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest
from packaging.version import Version

from .harness import AirflowDeployment, LocalRuntypeProcess, PostgresServer

WAIT_AND_RESULTS_DAG = "runtype_deployment_wait_and_results"
MANY_DEFERRED_DAG = "runtype_deployment_many_deferred"
DAG_IDS = (WAIT_AND_RESULTS_DAG, MANY_DEFERRED_DAG)
AIRFLOW_VERSION = importlib.metadata.version("apache-airflow")
AIRFLOW_3_3_PLUS = Version(Version(AIRFLOW_VERSION).base_version) >= Version("3.3.0")
REPORT: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "deployment: runs real Airflow scheduler, dag-processor, triggerer and api-server processes "
        "against the local Runtype (tests/deployment)",
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT:
        terminalreporter.section(f"Airflow {AIRFLOW_VERSION} deployment tests")
        for line in REPORT:
            terminalreporter.write_line(line)


def assert_listening_only_on_loopback(deployment: AirflowDeployment, runtype: LocalRuntypeProcess) -> None:
    """Every listening socket (Airflow, its database and broker, runtype-local) is on 127.0.0.1. How long startup
    took is printed in the terminal summary, never asserted (a loaded machine is slow, not wrong)."""
    listening = deployment.listening(extra=[runtype.component])
    assert {ip for _, ip, _ in listening} == {"127.0.0.1"}, listening
    assert ("api-server", "127.0.0.1", deployment.api_port) in listening
    assert ("runtype-local", "127.0.0.1", runtype.port) in listening
    for server in deployment.servers:
        assert any(name == server.name for name, _, _ in listening), listening


def report(line: str) -> None:
    """Add a line to the terminal summary (timings, timelines)."""
    REPORT.append(line)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="package")
def runtype_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRuntypeProcess]:
    """The local Runtype as a process of its own (``python -m runtype_provider.testing.cli``).

    While it lives (and with it every deployment), SIGTERM to pytest (a CI timeout) becomes
    KeyboardInterrupt, so pytest still runs the fixtures' teardown and every process gets stopped."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    server = LocalRuntypeProcess(tmp_path_factory.mktemp("runtype-local"))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
    assert not server.component.members(), "runtype-local left processes behind"


def run_deployment(
    deployment: AirflowDeployment, label: str, extra_startup: float = 0.0, dag_ids: tuple[str, ...] = DAG_IDS
) -> Iterator[AirflowDeployment]:
    """Start ``deployment`` (``dag_ids`` parsed), yield it, stop it; fail if any process it started survives."""
    try:
        deployment.start(dag_ids=dag_ids)
        t = deployment.timings
        report(
            f"{label}: ready in {t['startup'] + extra_startup:.1f} s"
            + (f" (database server {extra_startup:.1f} s, " if extra_startup else " (")
            + f"db migrate {t['db_migrate']:.1f} s, services healthy {t['healthy']:.1f} s later, DAGs parsed); "
            f"AIRFLOW_HOME={deployment.home}"
        )
        yield deployment
    finally:
        leftovers = deployment.stop()
        took = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in deployment.stop_times.items())
        report(
            f"{label}: stopped in {deployment.timings.get('stop', 0):.1f} s ({took}), {len(leftovers)} processes left"
        )
    assert not leftovers, f"processes left behind: {leftovers}"


@pytest.fixture(scope="module")
def airflow_deployment(
    tmp_path_factory: pytest.TempPathFactory, runtype_local: LocalRuntypeProcess
) -> Iterator[AirflowDeployment]:
    """Airflow's four services on SQLite, on a fresh AIRFLOW_HOME, DAGs from ``dags/`` parsed."""
    home: Path = tmp_path_factory.mktemp("airflow-home-sqlite")
    yield from run_deployment(AirflowDeployment(home, runtype_local), "SQLite")


@pytest.fixture(scope="module")
def airflow_deployment_postgres(
    tmp_path_factory: pytest.TempPathFactory, runtype_local: LocalRuntypeProcess
) -> Iterator[AirflowDeployment]:
    """Airflow's four services on a PostgreSQL cluster of their own, on a fresh AIRFLOW_HOME."""
    home: Path = tmp_path_factory.mktemp("airflow-home-postgres")
    began = time.monotonic()
    postgres = PostgresServer(home)
    try:
        postgres.start()
        database_ready = time.monotonic() - began
        deployment = AirflowDeployment(
            home, runtype_local, database_url=postgres.url, database_server=postgres.component, parallelism=8
        )
        yield from run_deployment(deployment, "PostgreSQL", extra_startup=database_ready)
    finally:
        postgres.stop()
    assert not postgres.component.members(), "postgres left processes behind"
