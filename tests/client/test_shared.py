"""runtype_provider.client.shared: one connection read and one set of clients per event loop and connection, reads
shared by the waits that need them, admission, the deadlines of each wait and start turns."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from unittest.mock import AsyncMock

import httpx
import pytest

import runtype_provider.client.shared as shared_reads
import runtype_provider.hooks.runtype as hook_module
from runtype_provider.client.request import build_request
from runtype_provider.client.shared import ConnectionShare, open_shares
from runtype_provider.exceptions import RuntypeDeadlineError
from runtype_provider.hooks.runtype import RuntypeHook
from runtype_provider.triggers.runtype import RuntypeScheduleRunTrigger

pytestmark = pytest.mark.usefixtures("runtype_conn")

RUNS = "/v1/schedules/sch-1/runs"


def batch_body(batch_id: str, status: str, processed: int = 10) -> dict[str, Any]:
    return {
        "batchExecutionId": batch_id, "status": status, "flowId": "f", "totalRecords": 10,
        "processedRecords": processed, "failedRecords": 1, "startedAt": "2026-01-01T00:00:00Z",
    }  # fmt: skip


def run_row(i: int, status: str, *, batch: bool = True) -> dict[str, Any]:
    row = {"id": f"run-{i}", "scheduleId": "sch-1", "status": status, "createdAt": "2026-01-01T00:00:00Z"}
    return {**row, "batchExecutionId": f"b-{i}", "totalRecords": 10} if batch else row


def wait_all(triggers: list[RuntypeScheduleRunTrigger], during: Any = None) -> list[dict[str, Any]]:
    """Run the triggers to their one event in one event loop, as a triggerer does."""

    async def main() -> list[dict[str, Any]]:
        events = await asyncio.gather(*(anext(t.run()) for t in triggers))
        if during is not None:
            during()
        return [event.payload for event in events]

    return asyncio.run(main())


# --------------------------------------------------------------------------------------------------
# One share per event loop and connection id: one connection read, shared clients, closed by the last wait


def test_triggers_on_one_connection_share_a_connection_read_and_clients_closed_by_the_last(
    router, monkeypatch, runtype_conn
):
    from airflow.sdk import Connection

    conn = Connection(conn_id="runtype_default", conn_type="runtype", host=runtype_conn["host"], password="rt_test_k")
    aget = AsyncMock(return_value=conn)
    monkeypatch.setattr(hook_module.BaseHook, "aget_connection", aget)
    seen: list[dict[str, ConnectionShare]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(open_shares(asyncio.get_running_loop()))
        return httpx.Response(200, json=batch_body(request.url.path.rsplit("/", 1)[1], "completed"))

    router.get(url__regex=r"/v1/batch/status/").mock(side_effect=answer)
    refs = [{"schedule_id": "sch-1", "run_id": f"run-{i}", "batch_execution_id": f"b-{i}"} for i in range(5)]
    closed: list[httpx.AsyncClient] = []
    original = httpx.AsyncClient.aclose

    async def aclose(self: httpx.AsyncClient) -> None:
        closed.append(self)
        await original(self)

    monkeypatch.setattr(httpx.AsyncClient, "aclose", aclose)

    events = wait_all([RuntypeScheduleRunTrigger(run=ref, poll_interval=1) for ref in refs])

    assert [e["event"] for e in events] == ["finished"] * 5
    aget.assert_awaited_once_with("runtype_default")  # one read for five triggers
    assert {id(shares["runtype_default"]) for shares in seen} == {id(seen[0]["runtype_default"])}
    [share] = {id(s["runtype_default"]): s["runtype_default"] for s in seen}.values()
    assert share.users == 0 and share.clients == []  # the last trigger closed them...
    assert closed and all(client.is_closed for client in closed)  # ...inside the loop


@pytest.mark.parametrize(("ttl", "keys"), [(60.0, ["rt_test_a", "rt_test_a"]), (0.0, ["rt_test_a", "rt_test_b"])])
def test_the_connection_is_read_again_once_its_read_is_older_than_the_ttl(router, monkeypatch, clock, ttl, keys):
    """A rotated key reaches the polls made after CONNECTION_READ_TTL, through clients of their own."""
    from airflow.sdk import Connection

    conns = [Connection(conn_id="runtype_default", conn_type="runtype", host="https://api.runtype.com", password=k)
             for k in ("rt_test_a", "rt_test_b")]  # fmt: skip
    monkeypatch.setattr(hook_module.BaseHook, "aget_connection", AsyncMock(side_effect=conns))
    monkeypatch.setattr(shared_reads, "CONNECTION_READ_TTL", ttl)
    route = router.get("/v1/batch/status/b-1").mock(
        side_effect=[httpx.Response(200, json=batch_body("b-1", s)) for s in ("running", "completed")]
    )
    ref = {"schedule_id": "sch-1", "run_id": "run-1", "batch_execution_id": "b-1"}

    wait_all([RuntypeScheduleRunTrigger(run=ref, poll_interval=10)])

    assert [call.request.headers["Authorization"] for call in route.calls] == [f"Bearer {k}" for k in keys]


def test_two_connections_get_two_shares_and_a_new_event_loop_gets_new_clients(router, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_RUNTYPE_OTHER",
        json.dumps({"conn_type": "runtype", "host": "https://other.runtype.test", "password": "rt_test_other"}),
    )
    clients: list[tuple[str, int, httpx.AsyncClient]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        shares = open_shares(asyncio.get_running_loop())
        for conn_id, share in shares.items():
            clients.extend((conn_id, id(asyncio.get_running_loop()), c) for c in share.clients)
        return httpx.Response(200, json=batch_body("b-1", "completed"))

    router.get("/v1/batch/status/b-1").mock(side_effect=answer)
    router.get("https://other.runtype.test/v1/batch/status/b-1").mock(side_effect=answer)
    ref = {"schedule_id": "sch-1", "run_id": "run-1", "batch_execution_id": "b-1"}

    def both() -> list[RuntypeScheduleRunTrigger]:
        return [
            RuntypeScheduleRunTrigger(run=ref, poll_interval=1),
            RuntypeScheduleRunTrigger(run=ref, poll_interval=1, runtype_conn_id="runtype_other"),
        ]

    wait_all(both())
    first = {c for _, _, c in clients}
    wait_all(both())  # asyncio.run: a new loop, like pytest's per-test loops or dag.test()

    assert {conn_id for conn_id, _, _ in clients} == {"runtype_default", "runtype_other"}
    by_conn = {
        conn_id: {c for cid, _, c in clients if cid == conn_id} for conn_id in ("runtype_default", "runtype_other")
    }
    assert not (by_conn["runtype_default"] & by_conn["runtype_other"])  # one set of clients per connection
    second = {c for _, _, c in clients} - first
    assert second and not (second & first)  # the new loop never reuses the old loop's clients
    assert all(c.is_closed for _, _, c in clients)


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_first_event_alone_leaves_nothing_to_clean_up(router, monkeypatch):
    """``dag.test()`` runs ``asyncio.run(anext(trigger.run()))``: the shared clients are closed inside the loop."""
    closed: list[bool] = []
    original = httpx.AsyncClient.aclose

    async def aclose(self: httpx.AsyncClient) -> None:
        await original(self)
        closed.append(True)

    monkeypatch.setattr(httpx.AsyncClient, "aclose", aclose)
    router.get("/v1/batch/status/b-1").mock(return_value=httpx.Response(200, json=batch_body("b-1", "completed")))
    ref = {"schedule_id": "sch-1", "run_id": "run-1", "batch_execution_id": "b-1"}

    event = asyncio.run(anext(RuntypeScheduleRunTrigger(run=ref).run()))

    assert event.payload["event"] == "finished"
    assert closed == [True]


# --------------------------------------------------------------------------------------------------
# Shared reads


def test_waits_on_one_schedules_run_list_share_each_read(router, clock):
    """Runs without a batch id are polled through their schedule's run list: one read answers every wait."""
    answers = [
        [run_row(i, "running", batch=False) for i in range(10)],
        [run_row(i, "completed", batch=False) for i in range(10)],
    ]
    route = router.get(RUNS).mock(side_effect=[httpx.Response(200, json={"data": rows}) for rows in answers])
    triggers = [
        RuntypeScheduleRunTrigger(run={"schedule_id": "sch-1", "run_id": f"run-{i}"}, poll_interval=10)
        for i in range(10)
    ]

    events = wait_all(triggers)

    assert [(e["event"], e["progress"]["status"]) for e in events] == [("finished", "completed")] * 10
    assert route.call_count == 2  # ten waits polling each: twenty


