"""RuntypeHook retries: counted attempts and honoured waits on a fake clock (``sleeps``), sync and async.

Non-idempotent calls (run-now, create) must never be retried into a second run: only when the request
provably never reached the server (connect error) or the server refused it (429).
"""

from __future__ import annotations

import asyncio
import email.utils
import http.client
import json
import socket
import time
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import requests
import respx
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

import runtype_provider.transport as transport_module
from runtype_provider.endpoints import ENDPOINTS
from runtype_provider.exceptions import (
    RuntypeConnectionError,
    RuntypeException,
    RuntypeRateLimitError,
    RuntypeServerError,
)
from runtype_provider.hooks.runtype import RuntypeHook
from runtype_provider.transport import RetryPolicy

BASE = "https://api.runtype.com"
SCHEDULE = {"id": "s1", "name": "Nightly", "enabled": True}
RUN_NOW = {"batchExecutionId": "batch_abc", "error": None, "runId": "run_001", "status": "queued"}
SURFACE_RUN_NOW = {"batchExecutionId": "batch_abc", "recordCount": 125, "status": "queued"}
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@pytest.fixture
def hook(runtype_conn: dict, sleeps: list[float]) -> RuntypeHook:
    """retry_limit 3 (default), retry_delay 0.01 s (from the connection), fake clock."""
    return RuntypeHook()


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> float:
    """Freeze the wall clock the hook reads for HTTP-date and reset-time hints."""
    monkeypatch.setattr(transport_module, "time", SimpleNamespace(time=lambda: NOW, sleep=time.sleep))
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


def backoff_bounds(attempt: int, delay: float = 0.01, cap: float = 60.0) -> tuple[float, float]:
    ceiling = min(cap, delay * 2 ** (attempt - 1))
    return ceiling / 2, ceiling


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


# ---- backoff policy ------------------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", range(1, 9))
def test_backoff_upper_bound_is_the_doubling_ceiling(monkeypatch, attempt):
    monkeypatch.setattr(transport_module, "random", SimpleNamespace(uniform=lambda low, high: high))
    policy = RetryPolicy(retry_delay=1.0, retry_max_delay=60.0)
    assert policy.wait_seconds(attempt, None) == min(60.0, 2.0 ** (attempt - 1))


@pytest.mark.parametrize("attempt", range(1, 9))
def test_backoff_lower_bound_is_half_the_ceiling(monkeypatch, attempt):
    monkeypatch.setattr(transport_module, "random", SimpleNamespace(uniform=lambda low, high: low))
    policy = RetryPolicy(retry_delay=1.0, retry_max_delay=60.0)
    assert policy.wait_seconds(attempt, None) == min(60.0, 2.0 ** (attempt - 1)) / 2


@pytest.mark.parametrize("attempt", [1, 3, 7])
def test_backoff_is_jittered_within_bounds(attempt):
    policy = RetryPolicy(retry_delay=1.0, retry_max_delay=60.0)
    low, high = backoff_bounds(attempt, delay=1.0)
    waits = [policy.wait_seconds(attempt, None) for _ in range(200)]
    assert all(low <= w <= high for w in waits)
    assert len(set(waits)) > 1


def test_backoff_prefers_the_server_hint():
    hinted = RuntypeRateLimitError(method="GET", path="/v1/x", status_code=429, retry_after=9.5)
    assert RetryPolicy().wait_seconds(1, hinted) == 9.5


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
    return hook.asend(ENDPOINTS["run_schedule_now"].request(schedule_id="s1"))


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


# ---- reading the server's wait hint -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "12"}, 12.0),
        ({"Retry-After": " 2.5 "}, 2.5),
        ({"Retry-After": "-3"}, 0.0),
        ({"Retry-After": email.utils.formatdate(NOW + 90, usegmt=True)}, 90.0),
        ({"Retry-After": email.utils.formatdate(NOW - 90, usegmt=True)}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After-Ms": "250"}, 0.25),
        ({"Retry-After-Ms": "250", "Retry-After": "9"}, 0.25),
        ({"Retry-After-Ms": "x", "Retry-After": "9"}, 9.0),
        ({"X-RateLimit-Reset": str(int(NOW) + 15)}, 15.0),
        ({"Retry-After": "4", "X-RateLimit-Reset": str(int(NOW) + 15)}, 4.0),
        ({"X-RateLimit-Reset": "never"}, None),
    ],
)
def test_parse_retry_after(headers, expected):
    assert transport_module.parse_retry_after(headers, now=NOW) == expected
