"""The goal table of ``make bench``: every goal row the benchmark scripts appended to one file, with its target,
the measured value and whether it holds, and the machine's cores and load.

Usage: python scripts/bench_goals.py GOALS_FILE (JSON Lines written by ``bench_common.record_goal``)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench_common import machine


def main() -> None:
    path = Path(sys.argv[1])
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    print(f"\nGoals of issue 18, measured in this `make bench` run ({machine()}):")
    width = max([len(r["goal"]) for r in rows] + [4])
    print(f"  {'goal':<{width}}  {'target':>10}  {'measured':>10}  verdict")
    for row in rows:
        value = f"{row['measured']:.3g}{row['unit']}"
        verdict = "HOLDS" if row["holds"] else "MISSES"
        note = f"  ({row['note']})" if row.get("note") else ""
        print(f"  {row['goal']:<{width}}  {row['target']:>10}  {value:>10}  {verdict}{note}")
    held = sum(r["holds"] for r in rows)
    print(f"  {held} of {len(rows)} hold")


if __name__ == "__main__":
    main()
