"""The harness's process handling: it finds and ends every process a component forks, wherever it went."""

from __future__ import annotations

import os
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
    wait_until(lambda: "forked" in component.log_tail(), timeout=10, interval=0.05, what="forker forked")
    wait_until(lambda: len(component.members()) == 3, timeout=10, interval=0.05, what="three processes")
    return component


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
