"""One batch per task instance when the worker dies (issue 17), with real processes: the task process of a
:class:`~runtype_provider.operators.batches.RuntypeRunBatchOperator` (synchronous wait, ``retries=1``) is SIGKILLed

* inside ``POST /v1/batch/flow``: the local Runtype's ``slow`` fault with ``after_effect`` creates the batch at once
  and holds the answer; the kill comes while the request log shows the request unanswered. Airflow 3.3+: the retry
  finds the intent (no batch id) in the task state store and adopts the batch through ``GET /v1/batch/summary``;
  with a look-alike batch (same flow, same size, submitted by someone else) the summary cannot tell them apart, and
  ``on_unknown_submission`` decides: ``"fail"`` fails the retry without submitting, ``"resubmit"`` submits again.
  Airflow 3.1 (no store): the retry submits a second batch, whatever ``on_unknown_submission`` says;
* after the POST, while the task polls the batch: Airflow 3.3+: the retry re-attaches to the stored batch id (one
  batch); 3.1: the retry submits a second batch and the first one goes on (no cancel: SIGKILL runs no ``on_kill``),
  the doubling the operator's docstring documents.

One SQLite deployment (LocalExecutor) for the module; every scenario submits to a flow of its own. Batches last an
hour (``running_seconds``, restored afterwards) and are ended by the test (``advance_clock``) once the retry waits.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from .conftest import AIRFLOW_3_3_PLUS
from .harness import AirflowDeployment, LocalRuntypeProcess, wait_until
from .test_task_interruptions import LONG_RUN, Timeline, batch_calls, finish_on_try_2, task_processes, xcom_or_none

pytestmark = pytest.mark.deployment

FAIL_DAG = "runtype_deployment_batch_retry"  # on_unknown_submission="fail" (the default)
RESUBMIT_DAG = "runtype_deployment_batch_retry_resubmit"
HOLD = 60.0
"""Seconds the ``slow`` fault holds the POST's answer: longer than the client's request timeout (30 s), so no answer
can reach try 1 in time; the kill comes as soon as the request log shows the request held."""


@pytest.fixture(scope="module")
def hour_long_batches(runtype_local: LocalRuntypeProcess) -> Iterator[None]:
    """Batches submitted while the module runs last an hour; the server's settings and faults are restored after."""
    before = runtype_local.admin("GET", "config")["running_seconds"]
    runtype_local.configure(running_seconds=LONG_RUN)
    try:
        yield
    finally:
        runtype_local.admin("DELETE", "faults")
        runtype_local.configure(running_seconds=before)


def submissions(runtype: LocalRuntypeProcess, flow_id: str) -> list[dict[str, Any]]:
    """The ``POST /v1/batch/flow`` requests for ``flow_id`` (each reached the server with a valid body: one batch)."""
    return [r for r in runtype.calls("submit_batch") if (r["body"] or {}).get("flowId") == flow_id]


def active_batches(runtype: LocalRuntypeProcess, flow_id: str) -> list[str]:
    """Ids of the flow's batches that are queued or running (the summary names a flow ``Flow <id>``)."""
    summary = runtype.api("GET", "batch/summary")
    return [b["id"] for b in summary["batches"] if b["flowName"] == f"Flow {flow_id}"]


def trigger(deployment: AirflowDeployment, dag_id: str, flow_id: str, size: int) -> tuple[str, dict]:
    """Trigger a DAG run submitting ``size`` records to ``flow_id``; its run id and try 1 once running."""
    deployment.wait_for_dag(dag_id)
    conf = {"flow_id": flow_id, "record_ids": [f"rec_{flow_id}_{n}" for n in range(size)]}
    run_id = deployment.api.trigger_dag_run(dag_id, conf)
    ti = deployment.wait_for_task_state(dag_id, run_id, "run", "running", timeout=300)
    assert ti["try_number"] == 1, ti
    return run_id, ti


def kill_task_process(deployment: AirflowDeployment, ti_id: str, timeline: Timeline) -> None:
    """SIGKILL the task process of ``ti_id`` (LocalExecutor worker -> supervisor -> task) and wait until it is gone."""
    victims = wait_until(
        lambda: task_processes(deployment, ti_id),
        timeout=120,
        interval=0.1,
        what=f"task process of {ti_id}",
        diagnostics=deployment.diagnostics,
    )
    for process in victims:
        process.send_signal(signal.SIGKILL)
    timeline.mark(f"SIGKILLed task process {[p.pid for p in victims]}")
    wait_until(
        lambda: not [p for p in victims if alive(p)],
        timeout=60,
        interval=0.1,
        what=f"task process {[p.pid for p in victims]} gone after SIGKILL",
    )


def alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE  # a zombie is dead, only not yet reaped by its supervisor
    except psutil.NoSuchProcess:
        return False


def task_log(deployment: AirflowDeployment, dag_id: str, run_id: str, attempt: int | None = None) -> str:
    """The task's log (every attempt, or attempt ``attempt`` only)."""
    if attempt is None:
        return deployment.task_logs(dag_id, run_id, chars=200_000)
    path = deployment.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / "task_id=run" / f"attempt={attempt}.log"
    return path.read_text(errors="replace")


# --------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("hour_long_batches")
@pytest.mark.parametrize(
    ("dag_id", "lookalike"),
    [(FAIL_DAG, False), (FAIL_DAG, True), (RESUBMIT_DAG, True)],
    ids=["adopt", "lookalike-fail", "lookalike-resubmit"],
)
def test_worker_killed_inside_the_post(
    airflow_deployment: AirflowDeployment, runtype_local: LocalRuntypeProcess, dag_id: str, lookalike: bool
) -> None:
    """The batch is created, the answer never reaches try 1 (SIGKILLed while the POST is held open)."""
    deployment, api = airflow_deployment, airflow_deployment.api
    mode = "resubmit" if dag_id == RESUBMIT_DAG else "fail"
    flow_id = f"flow_deploy_in_post_{mode}_{'lookalike' if lookalike else 'alone'}"
    size = 7 if lookalike else 5
    timeline = Timeline(f"batch task SIGKILLed inside the POST (on_unknown_submission={mode!r}, lookalike={lookalike})")
    others: list[str] = []
    if lookalike:  # someone else's batch of the same flow and size, started just before: the summary cannot tell
        others.append(
            runtype_local.api(
                "POST", "batch/flow", {"flowId": flow_id, "recordIds": [f"other_{n}" for n in range(size)]}
            )["batchExecutionId"]
        )
        timeline.mark(f"look-alike batch {others[0]} submitted")
    runtype_local.admin(
        "POST", "faults", {"operation": "submit_batch", "kind": "slow", "delay": HOLD, "after_effect": True}
    )
    run_id, ti = trigger(deployment, dag_id, flow_id, size)

    # The POST reached the local Runtype, the batch exists, the answer is held back.
    held = wait_until(
        lambda: [r for r in submissions(runtype_local, flow_id) if r["fault"] == "slow" and r["status"] is None],
        timeout=300,
        interval=0.1,
        what="try 1's POST /v1/batch/flow held by the slow fault",
        diagnostics=lambda: deployment.run_report(dag_id, run_id),
    )
    assert len(held) == 1, held
    created = wait_until(
        lambda: [b for b in active_batches(runtype_local, flow_id) if b not in others],
        timeout=60,
        interval=0.1,
        what="the held POST's batch in the summary",
    )
    assert len(created) == 1, created
    batch_id = created[0]
    timeline.mark(f"try 1 inside the POST, batch {batch_id} created, answer held")
    kill_task_process(deployment, ti["id"], timeline)
    at_kill = len(runtype_local.requests())
    unanswered = [r for r in submissions(runtype_local, flow_id) if r["fault"] == "slow"]
    assert [r["status"] for r in unanswered] == [None], f"the held POST was answered before the kill: {unanswered}"

    expect_failure = AIRFLOW_3_3_PLUS and lookalike and mode == "fail"
    if not expect_failure:  # try 2 pushes its batch (try 1 died before pushing anything); then the batch may end
        reference = wait_until(
            lambda: xcom_or_none(deployment, dag_id, run_id, "run_reference"),
            timeout=300,
            interval=0.25,
            what="try 2's run reference",
            diagnostics=lambda: deployment.run_report(dag_id, run_id),
        )
        timeline.mark(f"try 2 waits for batch {reference['batch_execution_id']}")
        runtype_local.advance_clock(LONG_RUN)
    run = deployment.wait_for_run(dag_id, run_id, timeout=300, states=("failed",) if expect_failure else ("success",))
    timeline.mark(f"DAG run {run['state']}")
    timeline.report()

    final = api.task_instance(dag_id, run_id, "run")
    assert final["try_number"] == 2, final
    first = task_log(deployment, dag_id, run_id, attempt=1)
    assert "Runtype batch" not in first, f"try 1 learned its batch id, so it was not killed inside the POST:\n{first}"
    posts = submissions(runtype_local, flow_id)
    log = task_log(deployment, dag_id, run_id)
    after_kill = runtype_local.requests()[at_kill:]
    if not AIRFLOW_3_3_PLUS:  # no task state store: the retry knows nothing of try 1 and submits again
        assert len(posts) == 2 + len(others), posts
        assert api.xcom(dag_id, run_id, "run")["batch_execution_id"] not in (batch_id, *others)
        assert not [r for r in after_kill if r["operation"] == "get_batch_summary"], "3.1 has nothing to reconcile"
        return
    assert any(r["operation"] == "get_batch_summary" for r in after_kill), "try 2 did not read the batch summary"
    if not lookalike:
        assert len(posts) == 1, posts
        outcome = api.xcom(dag_id, run_id, "run")
        assert (outcome["batch_execution_id"], outcome["status"]) == (batch_id, "completed")
        assert f"Adopting batch {batch_id}" in log, log[-3000:]
    elif mode == "fail":
        assert len(posts) == 2, posts  # the held one and the look-alike: the retry submitted nothing
        assert final["state"] == "failed"
        assert "no single matching batch is in Runtype's batch summary" in log, log[-3000:]
        assert "on_unknown_submission='resubmit'" in log
    else:
        assert len(posts) == 3, posts  # the held one, the look-alike, and the retry's own
        assert api.xcom(dag_id, run_id, "run")["batch_execution_id"] not in (batch_id, *others)
        assert "resubmitting as asked" in log, log[-3000:]


