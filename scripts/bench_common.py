"""Shared by the benchmark scripts: the local Runtype in its own process, and runs seeded on it over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SERVER_PIDS: dict[str, int] = {}
"""The process id of each benchmark server started here, by its URL (for :func:`process_cpu`)."""


@contextmanager
def local_runtype_process() -> Iterator[tuple[str, str]]:
    """``runtype-local`` on a free loopback port in a child process; yields (url, api key)."""
    port_file = Path(tempfile.mkdtemp(prefix="bench-results-port-")) / "port"
    command = Path(sys.executable).parent / "runtype-local"
    args = [str(command), "--port", "0", "--port-file", str(port_file), "--queued-seconds", "0"]
    server = subprocess.Popen([*args, "--running-seconds", "0"], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("runtype-local did not start")
            time.sleep(0.05)
        lines = iter(server.stdout or [])
        key = next(line.split(": ", 1)[1].strip() for line in lines if line.startswith("API key:"))
        admin = next(line.split(": ", 1)[1].strip() for line in lines if line.startswith("Admin token:"))
        os.environ["RUNTYPE_LOCAL_ADMIN_TOKEN"] = admin  # its admin routes take their own (random) token
        url = f"http://127.0.0.1:{port_file.read_text().strip()}"
        SERVER_PIDS[url] = server.pid
        yield url, key
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextmanager
def fast_results_server(
    path: str, pages: list[str], extra: dict[str, str], cycles: dict[str, int] | None = None
) -> Iterator[str]:
    """``bench_server.py`` (recorded pages served from memory) on a free loopback port; yields its URL."""
    folder = Path(tempfile.mkdtemp(prefix="bench-fast-server-"))
    recorded = {"path": path, "pages": pages, "extra": extra, "cycles": cycles or {}}
    (folder / "pages.json").write_text(json.dumps(recorded))
    script = Path(__file__).resolve().parent / "bench_server.py"
    server = subprocess.Popen([sys.executable, str(script), str(folder / "pages.json"), str(folder / "port")])
    try:
        deadline = time.monotonic() + 30
        while not ((folder / "port").exists() and (folder / "port").read_text().strip()):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("bench_server.py did not start")
            time.sleep(0.02)
        url = f"http://127.0.0.1:{(folder / 'port').read_text().strip()}"
        SERVER_PIDS[url] = server.pid
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) process ``pid`` has used, from /proc (10 ms resolution)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


GOALS_ENV = "BENCH_GOALS"
"""Environment variable naming the JSON Lines file where the scripts append their goal rows (``make bench``)."""


def record_goal(name: str, target: str, measured: float, holds: bool, unit: str = "x", note: str = "") -> None:
    """Print one goal row and, when :data:`GOALS_ENV` is set, append it to that file for ``bench_goals.py``."""
    row = {"goal": name, "target": target, "measured": measured, "unit": unit, "holds": holds, "note": note}
    print(f"  GOAL {name}: {measured:.3g}{unit} (target {target}) {'HOLDS' if holds else 'MISSES'} {note}".rstrip())
    if os.environ.get(GOALS_ENV):
        with open(os.environ[GOALS_ENV], "a") as handle:
            handle.write(json.dumps(row) + "\n")


def machine() -> str:
    """Cores and load averages, as the goal tables print them."""
    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"


def admin_headers() -> dict[str, str]:
    """The headers of the local Runtype's admin routes (``/_local/...``), from the token it printed at start."""
    return {"Authorization": f"Bearer {os.environ['RUNTYPE_LOCAL_ADMIN_TOKEN']}"}


def use_connection(url: str, api_key: str) -> None:
    """Point ``runtype_default`` at the local Runtype (env var, no metadata DB)."""
    os.environ["AIRFLOW_CONN_RUNTYPE_DEFAULT"] = json.dumps({"conn_type": "runtype", "host": url, "password": api_key})


