"""Benchmark: what importing the hook module adds on top of ``import airflow.sdk`` (DAG parsing cost).

Runs fresh interpreters alternately (baseline, then baseline + hook) and prints the medians, the
difference, and the ratio, measured in the same run. Usage: python scripts/bench_import.py [runs]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile

BASELINE = "import airflow.sdk"
TARGETS = {
    "hook": "import airflow.sdk; import runtype_provider.hooks.runtype",
    "operators": "import airflow.sdk; import runtype_provider.operators.runtype, runtype_provider.sensors.runtype",
}


def measure(statement: str, env: dict[str, str]) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    env = dict(os.environ, AIRFLOW_HOME=tempfile.mkdtemp(prefix="bench-import-"), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    for statement in (BASELINE, *TARGETS.values()):  # warm .pyc caches
        measure(statement, env)
    samples: dict[str, list[float]] = {"baseline": [], **{name: [] for name in TARGETS}}
    for _ in range(runs):
        samples["baseline"].append(measure(BASELINE, env))
        for name, statement in TARGETS.items():
            samples[name].append(measure(statement, env))
    base = statistics.median(samples["baseline"])
    print(f"runs: {runs}; median import airflow.sdk: {base * 1000:.0f} ms")
    for name in TARGETS:
        median = statistics.median(samples[name])
        print(
            f"{name:>9}: median {median * 1000:.0f} ms, adds {(median - base) * 1000:+.0f} ms "
            f"(ratio {median / base:.3f} of the baseline)"
        )


if __name__ == "__main__":
    main()
