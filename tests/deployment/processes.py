"""Processes the deployment tests start, and how every one of them is found and ended.

Process ownership. Every component starts in a session of its own (``start_new_session``), and every
process it ever forks stays in that session: Airflow calls ``setpgid`` for task processes (3.3) but never
``setsid``, and orphans keep their session when they are re-parented. So "all processes of a component"
is "every live process whose session id is the component's pid" (:func:`session_members`); that finds
LocalExecutor workers, task supervisors and task processes in their own process groups, Celery's pool
workers, the triggerer's runner and the dag-processor's parsers, even after their parent died.

One exception: PostgreSQL's children call ``setsid()`` themselves (``InitPostmasterChild``), so each
backend, autovacuum worker and background process is a session of its own. A component started with
``track_descendants=True`` (the database server) also counts the descendants of its main process, and
remembers each one it saw, so one that outlives its parent is still found.

Stopping sends SIGTERM (or the component's ``stop_signal``) to the component's main process (as docker,
Kubernetes and systemd's ``KillMode=mixed`` do; signalling the whole group made the triggerer wait 10 s for
its runner), waits for every member to exit, then SIGKILLs whatever is left after a timeout;
:meth:`Component.kill` SIGKILLs every member at once (a crash).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil
import requests

VENV_BIN = Path(sys.executable).parent
AIRFLOW = str(VENV_BIN / "airflow")
LOOPBACK = "127.0.0.1"

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


def alive(process: psutil.Process) -> bool:
    """``process`` (the very one: psutil checks its start time) still runs and is not a zombie."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


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
    return kill_all(lambda: session_members(sid), f"session {sid}", timeout=timeout)


def kill_all(members: Callable[[], list[psutil.Process]], what: str, *, timeout: float = 10.0) -> list[int]:
    """SIGKILL ``members()`` until it is empty; the pids killed. ``RuntimeError`` if some survive ``timeout`` s."""
    killed: list[int] = []
    deadline = time.monotonic() + timeout
    while found := members():
        for process in found:
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                process.send_signal(signal.SIGKILL)
                killed.append(process.pid)
        psutil.wait_procs(found, timeout=1)
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes of {what} survive SIGKILL: {describe(members())}")
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
    track_descendants: bool = False  # its children leave the session (PostgreSQL's call setsid())
    generation: int = 0
    expected_down: bool = False  # stopped or killed on purpose: not an unexpected exit
    sessions: list[int] = field(default_factory=list)  # every session this component ever had
    seen: dict[int, psutil.Process] = field(default_factory=dict)  # descendants seen (track_descendants)

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
        """Live processes of every session this component ever had (the current one and earlier ones) and,
        with ``track_descendants``, every live descendant of its main process seen so far."""
        found = {p.pid: p for sid in self.sessions for p in session_members(sid)}
        if self.track_descendants:
            if self.running and self.pid is not None:
                with contextlib.suppress(psutil.Error):
                    for child in psutil.Process(self.pid).children(recursive=True):
                        self.seen.setdefault(child.pid, child)
            for pid, process in list(self.seen.items()):
                if alive(process):
                    found.setdefault(pid, process)
                else:
                    del self.seen[pid]
        return list(found.values())

    def owns(self, process: psutil.Process) -> bool:
        """``process`` is (or was forked by) this component: in one of its sessions or below its main process."""
        with contextlib.suppress(psutil.Error, OSError):
            if os.getsid(process.pid) in self.sessions or process.pid in self.seen:
                return True
            return self.pid is not None and any(parent.pid == self.pid for parent in process.parents())
        return False

    def kill(self) -> list[int]:
        """SIGKILL the component and everything it forked, at once (a crash); returns the pids killed."""
        killed = kill_all(self.members, self.name)
        if self.popen is not None:
            self.popen.wait(timeout=10)
        return killed

    def stop(self, timeout: float = 15.0) -> None:
        """Send ``stop_signal`` to the main process, wait up to ``timeout`` s for every member (the main process
        and what it forked) to exit, then SIGKILL the rest."""
        if self.running and self.popen is not None:
            members = self.members()  # also remembers the descendants, before the main process can exit
            self.popen.send_signal(self.stop_signal)  # the main process: it stops its own children
            for process in members:  # a paused (SIGSTOPped) component could not stop
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
    """Stop components together: send every main process its stop signal at once, wait up to ``timeout`` s
    for all their members to end, then SIGKILL whatever is left. Returns the seconds each took to end."""
    began = time.monotonic()
    for component in components:
        component.expected_down = True
        members = component.members()
        if component.running and component.popen is not None:
            component.popen.send_signal(component.stop_signal)  # the main process, as systemd/k8s/docker do
        for process in members:  # a paused (SIGSTOPped) component could not stop
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
