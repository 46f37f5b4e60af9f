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

Bytecode is cached as in an installed package: our sources are compiled first (``compileall``), the check that
every timed module of ours has a current ``.pyc`` is printed, and one untimed warm-up process per target runs
before the rounds. Prints min / median / max wall and median CPU per target, and the ratio of our median to
dbt Cloud's (with the range of per-round ratios). Usage: python scripts/bench_import.py [--rounds 25]
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
import airflow.sdk
from airflow.sdk import BaseOperator, BaseSensorOperator
before = len(sys.modules)
wall, cpu = time.perf_counter(), time.process_time()
for name in sys.argv[1:]:
    __import__(name)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({"wall": wall, "cpu": cpu, "modules": len(sys.modules) - before}))
"""


def sample(modules: tuple[str, ...], env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", SAMPLE, *modules], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"importing {', '.join(modules)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cached_bytecode(modules: tuple[str, ...], env: dict[str, str]) -> tuple[int, int]:
    """(our modules with a current .pyc, our modules) among those that importing ``modules`` loads."""
    code = "import json, sys; [__import__(m) for m in sys.argv[1:]]; print(json.dumps(sorted(sys.modules)))"
    listing = subprocess.check_output([sys.executable, "-c", code, *modules], env=env, text=True)
    names = json.loads(listing.strip().splitlines()[-1])
    ours = [n for n in names if n.split(".")[0] == "runtype_provider"]
    fresh = 0
    for name in ours:
        spec = importlib.util.find_spec(name)
        source = Path(spec.origin) if spec and spec.origin else None
        if source and source.suffix == ".py":
            pyc = Path(importlib.util.cache_from_source(str(source)))
            fresh += pyc.exists() and pyc.stat().st_mtime >= source.stat().st_mtime
    return fresh, len(ours)


def summary(values: list[float]) -> str:
    return f"{min(values) * 1e3:6.1f} {statistics.median(values) * 1e3:6.1f} {max(values) * 1e3:6.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args()
    env = dict(os.environ, AIRFLOW_HOME=tempfile.mkdtemp(prefix="bench-import-"), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ.update(AIRFLOW_HOME=env["AIRFLOW_HOME"], AIRFLOW__CORE__LOAD_EXAMPLES="False")  # find_spec below
    package = Path(importlib.util.find_spec("runtype_provider").origin).parent  # type: ignore[union-attr,arg-type]
    compileall.compile_dir(str(package), quiet=1)
    targets = {
        name: modules
        for name, modules in TARGETS.items()
        if name not in OPTIONAL or importlib.util.find_spec(modules[0].rsplit(".", 2)[0]) is not None
    }
    for modules in targets.values():
        sample(modules, env)  # warm-up: OS file cache, and any .pyc not written yet
    fresh, ours = cached_bytecode(RUNTYPE, env)
    from airflow import __version__ as airflow_version

    print(f"Python {sys.version.split()[0]}, Airflow {airflow_version}, {os.cpu_count()} cores, {args.rounds} rounds")
    print(f"runtype_provider modules loaded by the operators and sensor with a current .pyc: {fresh}/{ours}")

    samples: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    names = list(targets)
    for round_ in range(args.rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            samples[name].append(sample(targets[name], env))

    print()
    print("Import time over airflow.sdk + BaseOperator, in-process (ms)")
    print(f"{'target':>13}  {'min':>6} {'median':>6} {'max':>6}  {'CPU med':>7}  modules")
    for name, rows in samples.items():
        walls = [row["wall"] for row in rows]
        cpu = statistics.median(row["cpu"] for row in rows)
        loaded = sorted({int(row["modules"]) for row in rows})
        print(f"{name:>13}  {summary(walls)}  {cpu * 1e3:7.1f}  {'/'.join(map(str, loaded))}")
    ours_wall = [row["wall"] for row in samples["runtype"]]
    dbt_wall = [row["wall"] for row in samples["dbt-cloud"]]
    per_round = [a / b for a, b in zip(ours_wall, dbt_wall, strict=True)]
    print()
    print(
        f"runtype / dbt-cloud: {statistics.median(ours_wall) / statistics.median(dbt_wall):.3f} of the median "
        f"(per round {min(per_round):.3f} to {max(per_round):.3f}); goal: runtype median under 20 ms -> "
        + ("met" if statistics.median(ours_wall) < 0.020 else "NOT met")
    )


if __name__ == "__main__":
    main()
