"""runtype_provider.client.transport.

RuntypeHook retries: counted attempts and honoured waits on a fake clock (``sleeps``), sync and async.

Non-idempotent calls (run-now, create) must never be retried into a second run: only when the request
provably never reached the server (connect error) or the server refused it (429).
"""

from __future__ import annotations

import asyncio
import email.utils
import http.client
import json
import socket
import ssl
import time
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import requests
import respx
from loopback_server import LoopbackServer, answer, send_through_lanes, tls_context
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

import runtype_provider.client.decoding as answers_module
from client.test_retry import backoff_bounds
from runtype_provider.client.request import build_request
from runtype_provider.client.retry import RetryPolicy
from runtype_provider.client.settings import ConnectionSettings
from runtype_provider.client.transport import SyncTransport
from runtype_provider.exceptions import (
    TRANSIENT_ERRORS,
    RuntypeConfigurationError,
    RuntypeConnectionError,
    RuntypeDeadlineError,
    RuntypeException,
    RuntypeRateLimitError,
    RuntypeRedirectError,
    RuntypeServerError,
    RuntypeTlsError,
)
from runtype_provider.hooks.runtype import RuntypeHook

BASE = "https://api.runtype.com"
SCHEDULE = {"id": "s1", "name": "Nightly", "enabled": True}
RUN_NOW = {"batchExecutionId": "batch_abc", "error": None, "runId": "run_001", "status": "queued"}
SURFACE_RUN_NOW = {"batchExecutionId": "batch_abc", "recordCount": 125, "status": "queued"}
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> float:
    """Freeze the wall clock the hook reads for HTTP-date and reset-time hints."""
    monkeypatch.setattr(answers_module, "time", SimpleNamespace(time=lambda: NOW, sleep=time.sleep))
    return NOW


def run_async(hook: RuntypeHook, awaitable: Any) -> Any:
    async def main() -> Any:
        try:
            return await awaitable
        finally:
            await hook.aclose()

    return asyncio.run(main())


def refused() -> requests.exceptions.ConnectionError:
    """What requests raises when nothing listens on the port: the request never left the machine."""
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return requests.exceptions.ConnectionError(MaxRetryError(None, "/v1/x", reason=reason))


def dropped() -> requests.exceptions.ConnectionError:
    """What requests raises when the server closes the connection after receiving the request."""
    reason = ProtocolError("Connection aborted.", http.client.RemoteDisconnected("Remote end closed connection"))
    return requests.exceptions.ConnectionError(reason)


def error(status: int, **extra: Any) -> dict[str, Any]:
    return {"status_code": status, "json": {"error": f"HTTP {status}"}, **extra}


# ---- sync: idempotent calls --------------------------------------------------------------------------