# --------------------------------------------------------------------------------------------------
# ConnectionShare.read: who sends, who joins, deadlines, cancellation


class GatedTransport:
    """A transport whose sends wait for ``release``; each send's deadline is recorded; answers count up."""

    def __init__(self, fail_at_deadline: bool = False) -> None:
        self.release, self.deadlines, self.fail_at_deadline = asyncio.Event(), [], fail_at_deadline
        self.cancelled = 0

    async def send(self, request: Any, *, deadline: float | None = None) -> int:
        self.deadlines.append(deadline)
        try:
            if self.fail_at_deadline and deadline is not None and len(self.deadlines) == 1:
                raise RuntypeDeadlineError(method=request.method, path=request.path)
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return len(self.deadlines)


REQUEST = build_request("get_batch_status", batch_id="b-1")


def test_overlapping_reads_share_one_send_and_later_reads_send_again():
    async def main() -> tuple[list[Any], list[Any], GatedTransport]:
        share, transport = ConnectionShare("c", RuntypeHook.aread_connection), GatedTransport()
        share.interest("k", +3)
        first = [asyncio.ensure_future(share.read("k", transport, REQUEST, after=0, deadline=None)) for _ in range(3)]
        await asyncio.sleep(0)
        transport.release.set()
        answers = await asyncio.gather(*first)
        cached = await share.read("k", transport, REQUEST, after=0, deadline=None)  # newer than read 0: reused
        fresh = await share.read("k", transport, REQUEST, after=answers[0][1], deadline=None)  # wants a newer one
        return answers, [cached, fresh], transport

    answers, later, transport = asyncio.run(main())

    assert [(a[0], a[1]) for a in answers] == [(1, 1)] * 3
    assert (later[0][0], later[1][0]) == (1, 2)
    assert len(transport.deadlines) == 2


