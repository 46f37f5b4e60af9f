"""runtype_provider.client.limits.

Bounds on one answer, against a real loopback server: total time per attempt, decompressed size cap.

Sync (requests) and async (httpx) alike: a trickling server fails within the request timeout plus a small
margin, an endless or compressed-bomb body stops at ``max_response_mb`` with memory bounded by it.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import tempfile
import time
import tracemalloc
import zlib
from typing import Any

import hypothesis.configuration
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loopback_server import (
    LoopbackServer,
    answer,
    bomb,
    compressed,
    endless_chunks,
    send_through_lanes,
    trickle_body,
    trickle_head,
)

from runtype_provider.client.limits import BodyReader
from runtype_provider.exceptions import (
    RuntypeDeadlineError,
    RuntypeResponseError,
    RuntypeResponseTooLargeError,
    RuntypeTimeoutError,
)
from runtype_provider.hooks.runtype import RuntypeHook

# Hypothesis keeps caches on disk; keep them out of the checkout.
hypothesis.configuration.set_hypothesis_home_dir(tempfile.mkdtemp(prefix="runtype-hypothesis-"))

KEY = "rt_test_fake_limits_key_0123456789"
BATCH = {"batchExecutionId": "b1", "status": "running", "totalRecords": 3}
MODES = ["sync", "async", "shared"]  # shared: client lanes lending the lean http11 client


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Start a loopback server with a behaviour; ``runtype_default`` points at it (no retries by default)."""
    servers: list[LoopbackServer] = []

    def start(behaviour: Any, **extra: Any) -> LoopbackServer:
        server = LoopbackServer(behaviour).__enter__()
        servers.append(server)
        conn = {"conn_type": "runtype", "host": server.url, "password": KEY, "extra": {"retry_limit": 0, **extra}}
        monkeypatch.setenv("AIRFLOW_CONN_RUNTYPE_DEFAULT", json.dumps(conn))
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def get_batch_status(mode: str, hook: RuntypeHook | None = None) -> Any:
    hook = hook or RuntypeHook()
    if mode == "shared":
        return send_through_lanes(hook.settings, "get_batch_status", batch_id="b1", deadline=hook.deadline)
    if mode == "sync":
        try:
            return hook.get_batch_status("b1")
        finally:
            hook.close()

    async def main() -> Any:
        try:
            return await hook.get_batch_status_async("b1")
        finally:
            await hook.aclose()

    return asyncio.run(main())


def timed(call: Any, *args: Any) -> tuple[BaseException, float]:
    start = time.monotonic()
    with pytest.raises(Exception) as caught:
        call(*args)
    return caught.value, time.monotonic() - start


# ---- total time per attempt ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("behaviour", [trickle_body, trickle_head], ids=["body", "head"])
def test_a_trickling_server_fails_within_the_request_timeout(serve, mode, behaviour):
    serve(behaviour(0.2), timeout=1)
    error, _ = timed(get_batch_status, mode)
    # A timeout error (not an incomplete body when the server gives up after 4 s): the attempt's own budget cut it.
    assert isinstance(error, RuntypeTimeoutError), repr(error)
    assert "no complete answer within 1 s (the request timeout" in str(error)
    assert error.sent is True


@pytest.mark.parametrize("mode", MODES)
def test_the_callers_deadline_cuts_an_attempt_and_stops_the_retries(serve, mode):
    server = serve(trickle_body(0.2), timeout=30, retry_limit=3, retry_delay=0.01)
    hook = RuntypeHook(deadline=time.monotonic() + 0.8)
    error, _ = timed(get_batch_status, mode, hook)
    # A deadline error naming the cut attempt, after one connection: neither the 30 s timeout nor a retry ran.
    assert isinstance(error, RuntypeDeadlineError), repr(error)
    assert "the caller's deadline was reached" in str(error)
    assert "before the caller's deadline" in str(error)  # the cut attempt, named as the last failure
    assert server.connections == 1


# ---- decompressed size cap -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_an_endless_chunked_body_stops_at_the_cap_with_memory_bounded(serve, mode):
    serve(endless_chunks(), max_response_mb=1)
    tracemalloc.start()
    try:
        error, _ = timed(get_batch_status, mode)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(error, RuntypeResponseTooLargeError), repr(error)
    assert "larger than the 1 MiB cap (connection extra 'max_response_mb')" in str(error)
    assert peak < 8 * 2**20


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["gzip", "deflate"])
def test_a_compression_bomb_stops_at_the_cap_with_memory_bounded(serve, mode, kind):
    serve(answer(200, bomb(kind, 64 * 2**20), {"Content-Encoding": kind}), max_response_mb=1)
    tracemalloc.start()
    try:
        error, _ = timed(get_batch_status, mode)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(error, RuntypeResponseTooLargeError), repr(error)
    assert error.limit_bytes == 2**20
    assert peak < 8 * 2**20