def test_server_errors_then_success_are_retried_with_backoff(hook, sleeps, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/s1", [error(500), error(502), {"json": SCHEDULE}])
    assert hook.get_schedule("s1").name == "Nightly"
    assert requests_mock.call_count == 3
    assert len(sleeps) == 2
    for attempt, waited in enumerate(sleeps, start=1):
        low, high = backoff_bounds(attempt)
        assert low <= waited <= high


def test_exhausting_the_retry_limit_raises_after_limit_plus_one_attempts(runtype_conn, sleeps, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/s1", **error(503))
    with pytest.raises(RuntypeServerError, match="returned HTTP 503"):
        RuntypeHook(retry_limit=2).get_schedule("s1")
    assert requests_mock.call_count == 3
    assert len(sleeps) == 2


def test_retry_limit_zero_means_one_attempt(runtype_conn, sleeps, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/s1", **error(500))
    with pytest.raises(RuntypeServerError):
        RuntypeHook(retry_limit=0).get_schedule("s1")
    assert (requests_mock.call_count, sleeps) == (1, [])


@pytest.mark.parametrize(
    ("headers", "expected_wait"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": email.utils.formatdate(NOW + 30, usegmt=True)}, 30.0),
        ({"Retry-After-Ms": "1500"}, 1.5),
        ({"X-RateLimit-Reset": str(int(NOW) + 20)}, 20.0),
    ],
    ids=["retry-after-seconds", "retry-after-http-date", "retry-after-ms", "ratelimit-reset"],
)
def test_429_waits_exactly_the_server_hint(hook, sleeps, fixed_clock, requests_mock, headers, expected_wait):
    requests_mock.get(f"{BASE}/v1/schedules/s1", [error(429, headers=headers), {"json": SCHEDULE}])
    hook.get_schedule("s1")
    assert requests_mock.call_count == 2
    assert sleeps == [expected_wait]


def test_503_with_retry_after_waits_the_hint(hook, sleeps, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/s1", [error(503, headers={"Retry-After": "4"}), {"json": SCHEDULE}])
    hook.get_schedule("s1")
    assert sleeps == [4.0]


def test_429_without_a_hint_backs_off(hook, sleeps, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/s1", [error(429), {"json": SCHEDULE}])
    hook.get_schedule("s1")
    low, high = backoff_bounds(1)
    assert len(sleeps) == 1
    assert low <= sleeps[0] <= high


def test_429_asking_for_a_longer_wait_than_the_cap_is_not_retried(hook, sleeps, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/s1", **error(429, headers={"Retry-After": "3600"}))
    with pytest.raises(RuntypeRateLimitError) as caught:
        hook.get_schedule("s1")
    assert caught.value.retry_after == 3600.0
    assert (requests_mock.call_count, sleeps) == (1, [])


@pytest.mark.parametrize(
    "failure",
    [
        requests.exceptions.ConnectionError("Connection reset by peer"),
        requests.exceptions.ReadTimeout("read timed out"),
    ],
    ids=["connection-reset", "read-timeout"],
)
def test_connection_errors_on_idempotent_calls_are_retried(hook, sleeps, requests_mock, failure):
    requests_mock.get(f"{BASE}/v1/schedules/s1", [{"exc": failure}, {"json": SCHEDULE}])
    assert hook.get_schedule("s1").id == "s1"
    assert requests_mock.call_count == 2
    assert len(sleeps) == 1


def test_connection_errors_exhausting_retries_raise_a_connection_error(hook, sleeps, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/s1", exc=requests.exceptions.ConnectTimeout("connect timed out"))
    with pytest.raises(RuntypeConnectionError, match=r"GET /v1/schedules/s1 failed: ConnectTimeout") as caught:
        hook.get_schedule("s1")
    assert (caught.value.method, caught.value.path, caught.value.sent) == ("GET", "/v1/schedules/s1", False)
    assert requests_mock.call_count == 4


@pytest.mark.parametrize("status", [400, 401, 403, 404, 402])
def test_client_errors_are_not_retried(hook, sleeps, requests_mock, status):
    requests_mock.get(f"{BASE}/v1/schedules/s1", **error(status))
    with pytest.raises(RuntypeException):
        hook.get_schedule("s1")
    assert (requests_mock.call_count, sleeps) == (1, [])


def test_idempotent_put_is_retried_on_500(hook, sleeps, requests_mock):
    requests_mock.put(f"{BASE}/v1/schedules/s1", [error(500), {"json": {"id": "s1", "status": "updated"}}])
    assert hook.update_schedule("s1", name="n").status == "updated"
    assert requests_mock.call_count == 2


# ---- sync: run-now and create are never retried into a second run ------------------------------------

NON_IDEMPOTENT = [
    pytest.param(lambda h: h.run_schedule_now("s1"), "/v1/schedules/s1/run-now", RUN_NOW, id="run_schedule_now"),
    pytest.param(
        lambda h: h.run_surface_schedule_now("p1", "sf1", "s1"),
        "/v1/products/p1/surfaces/sf1/schedules/s1/run-now",
        SURFACE_RUN_NOW,
        id="run_surface_schedule_now",
    ),
    pytest.param(
        lambda h: h.create_schedule(flow_id="f1", cron="0 * * * *"),
        "/v1/schedules",
        {"id": "s1", "status": "created"},
        id="create_schedule",
    ),
    pytest.param(
        lambda h: h.create_surface_schedule("p1", "sf1", flow_id="f1", cron="0 * * * *"),
        "/v1/products/p1/surfaces/sf1/schedules",
        {"id": "s1"},
        id="create_surface_schedule",
    ),
]


@pytest.mark.parametrize(("call", "path", "answer"), NON_IDEMPOTENT)
def test_non_idempotent_call_is_not_retried_on_500(hook, sleeps, requests_mock, call, path, answer):
    requests_mock.post(f"{BASE}{path}", [error(500), {"json": answer}])
    with pytest.raises(RuntypeServerError):
        call(hook)
    assert (requests_mock.call_count, sleeps) == (1, [])


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(lambda: requests.exceptions.ReadTimeout("read timed out"), id="read-timeout"),
        pytest.param(dropped, id="dropped-connection"),
        pytest.param(lambda: requests.exceptions.ConnectionError("Connection reset by peer"), id="reset"),
    ],
)
@pytest.mark.parametrize(("call", "path", "answer"), NON_IDEMPOTENT)
def test_non_idempotent_call_is_not_retried_when_the_request_may_have_arrived(
    hook, sleeps, requests_mock, call, path, answer, failure
):
    requests_mock.post(f"{BASE}{path}", [{"exc": failure()}, {"json": answer}])
    with pytest.raises(RuntypeConnectionError) as caught:
        call(hook)
    assert caught.value.sent is True
    assert (requests_mock.call_count, sleeps) == (1, [])


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(lambda: requests.exceptions.ConnectTimeout("connect timed out"), id="connect-timeout"),
        pytest.param(refused, id="connection-refused"),
        pytest.param(lambda: error(429, headers={"Retry-After": "2"}), id="429"),
    ],
)
@pytest.mark.parametrize(("call", "path", "answer"), NON_IDEMPOTENT)
def test_non_idempotent_call_is_retried_when_the_request_provably_did_not_start_anything(
    hook, sleeps, requests_mock, call, path, answer, failure
):
    first = failure()
    requests_mock.post(f"{BASE}{path}", [first if isinstance(first, dict) else {"exc": first}, {"json": answer}])
    call(hook)
    assert requests_mock.call_count == 2
    assert len(sleeps) == 1


def test_run_now_against_a_closed_port_is_retried(monkeypatch, sleeps):
    """A real refused connection (nothing listens on the loopback port) is recognised as never sent."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_RUNTYPE_DEFAULT",
        json.dumps({"conn_type": "runtype", "host": f"http://127.0.0.1:{port}", "password": "rt_test_k"}),
    )
    with pytest.raises(RuntypeConnectionError) as caught:
        RuntypeHook(retry_limit=2).run_schedule_now("s1")
    assert caught.value.sent is False
    assert len(sleeps) == 2


# ---- hook parameters override the connection's extras ----------------------------------------------------


@pytest.fixture
def conn_with_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {
        "conn_type": "runtype",
        "host": BASE,
        "password": "rt_test_k",
        "extra": {"timeout": 30, "retry_limit": 5, "retry_delay": 0.01},
    }
    monkeypatch.setenv("AIRFLOW_CONN_RUNTYPE_DEFAULT", json.dumps(conn))


def test_connection_extras_set_timeout_and_retry_limit(conn_with_extras, sleeps, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/s1", **error(500))
    with pytest.raises(RuntypeServerError):
        RuntypeHook().get_schedule("s1")
    assert requests_mock.call_count == 6
    assert requests_mock.last_request.timeout == 30.0


def test_hook_params_override_connection_timeout(conn_with_extras, sleeps, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/s1", json=SCHEDULE)
    RuntypeHook(timeout=2.5).get_schedule("s1")
    assert requests_mock.last_request.timeout == 2.5


def test_hook_params_override_connection_retry_limit(conn_with_extras, sleeps, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/s1", **error(500))
    with pytest.raises(RuntypeServerError):
        RuntypeHook(retry_limit=1).get_schedule("s1")
    assert requests_mock.call_count == 2


def test_hook_params_override_connection_timeout_async(conn_with_extras, sleeps):
    hook = RuntypeHook(timeout=2.5)
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/v1/batch/status/b1").respond(200, json={"status": "running"})
        run_async(hook, hook.get_batch_status_async("b1"))
    assert route.calls.last.request.extensions["timeout"]["read"] == 2.5


@pytest.fixture
def retry_loops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the tenacity retry loops built (``Retrying`` / ``AsyncRetrying``)."""
    import tenacity

    built: list[str] = []
    for name in ("Retrying", "AsyncRetrying"):
        real = getattr(tenacity, name)

        def init(self: Any, *args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> None:
            built.append(_name)
            _real.__init__(self, *args, **kwargs)

        monkeypatch.setattr(tenacity, name, type(name, (real,), {"__init__": init}))
    return built


def test_a_sync_first_attempt_that_succeeds_builds_no_retry_loop_one_that_fails_is_its_first(
    hook, sleeps, requests_mock, retry_loops
):
    """The retry loop (CPU, and objects in reference cycles per request) is built only after a failed attempt, which
    it counts as its first: a 500 then a 200 is one retry after the first backoff."""
    requests_mock.get(f"{BASE}/v1/schedules/s1", [{"json": SCHEDULE}, error(500), {"json": SCHEDULE}])
    assert hook.get_schedule("s1").id == "s1"
    assert retry_loops == []
    assert hook.get_schedule("s1").id == "s1"
    assert (retry_loops, requests_mock.call_count, len(sleeps)) == (["Retrying"], 3, 1)
    low, high = backoff_bounds(1)
    assert low <= sleeps[0] <= high


def test_an_async_first_attempt_that_succeeds_builds_no_retry_loop_one_that_fails_is_its_first(
    hook, sleeps, retry_loops
):
    """As the sync path; and at ``retry_limit=1`` two failures end it after two attempts (the replayed first
    failure counts)."""
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/v1/batch/status/b1")
        route.side_effect = [
            httpx.Response(200, json={"status": "running"}),
            httpx.Response(500),
            httpx.Response(200, json={"status": "done"}),
            httpx.Response(500),
            httpx.Response(502),
            httpx.Response(200, json={"status": "never read"}),
        ]
        assert run_async(hook, hook.get_batch_status_async("b1")).status == "running"
        assert retry_loops == []
        assert run_async(hook, hook.get_batch_status_async("b1")).status == "done"
        assert (retry_loops, route.call_count, len(sleeps)) == (["AsyncRetrying"], 3, 1)
        limited = RuntypeHook(retry_limit=1)
        with pytest.raises(RuntypeServerError, match="HTTP 502"):
            run_async(limited, limited.get_batch_status_async("b1"))
        assert route.call_count == 5
    low, high = backoff_bounds(1)
    assert low <= sleeps[0] <= high


# ---- async path: the same policy with httpx ---------------------------------------------------------------


def test_async_server_errors_then_success_are_retried_with_backoff(hook, sleeps):
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/v1/batch/status/b1")
        route.side_effect = [httpx.Response(500), httpx.Response(503), httpx.Response(200, json={"status": "done"})]
        assert run_async(hook, hook.get_batch_status_async("b1")).status == "done"
    assert route.call_count == 3
    assert len(sleeps) == 2
    for attempt, waited in enumerate(sleeps, start=1):
        low, high = backoff_bounds(attempt)
        assert low <= waited <= high


def test_async_exhausting_the_retry_limit_raises(runtype_conn, sleeps):
    hook = RuntypeHook(retry_limit=2)
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/v1/batch/status/b1").respond(500, json={"error": "boom"})
        with pytest.raises(RuntypeServerError, match="boom"):
            run_async(hook, hook.get_batch_status_async("b1"))
    assert (route.call_count, len(sleeps)) == (3, 2)


def test_async_429_waits_the_retry_after_hint(hook, sleeps):
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/v1/schedules/s1/runs")
        route.side_effect = [httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={"data": []})]
        assert run_async(hook, hook.list_schedule_runs_async("s1")) == []
    assert route.call_count == 2
    assert sleeps == [7.0]


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("read timed out"), httpx.RemoteProtocolError("dropped")],
    ids=["connect-error", "read-timeout", "dropped"],
)
def test_async_connection_errors_on_idempotent_calls_are_retried(hook, sleeps, failure):
    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/v1/batch/cancel/b1")
        route.side_effect = [failure, httpx.Response(200, json={"success": True, "message": "ok"})]
        assert run_async(hook, hook.cancel_batch_async("b1")).success is True
    assert (route.call_count, len(sleeps)) == (2, 1)


def async_run_now(hook: RuntypeHook) -> Any:
    return hook.asend(build_request("run_schedule_now", schedule_id="s1"))


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("read timed out"), httpx.RemoteProtocolError("dropped"), httpx.Response(500)],
    ids=["read-timeout", "dropped", "500"],
)
def test_async_non_idempotent_call_is_not_retried_when_the_request_may_have_arrived(hook, sleeps, failure):
    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/v1/schedules/s1/run-now")
        route.side_effect = [failure, httpx.Response(200, json=RUN_NOW)]
        with pytest.raises((RuntypeConnectionError, RuntypeServerError)):
            run_async(hook, async_run_now(hook))
    assert (route.call_count, sleeps) == (1, [])


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("connect timed out"), httpx.Response(429)],
    ids=["connect-error", "connect-timeout", "429"],
)
def test_async_non_idempotent_call_is_retried_when_nothing_started(hook, sleeps, failure):
    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/v1/schedules/s1/run-now")
        route.side_effect = [failure, httpx.Response(200, json=RUN_NOW)]
        assert run_async(hook, async_run_now(hook)).run_id == "run_001"
    assert (route.call_count, len(sleeps)) == (2, 1)