def test_a_joiner_with_an_earlier_deadline_leaves_at_it_and_the_read_goes_on():
    async def main() -> tuple[Any, Any]:
        share, transport = ConnectionShare("c", RuntypeHook.aread_connection), GatedTransport()
        leader = asyncio.ensure_future(share.read("k", transport, REQUEST, after=0, deadline=None))
        await asyncio.sleep(0)
        soon = asyncio.get_running_loop().time() + 0.05  # time.monotonic and the loop clock agree on Linux
        with pytest.raises(RuntypeDeadlineError):
            await share.read("k", transport, REQUEST, after=0, deadline=soon)
        transport.release.set()
        return await leader, transport

    (answer, seq, _), transport = asyncio.run(main())

    assert (answer, seq, transport.deadlines, transport.cancelled) == (1, 1, [None], 0)


def test_a_joiner_whose_read_stopped_at_an_earlier_deadline_reads_again_under_its_own():
    async def main() -> tuple[Any, Any]:
        share, transport = ConnectionShare("c", RuntypeHook.aread_connection), GatedTransport(fail_at_deadline=True)
        near = asyncio.get_running_loop().time() + 30
        leader = asyncio.ensure_future(share.read("k", transport, REQUEST, after=0, deadline=near))
        joiner = asyncio.ensure_future(share.read("k", transport, REQUEST, after=0, deadline=None))
        await asyncio.sleep(0)
        transport.release.set()
        with pytest.raises(RuntypeDeadlineError):
            await leader
        return await joiner, transport

    (answer, _, _), transport = asyncio.run(main())

    assert answer == 2 and transport.deadlines[1] is None


