"""The hook's retry guarantees over real HTTP, using the local Runtype's fault injection."""

from __future__ import annotations

import pytest

from runtype_provider.exceptions import (
    RuntypeConnectionError,
    RuntypeRateLimitError,
    RuntypeResponseError,
    RuntypeServerError,
)
from runtype_provider.hooks.runtype import RuntypeHook


@pytest.fixture
def runtype(monkeypatch: pytest.MonkeyPatch):
    from runtype_provider.testing import LocalRuntype

    with LocalRuntype(queued_seconds=5, running_seconds=5) as server:
        server.seed_schedule(schedule_id="sch_1", record_ids=["a", "b"])
        monkeypatch.setenv("AIRFLOW_CONN_RUNTYPE_DEFAULT", server.airflow_connection_json())
        yield server


def runs_of(runtype, schedule_id: str = "sch_1") -> int:
    return len(RuntypeHook().list_schedule_runs(schedule_id))


def calls(runtype, operation: str) -> int:
    return sum(r["operation"] == operation for r in runtype.requests)


@pytest.mark.parametrize("kind", ["server_error", "drop"])
def test_run_now_is_not_retried_when_the_server_may_have_started_the_run(runtype, sleeps, kind) -> None:
    runtype.inject_fault("run_schedule_now", kind, after_effect=True)

    with pytest.raises((RuntypeServerError, RuntypeConnectionError)):
        RuntypeHook(retry_limit=3).run_schedule_now("sch_1")

    assert calls(runtype, "run_schedule_now") == 1
    assert runs_of(runtype) == 1  # the server did start one run, and only one
    assert sleeps == []


def test_run_now_is_retried_after_a_429_honouring_retry_after(runtype, sleeps) -> None:
    runtype.inject_fault("run_schedule_now", "rate_limit", times=2, retry_after=7)

    started = RuntypeHook(retry_limit=3).run_schedule_now("sch_1")

    assert started.run_id
    assert sleeps == [7.0, 7.0]
    assert calls(runtype, "run_schedule_now") == 3
    assert runs_of(runtype) == 1


def test_run_now_gives_up_after_the_retry_limit_on_429(runtype, sleeps) -> None:
    runtype.inject_fault("run_schedule_now", "rate_limit", times=None, retry_after=1)

    with pytest.raises(RuntypeRateLimitError) as raised:
        RuntypeHook(retry_limit=2).run_schedule_now("sch_1")

    assert raised.value.status_code == 429 and raised.value.retry_after == 1
    assert calls(runtype, "run_schedule_now") == 3
    assert runs_of(runtype) == 0


@pytest.mark.parametrize("kind", ["server_error", "drop", "malformed"])
def test_reads_recover_from_transient_faults(runtype, sleeps, kind) -> None:
    runtype.inject_fault("get_schedule", kind, times=1)
    hook = RuntypeHook(retry_limit=2)

    if kind == "malformed":  # a 200 with a broken body is not retried: it is not transient
        with pytest.raises(RuntypeResponseError):
            hook.get_schedule("sch_1")
        assert hook.get_schedule("sch_1").id == "sch_1"
    else:
        assert hook.get_schedule("sch_1").id == "sch_1"
        assert len(sleeps) == 1
    assert calls(runtype, "get_schedule") == 2


def test_async_status_poll_recovers_from_a_dropped_connection(runtype, sleeps) -> None:
    import asyncio

    from runtype_provider.runs.reference import RunReference

    started = RuntypeHook().run_schedule_now("sch_1")
    runtype.inject_fault("get_batch_status", "drop", times=1)

    async def poll():
        async with RuntypeHook.shared(retry_limit=2) as reads:  # as a deferred wait reads
            return await reads.get_run_progress_async(RunReference(batch_execution_id=started.batch_execution_id))

    progress = asyncio.run(poll())
    assert progress.status in ("queued", "running")
    assert calls(runtype, "get_batch_status") == 2 and len(sleeps) == 1
