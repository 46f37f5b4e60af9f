"""runtype_provider.tasks.base, the lazy door: one hook per task object built from its connection and parameters,
the deferred-wait trigger, and lineage, each loaded only when asked for."""

from __future__ import annotations

import subprocess
import sys

from runtype_provider.hooks.runtype import RuntypeHook
from runtype_provider.tasks.base import HookMixin, run_wait_trigger
from runtype_provider.triggers.runtype import RuntypeScheduleRunTrigger


class Task(HookMixin):
    def __init__(self, conn_id: str, params: dict) -> None:
        self.runtype_conn_id, self.hook_params = conn_id, params


def test_a_task_builds_one_hook_from_its_connection_and_parameters() -> None:
    task = Task("runtype_other", {"timeout": 3.0, "retry_limit": 0})

    hook = task.hook

    assert isinstance(hook, RuntypeHook) and task.hook is hook
    assert hook.runtype_conn_id == "runtype_other"
    assert (hook.overrides["timeout"], hook.overrides["retry_limit"]) == (3.0, 0)
    assert Task("runtype_other", {}).hook is not hook


def test_the_trigger_is_the_stored_classpath_with_the_arguments_given() -> None:
    run = {"schedule_id": "s", "run_id": "r", "batch_execution_id": "b"}

    trigger = run_wait_trigger(run=run, runtype_conn_id="c", poll_interval=7.0)

    assert isinstance(trigger, RuntypeScheduleRunTrigger)
    path, kwargs = trigger.serialize()
    assert path == "runtype_provider.triggers.runtype.RuntypeScheduleRunTrigger"
    assert (kwargs["runtype_conn_id"], kwargs["poll_interval"], kwargs["run"]["batch_execution_id"]) == ("c", 7.0, "b")


def test_importing_the_door_loads_neither_the_hook_nor_the_trigger_nor_lineage() -> None:
    code = (
        "import sys, runtype_provider.tasks.base\n"
        "print(sorted(m for m in ('runtype_provider.hooks.runtype', 'runtype_provider.triggers.runtype',"
        " 'runtype_provider.lineage') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.strip() == "[]"