def test_when_all_slots_are_taken_reads_for_several_waits_go_before_reads_for_one(monkeypatch):
    monkeypatch.setattr(shared_reads, "MAX_CONCURRENT_REQUESTS", 1)

    class Recording(GatedTransport):
        async def send(self, request: Any, *, deadline: float | None = None) -> int:
            self.paths = [*getattr(self, "paths", []), request.path]
            return await super().send(request, deadline=deadline)

    async def main() -> list[str]:
        share, transport = ConnectionShare("c", RuntypeHook.aread_connection), Recording()
        share.interest("shared", +2)
        requests = {name: build_request("get_batch_status", batch_id=name) for name in ("first", "one", "many")}
        first = asyncio.ensure_future(share.read("first", transport, requests["first"], after=0, deadline=None))
        await asyncio.sleep(0)
        one = asyncio.ensure_future(share.read("one", transport, requests["one"], after=0, deadline=None))
        many = asyncio.ensure_future(share.read("shared", transport, requests["many"], after=0, deadline=None))
        await asyncio.sleep(0)
        transport.release.set()  # the first read lands and frees its slot: the shared read is next
        await asyncio.gather(first, one, many)
        return transport.paths

    assert asyncio.run(main()) == ["/v1/batch/status/first", "/v1/batch/status/many", "/v1/batch/status/one"]


def test_a_read_waiting_for_a_slot_past_its_deadline_gives_up_without_losing_the_slot(monkeypatch):
    monkeypatch.setattr(shared_reads, "MAX_CONCURRENT_REQUESTS", 1)

    async def main() -> tuple[int, int]:
        share, transport = ConnectionShare("c", RuntypeHook.aread_connection), GatedTransport()
        first = asyncio.ensure_future(share.read("a", transport, REQUEST, after=0, deadline=None))
        await asyncio.sleep(0)
        with pytest.raises(RuntypeDeadlineError):
            await share.read("b", transport, REQUEST, after=0, deadline=asyncio.get_running_loop().time() + 0.02)
        transport.release.set()
        await first
        answer, _, _ = await share.read("c", transport, REQUEST, after=0, deadline=None)  # the slot is free again
        return answer, len(transport.deadlines)

    assert asyncio.run(main()) == (2, 2)


def test_a_read_nobody_waits_for_any_more_is_cancelled():
    async def main() -> GatedTransport:
        share, transport = ConnectionShare("c", RuntypeHook.aread_connection), GatedTransport()
        waiters = [asyncio.ensure_future(share.read("k", transport, REQUEST, after=0, deadline=None)) for _ in range(2)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        await asyncio.sleep(0)
        return transport

    transport = asyncio.run(main())

    assert transport.cancelled == 1


def test_waits_that_start_together_start_polling_a_few_per_loop_step():
    async def main() -> list[int]:
        share, started = ConnectionShare("c", RuntypeHook.aread_connection), []

        async def one(i: int) -> None:
            await share.start_turn()
            started.append(i)

        tasks = [asyncio.ensure_future(one(i)) for i in range(150)]
        seen = []
        while len(started) < 150:
            await asyncio.sleep(0)  # one step of this task per step of the loop
            seen.append(len(started))
        await asyncio.gather(*tasks)
        return seen

    seen = asyncio.run(main())

    per_step = [b - a for a, b in zip([0, *seen], seen, strict=False)]
    assert max(per_step) <= shared_reads.STARTS_PER_LOOP_STEP and sum(per_step) == 150 and len(per_step) >= 3