@pytest.mark.parametrize("mode", MODES)
def test_a_declared_length_over_the_cap_is_refused(serve, mode):
    serve(answer(200, b" " * (2 * 2**20)), max_response_mb=1)
    error, _ = timed(get_batch_status, mode)
    assert isinstance(error, RuntypeResponseTooLargeError)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["gzip", "deflate"])
def test_a_compressed_answer_is_decoded(serve, mode, kind):
    serve(compressed(kind, json.dumps(BATCH).encode()))
    assert get_batch_status(mode).status == "running"


@pytest.mark.parametrize("mode", MODES)
def test_an_answer_just_under_the_cap_is_read(serve, mode):
    body = json.dumps({**BATCH, "pad": " " * (2**20 - 200)}).encode()
    serve(compressed("gzip", body), max_response_mb=1)
    assert get_batch_status(mode).status == "running"


@pytest.mark.parametrize("mode", MODES)
def test_an_encoding_that_was_not_asked_for_is_refused(serve, mode):
    server = serve(answer(200, b"\x1b\x00", {"Content-Encoding": "br"}))
    error, _ = timed(get_batch_status, mode)
    assert type(error) is RuntypeResponseError
    assert "Content-Encoding br, which was not asked for (only gzip, deflate)" in str(error)
    assert server.requests == ["GET /v1/batch/status/b1 HTTP/1.1"]


@pytest.mark.parametrize("mode", MODES)
def test_a_corrupt_compressed_body_is_a_typed_error(serve, mode):
    serve(answer(200, b"\x1f\x8b\x08\x00garbage-not-gzip", {"Content-Encoding": "gzip"}))
    error, _ = timed(get_batch_status, mode)
    assert type(error) is RuntypeResponseError
    assert "could not be decompressed" in str(error)


# ---- BodyReader itself -------------------------------------------------------------------------------------


def reader(encoding: str | None, limit: int = 2**20) -> BodyReader:
    return BodyReader(method="GET", path="/v1/x", limit=limit, content_encoding=encoding)


def encode(body: bytes, encoding: str) -> bytes:
    for layer in [c.strip() for c in encoding.split(",")]:
        if layer in ("gzip", "x-gzip"):
            body = gzip.compress(body)
        elif layer == "deflate":
            body = zlib.compress(body)
    return body


def test_raw_deflate_without_the_zlib_header_is_decoded():
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    body = packer.compress(b'{"a": 1}') + packer.flush()
    r = reader("deflate")
    r.feed(body)
    assert r.finish() == b'{"a": 1}'


def test_concatenated_gzip_members_are_all_decoded():
    r = reader("gzip")
    r.feed(gzip.compress(b'{"a": ') + gzip.compress(b"1}"))
    assert r.finish() == b'{"a": 1}'


ENCODINGS = st.sampled_from([None, "", "identity", "gzip", "deflate", "x-gzip", "gzip, deflate", "deflate, gzip"])
FAST = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(body=st.binary(max_size=4096), encoding=ENCODINGS, cut=st.integers(1, 512), slack=st.integers(-64, 64))
def test_body_reader_round_trips_or_refuses_by_the_cap(body, encoding, cut, slack):
    wire = encode(body, encoding or "")
    limit = max(1, len(body) + slack)
    r = reader(encoding, limit)
    try:
        for start in range(0, len(wire), cut):
            r.feed(wire[start : start + cut])
        assert r.finish() == body
        assert len(body) <= limit
    except RuntypeResponseTooLargeError as err:
        assert len(body) > limit
        assert err.limit_bytes == limit


@FAST
@given(wire=st.binary(max_size=2048), encoding=ENCODINGS | st.text(max_size=20), limit=st.integers(1, 4096))
def test_body_reader_raises_only_typed_errors_whatever_the_bytes(wire, encoding, limit):
    try:
        r = reader(encoding, limit)
        r.feed(wire)
        assert len(r.finish()) <= limit
    except RuntypeResponseError:
        pass


def test_the_watchdog_forgets_attempts_that_ended_in_time_so_its_heap_stays_small() -> None:
    from runtype_provider.client import limits

    watchdog = limits._Watchdog()
    live = [limits.AttemptTimer(3600) for _ in range(100)]
    for timer in live:  # attempts still going: kept, however many
        watchdog.schedule(time.monotonic() + 3600, timer)
    sizes = []
    for _ in range(20_000):  # attempts that end in time, one after the other (a long results read)
        timer = limits.AttemptTimer(3600)
        watchdog.schedule(time.monotonic() + 3600, timer)
        timer.done = True
        sizes.append(len(watchdog._heap))
    assert max(sizes[-1000:]) <= 2 * len(live) + 1  # flat: bounded by what is live, not by what ended
    assert {entry[2] for entry in watchdog._heap} >= set(live)  # no live timer dropped
