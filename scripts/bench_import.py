"""Benchmark: what importing the operators and the sensor adds to DAG parsing, timed in-process.

Each sample is a fresh interpreter that first imports ``airflow.sdk`` and ``BaseOperator`` /
``BaseSensorOperator`` (what any DAG file pays anyway), then times only the ``import`` of the target modules
with ``time.perf_counter`` (wall) and ``time.process_time`` (CPU), and counts the modules that import loaded.
Targets, measured in the same run, rounds interleaved (every target once per round, order rotated):

* ``runtype``: ``runtype_provider.operators.runtype``, ``runtype_provider.operators.schedules``,
  ``runtype_provider.sensors.runtype`` (the goal: under 20 ms);
* ``dbt-cloud``: ``airflow.providers.dbt.cloud.operators.dbt`` and ``…sensors.dbt`` (the peer baseline);
* ``runtype hook``: ``runtype_provider.hooks.runtype`` alone (for a ``@task`` that uses the hook);
* ``http`` (when installed): ``airflow.providers.http.operators.http`` and ``…sensors.http``.

Bytecode is cached as in an installed package: our sources are compiled first (``compileall``) and one untimed
warm-up process per target runs before the rounds; how many of the modules each target loads have a current
``.pyc`` is counted and printed. Prints min / median /
max of wall and CPU time per target (on a loaded machine wall time includes waiting for a core, CPU time does
not; the load average is printed), the baseline itself, and the ratio of our median to dbt Cloud's with the
range of per-round ratios. Usage: python scripts/bench_import.py [--rounds 25]
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

RUNTYPE = (
    "runtype_provider.operators.runtype",
    "runtype_provider.operators.schedules",
    "runtype_provider.sensors.runtype",
)
TARGETS = {
    "runtype": RUNTYPE,
    "dbt-cloud": ("airflow.providers.dbt.cloud.operators.dbt", "airflow.providers.dbt.cloud.sensors.dbt"),
    "runtype hook": ("runtype_provider.hooks.runtype",),
    "http": ("airflow.providers.http.operators.http", "airflow.providers.http.sensors.http"),
}
OPTIONAL = {"http"}
SAMPLE = r"""
import json, sys, time
wall, cpu = time.perf_counter(), time.process_time()
import airflow.sdk
from airflow.sdk import BaseOperator, BaseSensorOperator
base = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
before = set(sys.modules)
wall, cpu = time.perf_counter(), time.process_time()
for name in sys.argv[1:]:
    __import__(name)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
files = [getattr(sys.modules[name], "__file__", None) for name in set(sys.modules) - before]
print(json.dumps({"wall": wall, "cpu": cpu, "base": base, "files": sorted(f for f in files if f)}))
"""


def sample(modules: tuple[str, ...], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", SAMPLE, *modules], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"importing {', '.join(modules)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def has_current_pyc(source: str) -> bool:
    """The source's cached bytecode exists and was compiled from this very file (timestamp-based .pyc header)."""
    try:
        header = Path(importlib.util.cache_from_source(source)).read_bytes()[:16]
        stat = os.stat(source)
    except (OSError, ValueError):
        return False
    flags = int.from_bytes(header[4:8], "little")
    if flags & 1:  # hash-based .pyc: cached, checked by hash
        return True
    mtime, size = int.from_bytes(header[8:12], "little"), int.from_bytes(header[12:16], "little")
    return mtime == int(stat.st_mtime) & 0xFFFFFFFF and size == stat.st_size & 0xFFFFFFFF


def stats(values: list[float]) -> str:
    return f"{min(values) * 1e3:6.1f} {statistics.median(values) * 1e3:6.1f} {max(values) * 1e3:6.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="bench-import-")
    os.environ.update(AIRFLOW_HOME=home, AIRFLOW__CORE__LOAD_EXAMPLES="False")  # also for find_spec below
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    package = importlib.util.find_spec("runtype_provider")
    assert package is not None and package.origin is not None
    compileall.compile_dir(str(Path(package.origin).parent), quiet=1)
    if importlib.util.find_spec("airflow.providers.dbt.cloud") is None:
        raise SystemExit("the baseline needs apache-airflow-providers-dbt-cloud (in the test extra)")
    targets = {
        name: modules
        for name, modules in TARGETS.items()
        if name not in OPTIONAL or importlib.util.find_spec(modules[0].rsplit(".", 2)[0]) is not None
    }
    warm = {name: sample(modules, env) for name, modules in targets.items()}  # OS file cache, any .pyc not written
    from airflow import __version__ as airflow_version

    print(f"Python {sys.version.split()[0]}, Airflow {airflow_version}, {os.cpu_count()} cores, {args.rounds} rounds")
    print(
        "Modules each target loads with current cached bytecode (.pyc): "
        + ", ".join(
            f"{name} {sum(map(has_current_pyc, [f for f in row['files'] if f.endswith('.py')]))}/"
            f"{sum(f.endswith('.py') for f in row['files'])}"
            for name, row in warm.items()
        )
    )
    load_before = os.getloadavg()[0]

    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    names = list(targets)
    for round_ in range(args.rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            samples[name].append(sample(targets[name], env))

    print(f"Load average (1 min) {load_before:.1f} before the rounds, {os.getloadavg()[0]:.1f} after")
    print()
    print("Import time over airflow.sdk + BaseOperator, in-process, ms (wall: perf_counter; CPU: process_time)")
    print(
        f"{'target':>13}  {'wall min':>8} {'median':>6} {'max':>6}   {'CPU min':>7} {'median':>6} {'max':>6}  modules"
    )
    for name, rows in samples.items():
        walls, cpus = [row["wall"] for row in rows], [row["cpu"] for row in rows]
        loaded = "/".join(map(str, sorted({len(row["files"]) for row in rows})))
        print(f"{name:>13}    {stats(walls)}    {stats(cpus)}  {loaded}")
    base = [row["base"]["wall"] for rows in samples.values() for row in rows]
    base_cpu = [row["base"]["cpu"] for rows in samples.values() for row in rows]
    print(f"{'(baseline)':>13}  {stats(base)}    {stats(base_cpu)}  airflow.sdk + BaseOperator themselves")
    print()
    for clock in ("wall", "cpu"):
        ours = [row[clock] for row in samples["runtype"]]
        peer = [row[clock] for row in samples["dbt-cloud"]]
        per_round = [a / b for a, b in zip(ours, peer, strict=True)]
        median = statistics.median(ours)
        print(
            f"{clock:>4}: runtype / dbt-cloud = {median / statistics.median(peer):.3f} of the median "
            f"(per round {min(per_round):.3f} to {max(per_round):.3f}); runtype median {median * 1e3:.1f} ms, "
            f"goal under 20 ms: {'met' if median < 0.020 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
