"""runtype_provider.operators.base: every Runtype operator carries its connection id and hook parameters into its
one hook, and the XCom keys downstream tasks read are fixed."""

from __future__ import annotations

from runtype_provider import DEFAULT_CONN_ID
from runtype_provider.operators.base import RUN_REFERENCE_KEY, SUMMARY_KEY, RuntypeBaseOperator


def test_an_operator_builds_its_hook_from_its_connection_and_parameters() -> None:
    task = RuntypeBaseOperator(task_id="t", runtype_conn_id="runtype_other", hook_params={"timeout": 2.0})

    assert task.hook is task.hook
    assert (task.hook.runtype_conn_id, task.hook.overrides["timeout"]) == ("runtype_other", 2.0)
    assert RuntypeBaseOperator(task_id="u").hook.runtype_conn_id == DEFAULT_CONN_ID


def test_the_xcom_keys_downstream_tasks_read_do_not_change() -> None:
    assert (RUN_REFERENCE_KEY, SUMMARY_KEY) == ("run_reference", "summary")