@pytest.mark.usefixtures("hour_long_batches")
def test_worker_killed_after_the_post_while_waiting(
    airflow_deployment: AirflowDeployment, runtype_local: LocalRuntypeProcess
) -> None:
    """Try 1 submitted and polls its batch; SIGKILLed. 3.3+: the retry re-attaches (one batch); 3.1: a second batch,
    and the first goes on (SIGKILL runs no ``on_kill``, so nothing cancels it): billed twice."""
    deployment, api, dag_id = airflow_deployment, airflow_deployment.api, FAIL_DAG
    flow_id = "flow_deploy_after_post"
    timeline = Timeline("batch task SIGKILLed after the POST, during its synchronous wait")
    run_id, ti = trigger(deployment, dag_id, flow_id, 6)
    reference = wait_until(
        lambda: xcom_or_none(deployment, dag_id, run_id, "run_reference"),
        timeout=300,
        interval=0.2,
        what="try 1's run reference",
        diagnostics=lambda: deployment.run_report(dag_id, run_id),
    )
    batch_id = reference["batch_execution_id"]
    wait_until(
        lambda: len(batch_calls(runtype_local, "get_batch_status", batch_id)) >= 2,
        timeout=300,
        interval=0.2,
        what="try 1 polls its batch",
        diagnostics=lambda: deployment.run_report(dag_id, run_id),
    )
    timeline.mark(f"try 1 polls batch {batch_id}")
    kill_task_process(deployment, ti["id"], timeline)
    at_kill = len(runtype_local.requests())

    finish_on_try_2(
        deployment, runtype_local, timeline, dag_id, run_id,
        lambda: (
            batch_calls(runtype_local, "get_batch_status", batch_id, since=at_kill)
            or len(submissions(runtype_local, flow_id)) > 1
        ),
    )  # fmt: skip
    posts = submissions(runtype_local, flow_id)
    outcome = api.xcom(dag_id, run_id, "run")
    assert outcome["status"] == "completed"
    assert batch_calls(runtype_local, "cancel_batch", batch_id) == []
    log = task_log(deployment, dag_id, run_id)
    if AIRFLOW_3_3_PLUS:
        assert len(posts) == 1, posts
        assert outcome["batch_execution_id"] == batch_id
        assert f"Re-attaching to batch {batch_id}" in log, log[-3000:]
    else:  # the documented doubling: two batches of the same records, both run to the end
        assert len(posts) == 2, posts
        assert outcome["batch_execution_id"] != batch_id
        assert runtype_local.api("GET", f"batch/status/{batch_id}")["status"] == "completed"
        assert "Re-attaching" not in log
