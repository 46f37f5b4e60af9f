"""The harness's process handling: it finds and ends every process a component forks, wherever it went."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from .harness import Component, base_env, session_members, wait_until

pytestmark = pytest.mark.deployment

# A parent that forks a child into a process group of its own (as Airflow 3.3 does for task processes)
# and an orphan (its parent exits at once), then sleeps; with IGNORE_TERM, everything ignores SIGTERM.
FORKER = textwrap.dedent(
    """
    import os, signal, sys, time
    if os.environ.get("IGNORE_TERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if os.fork() == 0:
        os.setpgid(0, 0)
        time.sleep(300)
        os._exit(0)
    if os.fork() == 0:
        if os.fork() == 0:
            time.sleep(300)
            os._exit(0)
        os._exit(0)
    print("forked", flush=True)
    time.sleep(300)
    """
)


def forker(tmp_path: Path, **env: str) -> Component:
    component = Component(
        name="forker",
        argv=[sys.executable, "-c", FORKER],
        env={**base_env(tmp_path), **env},
        log_path=tmp_path / "forker.log",
        cwd=tmp_path,
    )
    component.start()
    wait_until(lambda: "forked" in component.log_tail(), timeout=30, interval=0.05, what="forker forked")
    # Three processes, one of them the orphan (re-parented once its parent exited): not a moment in between, when
    # the orphan's parent still lives (a loaded machine showed that state as "three processes" too).
    wait_until(lambda: settled(component), timeout=30, interval=0.05, what="three processes, the orphan re-parented")
    return component


def settled(component: Component) -> bool:
    members = component.members()
    with contextlib.suppress(psutil.Error):  # a process that exits meanwhile: not settled yet
        return len(members) == 3 and any(p.ppid() != component.pid for p in members)
    return False


def test_kill_ends_every_process_of_the_session_even_in_other_groups_and_orphans(tmp_path: Path) -> None:
    component = forker(tmp_path)
    members = component.members()
    assert component.pid is not None
    assert len({os.getpgid(p.pid) for p in members}) == 2  # the setpgid child left the group
    assert any(p.ppid() != component.pid for p in members)  # the orphan was re-parented

    killed = component.kill()

    assert sorted(killed) == sorted(p.pid for p in members)
    assert not component.members()
    assert not any(psutil.pid_exists(p.pid) and p.status() != psutil.STATUS_ZOMBIE for p in members)
    assert not component.running


def test_stop_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    component = forker(tmp_path, IGNORE_TERM="1")
    members = component.members()

    component.stop(timeout=0.5)

    assert not component.members()
    assert component.pid is not None and not session_members(component.pid)
    assert not any(psutil.pid_exists(p.pid) and p.status() != psutil.STATUS_ZOMBIE for p in members)


# A server whose children leave its session, as PostgreSQL's do (every postmaster child calls setsid()): the
# parent stops its children on SIGINT and exits only after they are gone, like a fast shutdown.
SETSID_SERVER = textwrap.dedent(
    """
    import os, signal, sys, time
    children = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            os.setsid()
            signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
            time.sleep(300)
            os._exit(0)
        children.append(pid)
    def shutdown(*_):
        for pid in children:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
        sys.exit(0)
    signal.signal(signal.SIGINT, shutdown)
    print("forked", flush=True)
    time.sleep(300)
    """
)


def test_a_server_whose_children_call_setsid_is_tracked_and_fully_stopped(tmp_path: Path) -> None:
    component = Component(
        name="setsid-server",
        argv=[sys.executable, "-c", SETSID_SERVER],
        env=base_env(tmp_path),
        log_path=tmp_path / "server.log",
        cwd=tmp_path,
        stop_signal=signal.SIGINT,
        track_descendants=True,
    )
    component.start()
    wait_until(lambda: len(component.members()) == 3, timeout=30, interval=0.05, what="server and two children")
    members = component.members()
    assert component.pid is not None
    assert len(session_members(component.pid)) == 1  # the children are sessions of their own
    assert all(component.owns(p) for p in members)

    component.stop(timeout=10)

    assert not component.members()
    assert not any(psutil.pid_exists(p.pid) and p.status() != psutil.STATUS_ZOMBIE for p in members)