def test_async_connection_error_is_typed_and_names_the_request(runtype_conn, sleeps):
    hook = RuntypeHook(retry_limit=0)
    with respx.mock(base_url=BASE) as mock:
        mock.get("/v1/batch/status/b1").mock(side_effect=httpx.ReadTimeout("read timed out"))
        with pytest.raises(RuntypeConnectionError, match="GET /v1/batch/status/b1 failed: ReadTimeout") as caught:
            run_async(hook, hook.get_batch_status_async("b1"))
    assert caught.value.sent is True


def test_408_is_retried_for_idempotent_calls(hook, sleeps, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/s1", [error(408), {"json": SCHEDULE}])
    hook.get_schedule("s1")
    assert (requests_mock.call_count, len(sleeps)) == (2, 1)


def test_408_is_not_retried_for_run_now(hook, sleeps, requests_mock):
    requests_mock.post(f"{BASE}/v1/schedules/s1/run-now", [error(408), {"json": RUN_NOW}])
    with pytest.raises(RuntypeException, match="HTTP 408"):
        hook.run_schedule_now("s1")
    assert (requests_mock.call_count, sleeps) == (1, [])


# ---- a Retry-After longer than the cap ends the call at once, for 503 as for 429 ----------------------------


def test_503_asking_for_a_longer_wait_than_the_cap_is_not_retried(hook, sleeps, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/s1", **error(503, headers={"Retry-After": "3600"}))
    with pytest.raises(RuntypeServerError) as caught:
        hook.get_schedule("s1")
    assert caught.value.retry_after == 3600.0
    assert (requests_mock.call_count, sleeps) == (1, [])


def test_async_503_asking_for_a_longer_wait_than_the_cap_is_not_retried(hook, sleeps):
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/v1/batch/status/b1").respond(503, headers={"Retry-After": "301"})
        with pytest.raises(RuntypeServerError):
            run_async(hook, hook.get_batch_status_async("b1"))
    assert (route.call_count, sleeps) == (1, [])


# ---- the caller's deadline: no sleep past it, no attempt after it ---------------------------------------------


class FakeClock:
    """A monotonic clock that only moves when the hook sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


@pytest.fixture
def clocked(runtype_conn: dict) -> Any:
    """A hook (arguments as given) on a fake monotonic clock, and that clock."""

    def make(**kwargs: Any) -> tuple[RuntypeHook, FakeClock]:
        clock = FakeClock()
        hook = RuntypeHook(**kwargs)
        hook.sleep, hook.async_sleep, hook.clock = clock.sleep, clock.async_sleep, clock
        return hook, clock

    return make


def test_no_attempt_starts_once_the_deadline_has_passed(clocked, requests_mock):
    hook, _ = clocked(deadline=999.0)
    requests_mock.get(f"{BASE}/v1/schedules/s1", json=SCHEDULE)
    with pytest.raises(RuntypeDeadlineError, match=r"GET /v1/schedules/s1: the caller's deadline was reached before"):
        hook.get_schedule("s1")
    assert requests_mock.call_count == 0


def test_a_server_hint_past_the_deadline_ends_the_call_at_once(clocked, requests_mock):
    hook, clock = clocked(deadline=1005.0)
    requests_mock.get(f"{BASE}/v1/schedules/s1", [error(429, headers={"Retry-After": "7"}), {"json": SCHEDULE}])
    with pytest.raises(RuntypeDeadlineError, match=r"giving up after: .*returned HTTP 429") as caught:
        hook.get_schedule("s1")
    assert isinstance(caught.value.__cause__, RuntypeRateLimitError)
    assert (requests_mock.call_count, clock.sleeps) == (1, [])


def test_retries_stop_before_a_sleep_would_pass_the_deadline(clocked, requests_mock):
    hook, clock = clocked(deadline=1010.0, retry_limit=5)
    requests_mock.get(f"{BASE}/v1/schedules/s1", **error(503, headers={"Retry-After": "4"}))
    with pytest.raises(RuntypeDeadlineError):
        hook.get_schedule("s1")
    assert (requests_mock.call_count, clock.sleeps) == (3, [4.0, 4.0])
    assert clock.now < 1010.0


def test_retries_within_the_deadline_are_made(clocked, requests_mock):
    hook, clock = clocked(deadline=1010.0)
    requests_mock.get(f"{BASE}/v1/schedules/s1", [error(500), error(502), {"json": SCHEDULE}])
    assert hook.get_schedule("s1").id == "s1"
    assert len(clock.sleeps) == 2


def test_the_deadline_shortens_the_attempt_timeout(clocked, requests_mock):
    hook, _ = clocked(deadline=1002.5)
    requests_mock.get(f"{BASE}/v1/schedules/s1", json=SCHEDULE)
    hook.get_schedule("s1")
    assert requests_mock.last_request.timeout == 2.5


def test_bounded_by_applies_the_nearest_deadline_and_restores_the_previous(clocked, requests_mock):
    hook, clock = clocked()
    hint = error(429, headers={"Retry-After": "7"})
    requests_mock.get(f"{BASE}/v1/schedules/s1", [hint, hint, {"json": SCHEDULE}])
    with hook.bounded_by(1100.0) as bounded:
        assert bounded is hook and hook.deadline == 1100.0
        with hook.bounded_by(1005.0), pytest.raises(RuntypeDeadlineError):
            hook.get_schedule("s1")
        with hook.bounded_by(2000.0):
            assert hook.deadline == 1100.0
        with hook.bounded_by(None):
            assert hook.deadline == 1100.0
    assert hook.deadline is None
    assert hook.get_schedule("s1").id == "s1"  # unbounded again: the 7 s hint is waited
    assert clock.sleeps == [7.0]


def test_async_calls_honour_the_deadline(clocked):
    hook, clock = clocked()
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/v1/batch/status/b1")
        route.side_effect = [httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={})]

        async def main() -> None:
            with hook.bounded_by(1005.0), pytest.raises(RuntypeDeadlineError):
                await hook.get_batch_status_async("b1")
            with hook.bounded_by(999.0), pytest.raises(RuntypeDeadlineError, match="before the request was sent"):
                await hook.get_batch_status_async("b1")
            with hook.bounded_by(1002.5):
                await hook.get_batch_status_async("b1")
            await hook.aclose()

        asyncio.run(main())
    assert (route.call_count, clock.sleeps) == (2, [])
    assert route.calls.last.request.extensions["timeout"]["read"] == 2.5


# ---- redirects are never followed ------------------------------------------------------------------------------


def test_a_redirect_of_run_now_is_refused_naming_status_and_host(hook, sleeps, requests_mock, api_key):
    target = f"https://user:{api_key}@elsewhere.example/v1/schedules/s1/run-now?token=t0k"
    requests_mock.post(f"{BASE}/v1/schedules/s1/run-now", status_code=307, headers={"Location": target})
    requests_mock.post("https://elsewhere.example/v1/schedules/s1/run-now", json=RUN_NOW)
    with pytest.raises(RuntypeRedirectError) as caught:
        hook.run_schedule_now("s1")
    message = str(caught.value)
    assert "returned HTTP 307: a redirect to host 'elsewhere.example', which is not followed" in message
    assert api_key not in message and "t0k" not in message and "user" not in message
    assert (requests_mock.call_count, sleeps) == (1, [])


def test_a_real_307_of_run_now_reaches_the_server_once(monkeypatch, sleeps, api_key):
    with LoopbackServer(answer(307, b"", {"Location": "/v1/schedules/s1/run-now"})) as server:
        conn = {"conn_type": "runtype", "host": server.url, "password": api_key}
        monkeypatch.setenv("AIRFLOW_CONN_RUNTYPE_DEFAULT", json.dumps(conn))
        with pytest.raises(RuntypeRedirectError, match=r"HTTP 307: a redirect to host '127\.0\.0\.1:"):
            RuntypeHook().run_schedule_now("s1")
        assert server.requests == ["POST /v1/schedules/s1/run-now HTTP/1.1"]


def test_async_redirects_are_refused(hook, sleeps):
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/v1/batch/status/b1").respond(302, headers={"Location": "https://other.example:8443/x"})
        with pytest.raises(RuntypeRedirectError) as caught:
            run_async(hook, hook.get_batch_status_async("b1"))
    assert caught.value.location_host == "other.example:8443"
    assert (route.call_count, sleeps) == (1, [])


# ---- TLS problems are not retried as if transient ------------------------------------------------------------------


def test_a_certificate_error_is_a_tls_error_and_not_retried(hook, sleeps, requests_mock):
    failure = requests.exceptions.SSLError("certificate verify failed: unable to get local issuer certificate")
    requests_mock.get(f"{BASE}/v1/schedules/s1", exc=failure)
    with pytest.raises(
        RuntypeTlsError, match=r"failed: TLS problem with api\.runtype\.com: .*certificate verify failed"
    ):
        hook.get_schedule("s1")
    assert (requests_mock.call_count, sleeps) == (1, [])


def test_a_handshake_dropped_by_the_network_stays_a_retried_connection_error(hook, sleeps, requests_mock):
    try:
        raise ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
    except ssl.SSLError as err:
        failure = requests.exceptions.SSLError(err)
    requests_mock.get(f"{BASE}/v1/schedules/s1", [{"exc": failure}, {"json": SCHEDULE}])
    assert hook.get_schedule("s1").id == "s1"


def get_batch_status(hook: RuntypeHook, mode: str) -> Any:
    """Through the sync hook, the async hook (httpx) or client lanes as shared trigger reads send (lean client)."""
    if mode == "shared":
        return send_through_lanes(hook.settings, "get_batch_status", batch_id="b1")
    return hook.get_batch_status("b1") if mode == "sync" else run_async(hook, hook.get_batch_status_async("b1"))


@pytest.mark.parametrize("mode", ["sync", "async", "shared"])
def test_https_to_a_plain_http_server_is_a_tls_error_saying_what_to_write(monkeypatch, sleeps, api_key, mode):
    with LoopbackServer(answer(400, b"plain"), read_head=False) as server:
        host = f"127.0.0.1:{server.port}"
        conn = {"conn_type": "runtype", "host": host, "password": api_key, "extra": {"retry_limit": 3}}
        monkeypatch.setenv("AIRFLOW_CONN_RUNTYPE_DEFAULT", json.dumps(conn))
        hook = RuntypeHook()
        with pytest.raises(RuntypeTlsError) as caught:
            get_batch_status(hook, mode)
        assert server.connections == 1
    assert f"TLS problem with {host}" in str(caught.value)
    assert f"for a local server without TLS write http://{host} as the host" in str(caught.value)
    assert not isinstance(caught.value, TRANSIENT_ERRORS)


@pytest.mark.parametrize("mode", ["sync", "async", "shared"])
def test_an_untrusted_certificate_is_a_tls_error_not_retried(monkeypatch, sleeps, tmp_path, api_key, mode):
    context, _ = tls_context(tmp_path)
    with LoopbackServer(answer(200, b"{}"), tls=context) as server:
        conn = {"conn_type": "runtype", "host": server.url, "password": api_key, "extra": {"retry_limit": 3}}
        monkeypatch.setenv("AIRFLOW_CONN_RUNTYPE_DEFAULT", json.dumps(conn))
        hook = RuntypeHook()
        with pytest.raises(RuntypeTlsError, match=r"TLS problem with 127\.0\.0\.1:.*certificate verify failed"):
            get_batch_status(hook, mode)
        assert server.connections == 1
    assert sleeps == []


# ---- the key is redacted from 2xx bodies too -------------------------------------------------------------------------


def test_a_run_now_answer_echoing_the_key_never_carries_it(hook, requests_mock, api_key):
    requests_mock.post(f"{BASE}/v1/schedules/s1/run-now", json={"status": "failed", "error": f"key {api_key} is bad"})
    result = hook.run_schedule_now("s1")
    assert result.error == "key *** is bad"
    assert api_key not in repr(result)


def test_result_rows_echoing_the_key_never_carry_it(hook, requests_mock, api_key):
    row = {"recordId": "r1", "status": "failed", "createdAt": "2026-01-01T00:00:00Z", "error": f"Bearer {api_key}"}
    page = {"data": [row], "pagination": {"hasMore": False, "limit": 100, "offset": 0, "total": 1}}
    requests_mock.get(f"{BASE}/v1/schedules/batch/b1/results", json=page)
    rows = list(hook.get_batch_results("b1"))
    assert [r.error for r in rows] == ["Bearer ***"]


def test_async_batch_status_echoing_the_key_never_carries_it(hook, api_key):
    with respx.mock(base_url=BASE) as mock:
        mock.get("/v1/batch/status/b1").respond(200, json={"status": "failed", "error": f"{api_key} revoked"})
        status = run_async(hook, hook.get_batch_status_async("b1"))
    assert api_key not in repr(status)
    assert "*** revoked" in repr(status)


# ---- headers: only the encodings the transport decodes itself -------------------------------------------------------


def test_both_executors_ask_only_for_gzip_and_deflate(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/batch/status/b1", json={})
    hook.get_batch_status("b1")
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/v1/batch/status/b1").respond(200, json={})
        run_async(hook, hook.get_batch_status_async("b1"))
    assert requests_mock.last_request.headers["Accept-Encoding"] == "gzip, deflate"
    assert route.calls.last.request.headers["Accept-Encoding"] == "gzip, deflate"


@pytest.mark.parametrize("key", ["rt_test_line\nbreak_0123456789", "rt_test_ключ_0123456789"])
def test_a_header_the_http_library_refuses_is_a_typed_error_without_the_key(key):
    """Keys like these are refused when the connection is read; the transport still never leaks them."""
    with LoopbackServer(answer(200, json.dumps(SCHEDULE).encode())) as server:
        settings = ConnectionSettings(
            base_url=server.url, api_key=key, timeout=5.0, retry=RetryPolicy(), dashboard_url=server.url
        )
        transport = SyncTransport(settings, sleep=lambda s: None)
        with pytest.raises(RuntypeConfigurationError, match="could not be sent") as caught:
            transport.send(build_request("get_schedule", schedule_id="s1"))
        transport.close()
    for form in (key, repr(key)[1:-1], key.encode("unicode_escape").decode()):
        assert form not in str(caught.value)


def test_the_environment_is_read_once_per_session_and_still_applies(monkeypatch, tmp_path):
    """Proxy and CA-bundle variables reach the session when it is made; no request re-reads them."""
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    settings = ConnectionSettings(
        base_url="https://api.runtype.com", api_key="rt_test_k", timeout=5.0, retry=RetryPolicy(),
        dashboard_url="https://app.runtype.com",
    )  # fmt: skip

    session = SyncTransport(settings).session

    assert session.proxies["https"] == "http://127.0.0.1:3128"
    assert session.verify == str(bundle)
    assert session.trust_env is False  # requests would otherwise read the environment again on every call


# ---- pooled GETs (the results reader): urllib3's pool directly, the same answers and errors as the session ---------


def loopback_settings(url: str, **extra: Any) -> ConnectionSettings:
    return ConnectionSettings(
        base_url=url, api_key="rt_test_pooled_0123456789", timeout=5.0, retry=RetryPolicy(retry_limit=0),
        dashboard_url=url, **extra,
    )  # fmt: skip


def results_request() -> Any:
    return build_request("get_batch_results", batch_id="b1", query={"limit": "100", "offset": "200"})


def test_a_pooled_get_sends_what_the_session_sends_and_reads_the_same_answer():
    body = json.dumps({"data": [], "pagination": {"hasMore": False, "offset": 200, "limit": 100}}).encode()
    seen: dict[str, Any] = {}
    for pooled in (False, True):
        with LoopbackServer(answer(200, body)) as server:
            transport = SyncTransport(loopback_settings(server.url), sleep=lambda s: None, pooled=pooled)
            seen[f"answer {pooled}"] = transport.send(results_request())
            seen[f"line {pooled}"] = server.requests
            assert (transport._pool is not None) is pooled
            transport.close()
    assert (
        seen["line True"] == seen["line False"] == ["GET /v1/schedules/batch/b1/results?limit=100&offset=200 HTTP/1.1"]
    )
    assert seen["answer True"] == seen["answer False"]


def test_a_pooled_get_keeps_its_connection_alive_across_pages():
    body = b'{"data": [], "pagination": {"hasMore": false}}'

    def keep_alive(conn: socket.socket, server: LoopbackServer) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        conn.sendall(head.encode() + body)
        buffer = b""
        while not server.stopping.is_set():  # later requests on the same connection
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            buffer += data
            while b"\r\n\r\n" in buffer:
                request, buffer = buffer.split(b"\r\n\r\n", 1)
                server.requests.append(request.split(b"\r\n", 1)[0].decode())
                conn.sendall(head.encode() + body)

    with LoopbackServer(keep_alive) as server:
        transport = SyncTransport(loopback_settings(server.url), sleep=lambda s: None, pooled=True)
        for _ in range(3):
            transport.send(results_request())
        transport.close()
    assert server.connections == 1 and len(server.requests) == 3


def test_a_pooled_get_to_a_closed_port_is_a_connection_error_known_never_sent():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"  # bound, not listening: refused
        transport = SyncTransport(loopback_settings(url), sleep=lambda s: None, pooled=True)
        with pytest.raises(RuntypeConnectionError) as caught:
            transport.send(results_request())
    assert caught.value.sent is False and "ConnectionError" in str(caught.value)


def test_a_pooled_get_answering_an_error_status_raises_the_same_typed_error():
    with LoopbackServer(answer(404, b'{"error": "no such batch"}')) as server:
        for pooled in (False, True):
            transport = SyncTransport(loopback_settings(server.url), sleep=lambda s: None, pooled=pooled)
            with pytest.raises(RuntypeException, match="no such batch") as caught:
                transport.send(results_request())
            assert caught.value.status_code == 404
            transport.close()


def test_a_proxied_url_or_a_patched_session_send_goes_through_the_session(monkeypatch, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules/batch/b1/results", json={"data": [], "pagination": {"hasMore": False}})
    transport = SyncTransport(loopback_settings(BASE), sleep=lambda s: None, pooled=True)
    transport.send(results_request())  # requests-mock patches Session.send: it must see the request
    assert requests_mock.call_count == 1 and transport._pool is None
    requests_mock.stop()
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    proxied = SyncTransport(loopback_settings(BASE), sleep=lambda s: None, pooled=True)
    assert proxied._pool_for(BASE + "/v1/x") is None and proxied.pooled is False


# ---- shared GETs through the lean http11 client: the same answers and errors as through httpx ---------------------


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def through_both_clients(monkeypatch: pytest.MonkeyPatch, url: str, **ids: Any) -> list[Any]:
    """The outcome (answer or error) of ``get_batch_status`` through lean lanes, then through httpx lanes."""
    import runtype_provider.client.async_pool as async_pool

    outcomes: list[Any] = []
    for lean in (True, False):
        with monkeypatch.context() as patch:
            if not lean:
                patch.setattr(async_pool, "usable_for", lambda base_url: False)
            try:
                outcomes.append(send_through_lanes(loopback_settings(url), "get_batch_status", lean=lean, **ids))
            except Exception as err:
                outcomes.append(err)
    return outcomes


@pytest.mark.parametrize(
    "behaviour",
    [
        answer(404, b'{"error": "no such batch"}'),
        answer(429, b'{"error": "slow down"}', {"Retry-After": "7"}),
        answer(503, b"<html>maintenance</html>", {"Content-Type": "text/html"}),
        answer(307, b"", {"Location": "https://elsewhere.example/v1/batch/status/b1"}),
        answer(200, b"not json"),
    ],
    ids=["404", "429", "503-html", "redirect", "not-json"],
)
def test_a_lean_read_fails_with_the_same_typed_error_as_httpx(monkeypatch, no_proxy, behaviour):
    with LoopbackServer(behaviour) as server:
        lean, plain = through_both_clients(monkeypatch, server.url, batch_id="b1")

    assert isinstance(lean, RuntypeException) and type(lean) is type(plain)
    assert str(lean) == str(plain)
    assert getattr(lean, "retry_after", None) == getattr(plain, "retry_after", None)


def test_a_lean_read_answers_as_httpx_does_and_sends_the_same_request_line(monkeypatch, no_proxy):
    body = json.dumps({"batchExecutionId": "b 1", "status": "running", "totalRecords": 3}).encode()
    with LoopbackServer(answer(200, body)) as server:
        lean, plain = through_both_clients(monkeypatch, server.url, batch_id="b 1")

    assert lean == plain and lean.status == "running"
    assert server.requests == ["GET /v1/batch/status/b%201 HTTP/1.1"] * 2


def test_a_lean_read_of_a_closed_port_is_a_connection_error_known_never_sent(no_proxy):
    with LoopbackServer(answer(200)) as server:
        url = server.url
    with pytest.raises(RuntypeConnectionError) as caught:
        send_through_lanes(loopback_settings(url), "get_batch_status", batch_id="b1")
    assert caught.value.sent is False and "ConnectionRefusedError" in str(caught.value)


def test_a_lean_read_keeps_its_connection_alive_across_reads(no_proxy):
    from runtype_provider.client.async_pool import ClientLanes
    from runtype_provider.client.transport import AsyncTransport

    served: list[str] = []

    def keep_alive(conn: socket.socket, server: LoopbackServer) -> None:
        body = json.dumps({"batchExecutionId": "b1", "status": "running"}).encode()
        while True:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            served.append(head.split(b"\r\n", 1)[0].decode())

    async def main(url: str) -> list[str]:
        settings = loopback_settings(url)
        lanes = ClientLanes("c", settings, size=1)
        transport = AsyncTransport(settings, asyncio.sleep, clients=lanes)
        try:
            return [(await transport.send(build_request("get_batch_status", batch_id="b1"))).status for _ in range(3)]
        finally:
            await lanes.aclose()

    with LoopbackServer(keep_alive) as server:
        statuses = asyncio.run(main(server.url))
        assert server.connections == 1
    assert statuses == ["running"] * 3 and len(served) == 2  # the first head is read by the server itself


def test_a_lean_read_trusts_the_ca_bundle_named_by_ssl_cert_file(monkeypatch, no_proxy, tmp_path):
    """Behind a TLS-inspecting proxy the triggerer trusts its CA through SSL_CERT_FILE (troubleshooting page)."""
    from runtype_provider.client import async_pool

    context, cert_path = tls_context(tmp_path)
    body = json.dumps({"batchExecutionId": "b1", "status": "running"}).encode()
    monkeypatch.setenv("SSL_CERT_FILE", cert_path)
    async_pool._shared_ssl_context.cache_clear()
    try:
        with LoopbackServer(answer(200, body), tls=context) as server:
            answered = send_through_lanes(loopback_settings(server.url), "get_batch_status", batch_id="b1")
        assert answered.status == "running"
    finally:
        async_pool._shared_ssl_context.cache_clear()  # the next client loads the default bundle again


@pytest.mark.parametrize("prefix", ["/gateway", "/gateway/runtype/", "/caf\u00e9 api"])
def test_a_lean_read_keeps_the_base_urls_path_as_httpx_does(monkeypatch, no_proxy, prefix):
    body = json.dumps({"batchExecutionId": "b1", "status": "running"}).encode()
    with LoopbackServer(answer(200, body)) as server:
        lean, plain = through_both_clients(monkeypatch, server.url + prefix, batch_id="b1")

    assert lean == plain and lean.status == "running"
    assert len(server.requests) == 2 and server.requests[0] == server.requests[1]
    assert server.requests[0].startswith("GET /") and server.requests[0].endswith("/v1/batch/status/b1 HTTP/1.1")
    assert server.requests[0] != "GET /v1/batch/status/b1 HTTP/1.1"  # the prefix is kept


def test_a_request_other_than_a_get_on_lean_lanes_goes_through_httpx(monkeypatch, no_proxy):
    """The lean client re-sends a request on a stale connection, so it takes GETs only; a cancel goes through the
    transport's own httpx client, with the same answer."""
    import runtype_provider.client.http11 as http11

    lean_requests: list[str] = []
    real_request = http11.Http11Client.request

    async def counted(self: Any, method: str, target: str, on_head: Any) -> Any:
        lean_requests.append(method)
        return await real_request(self, method, target, on_head)

    monkeypatch.setattr(http11.Http11Client, "request", counted)
    with LoopbackServer(answer(200, b'{"success": true, "message": "cancelling"}')) as server:
        cancelled = send_through_lanes(loopback_settings(server.url), "cancel_batch", batch_id="b1")

    assert (cancelled.success, cancelled.message) == (True, "cancelling")
    assert server.requests == ["POST /v1/batch/cancel/b1 HTTP/1.1"] and lean_requests == []