def set_latency(url: str, api_key: str, seconds: float) -> None:
    """Make every API answer of the local Runtype wait ``seconds`` (an admin route)."""
    import requests

    answer = requests.put(
        f"{url}/_local/config", json={"latency_seconds": seconds}, headers=admin_headers(), timeout=30
    )
    answer.raise_for_status()
    assert answer.json()["latency_seconds"] == seconds, answer.text


def start_run(url: str, records: int, schedule_id: str, **seed: Any) -> dict[str, Any]:
    """Seed a schedule of ``records`` records (5 % failing) over the admin API and run it; its run reference."""
    import requests

    from runtype_provider.hooks.runtype import RuntypeHook
    from runtype_provider.runs.reference import RunReference

    ids = [f"{schedule_id}_rec_{i:06d}" for i in range(records)]
    body = {"schedule_id": schedule_id, "record_ids": ids, "failing_record_ids": ids[::20], **seed}
    requests.post(f"{url}/_local/schedules", json=body, headers=admin_headers(), timeout=60).raise_for_status()
    started = RuntypeHook().run_schedule_now(schedule_id)
    run = RunReference(schedule_id=schedule_id, run_id=started.run_id, batch_execution_id=started.batch_execution_id)
    return run.to_xcom()


def finished_run(url: str, records: int, schedule_id: str) -> dict[str, Any]:
    """:func:`start_run`, then wait until the run is terminal."""
    from runtype_provider.hooks.runtype import RuntypeHook
    from runtype_provider.runs.reference import RunReference

    run = start_run(url, records, schedule_id)
    hook = RuntypeHook()
    while not hook.get_run_progress(RunReference.coerce(run)).outcome.is_terminal:
        time.sleep(0.05)
    return run


PALETTE = ("#6b7280", "#d97706", "#2563eb", "#059669", "#dc2626")


def write_line_plot(
    path: Path, *, title: str, x_label: str, y_label: str, xs: list[float], series: dict[str, list[float]]
) -> None:
    """A small SVG line chart (one line per series over ``xs``), written without a plotting library."""
    from html import escape

    width, height, left, right, top, bottom = 720, 440, 80, 190, 48, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    x_max = max(xs) or 1.0
    y_top = max(v for values in series.values() for v in values) * 1.1 or 1.0
    magnitude = 10 ** (len(str(int(y_top))) - 1)
    step = next(s * magnitude for s in (0.1, 0.2, 0.25, 0.5, 1, 2) if y_top / (s * magnitude) <= 8)

    def px(x: float) -> float:
        return left + plot_w * x / x_max

    def py(y: float) -> float:
        return top + plot_h * (1 - y / y_top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="15">{escape(title)}</text>',
    ]
    tick = 0.0
    while tick <= y_top:
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{py(tick):.1f}" y2="{py(tick):.1f}" stroke="#e5e7eb"/>'
        )
        parts.append(f'<text x="{left - 8}" y="{py(tick) + 4:.1f}" text-anchor="end">{tick:,.0f}</text>')
        tick += step
    for x in xs:
        parts.append(f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{top}" y2="{top + plot_h}" stroke="#f3f4f6"/>')
        parts.append(f'<text x="{px(x):.1f}" y="{top + plot_h + 18}" text-anchor="middle">{x:g}</text>')
    parts.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#9ca3af"/>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 14}" text-anchor="middle">{escape(x_label)}</text>')
    parts.append(
        f'<text x="18" y="{top + plot_h / 2}" text-anchor="middle" transform="rotate(-90 18 {top + plot_h / 2})">'
        f"{escape(y_label)}</text>"
    )
    for index, (name, values) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, values, strict=True))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
        parts += [
            f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="{colour}"/>'
            for x, y in zip(xs, values, strict=True)
        ]
        ly = top + 16 + 22 * index
        parts.append(
            f'<line x1="{width - right + 14}" x2="{width - right + 38}" y1="{ly}" y2="{ly}" '
            f'stroke="{colour}" stroke-width="2.5"/>'
        )
        parts.append(f'<text x="{width - right + 44}" y="{ly + 4}">{escape(name)}</text>')
    parts.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n")
