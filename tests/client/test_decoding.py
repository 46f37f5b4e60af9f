"""runtype_provider.client.decoding.

Reading an answer: whatever the status, headers and bytes, only the provider's typed errors come out,
and the API key never survives into a decoded body (2xx included) or an error."""

from __future__ import annotations

import contextlib
import email.utils
import json
import math
import sys
import tempfile

import hypothesis.configuration
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtype_provider.client.decoding import is_daily_limit, parse_retry_after, read_response, redirect_error
from runtype_provider.exceptions import (
    RuntypeApiError,
    RuntypeDailyLimitError,
    RuntypeException,
    RuntypeRateLimitError,
    RuntypeRedirectError,
    RuntypeResponseError,
)

# Hypothesis keeps caches on disk; keep them out of the checkout.
hypothesis.configuration.set_hypothesis_home_dir(tempfile.mkdtemp(prefix="runtype-hypothesis-"))

KEY = "rt_test_fake_answers_key_0123456789"
NOW = 1_767_225_600.0
PROPERTIES = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def read(status: int, content: bytes, headers: dict[str, str] | None = None) -> object:
    return read_response("GET", "/v1/x", status, headers or {}, content, KEY)


def deep(depth: int, leaf: str = "") -> bytes:
    return ("[" * depth + json.dumps(leaf) + "]" * depth).encode()


# ---- bodies that cannot be decoded -----------------------------------------------------------------------


@pytest.mark.parametrize("depth", [sys.getrecursionlimit() + 10, 100_000])
def test_json_nested_too_deeply_is_a_typed_error(depth):
    with pytest.raises(RuntypeResponseError, match=r"returned HTTP 200 with a body that is not JSON \(JSON nested too"):
        read(200, deep(depth))


def test_an_error_body_nested_too_deeply_is_still_the_status_error():
    with pytest.raises(RuntypeApiError) as caught:
        read(500, deep(100_000))
    assert caught.value.status_code == 500
    assert len(str(caught.value)) < 400


def test_a_deep_but_decodable_body_is_redacted_without_recursion():
    depth = sys.getrecursionlimit() - 100  # json.loads manages it; a recursive walk on top of this frame did not
    with pytest.raises(RuntypeApiError) as caught:
        read(400, b'{"error": "bad", "x": ' + deep(depth, f"key {KEY}") + b"}")
    node = caught.value.body["x"]
    while isinstance(node, list):
        node = node[0]
    assert node == "key ***"


@pytest.mark.parametrize("content", [b'{"a": "\xff"}', b"\xfe\xff\x00{\x00}", b'{"a": "\xc3"}'])
def test_invalid_utf8_is_a_typed_error_naming_it(content):
    with pytest.raises(RuntypeResponseError, match="invalid UTF-8 at byte"):
        read(200, content)


def test_a_utf8_byte_order_mark_is_accepted():
    assert read(200, b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


def test_an_integer_too_long_to_convert_is_a_typed_error():
    with pytest.raises(RuntypeResponseError, match="not JSON"):
        read(200, b'{"n": ' + b"9" * 5000 + b"}")


def test_an_empty_2xx_body_is_an_empty_object():
    assert read(204, b"") == {}


# ---- the key is redacted from every body, 2xx included -----------------------------------------------------


def test_a_2xx_body_echoing_the_key_is_redacted():
    body = {"status": "failed", "error": f"Invalid key {KEY}", "rows": [{"error": f"Bearer {KEY}"}]}
    assert read(200, json.dumps(body).encode()) == {
        "status": "failed",
        "error": "Invalid key ***",
        "rows": [{"error": "Bearer ***"}],
    }


def test_a_2xx_body_with_the_key_json_escaped_is_redacted():
    escaped = "".join(f"\\u{ord(c):04x}" for c in KEY)
    assert read(200, f'{{"error": "{escaped}"}}'.encode()) == {"error": "***"}


def test_a_large_body_without_the_key_is_not_walked(monkeypatch):
    import runtype_provider.client.redaction as redaction

    def walked(*args: object) -> None:
        raise AssertionError("walked a body that cannot contain the key")

    monkeypatch.setattr(redaction, "redact_json", walked)
    rows = [{"recordId": f"r{i}", "status": "completed", "error": None} for i in range(20_000)]
    assert len(read(200, json.dumps({"data": rows}).encode())["data"]) == 20_000


# ---- error texts are bounded ---------------------------------------------------------------------------------


def test_a_huge_error_message_is_truncated():
    with pytest.raises(RuntypeApiError) as caught:
        read(400, json.dumps({"error": "x" * 100_000, "details": [{"message": "y" * 100_000}] * 100}).encode())
    assert len(str(caught.value)) < 25_000
    assert len(caught.value.details) == 20


def test_a_non_string_error_is_shown_as_json():
    with pytest.raises(RuntypeApiError, match=r'returned HTTP 400: \{"code": "BAD"\}'):
        read(400, b'{"error": {"code": "BAD"}}')


# ---- redirects ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "host"),
    [
        ("https://user:pw@evil.example:8443/x?token=abc#f", "evil.example:8443"),
        ("/v1/elsewhere", "api.runtype.com"),
        (None, None),
        ("http://[::1", None),
    ],
)
def test_a_redirect_names_its_status_and_target_host_only(location, host):
    headers = {"Location": location} if location else {}
    with pytest.raises(RuntypeRedirectError) as caught:
        read_response("POST", "/v1/s/run-now", 307, headers, b"", KEY, url="https://api.runtype.com/v1/s/run-now")
    error = caught.value
    assert (error.status_code, error.location_host) == (307, host)
    assert "returned HTTP 307" in str(error) and "not followed" in str(error)
    for secret in ("user", "pw", "token", "abc"):
        assert secret not in str(error)


def test_a_redirect_to_a_host_spelling_the_key_is_redacted():
    error = redirect_error("GET", "/v1/x", 302, f"https://{KEY.lower()}.example/", None, KEY.lower())
    assert KEY.lower() not in str(error)


# ---- Retry-After ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "nan"}, None),
        ({"Retry-After-Ms": "NaN", "Retry-After": "3"}, 3.0),
        ({"Retry-After": "inf"}, math.inf),
        ({"Retry-After": "1e400"}, math.inf),
        ({"Retry-After": "Mon, 99 Foo 0000 99:99:99 GMT"}, None),
        ({"Retry-After": "0"}, 0.0),
        ({"X-RateLimit-Reset": "nan"}, None),
    ],
)
def test_parse_retry_after_edge_cases(headers, expected):
    assert parse_retry_after(headers, now=NOW) == expected


# ---- properties: only typed errors, never the key ------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
HEADER_NAMES = st.sampled_from(["Retry-After", "Retry-After-Ms", "X-RateLimit-Reset", "Location", "Content-Type"])
HEADERS = st.dictionaries(HEADER_NAMES, st.text(max_size=40), max_size=4)


def with_key(value: object) -> object:
    """``value`` with the key planted in a string, as a server echoing it would."""
    return {"error": f"bad key {KEY}", "details": [{"message": KEY, "path": "h"}], "data": value, KEY: value}


@PROPERTIES
@given(status=st.integers(100, 599), headers=HEADERS, content=st.binary(max_size=512))
def test_read_response_raises_only_typed_errors_for_any_bytes(status, headers, content):
    with contextlib.suppress(RuntypeException):
        read_response("GET", "/v1/x", status, headers, content, KEY)


@PROPERTIES
@given(status=st.integers(100, 599), headers=HEADERS, value=JSON, escape=st.booleans())
def test_read_response_never_returns_or_raises_the_key(status, headers, value, escape):
    content = json.dumps(with_key(value), ensure_ascii=escape).encode()
    try:
        result = read_response("GET", "/v1/x", status, headers, content, KEY)
    except RuntypeException as err:
        assert status < 200 or status >= 300
        texts = [str(err), repr(err.__dict__)]
    else:
        assert 200 <= status < 300
        texts = [json.dumps(result)]
    assert all(KEY not in text for text in texts)


@PROPERTIES
@given(headers=st.dictionaries(HEADER_NAMES, st.text(max_size=60), max_size=5), now=st.floats(0, 4e9))
def test_parse_retry_after_never_raises_and_never_returns_nan_or_negative(headers, now):
    wait = parse_retry_after(headers, now=now)
    assert wait is None or (wait >= 0 and not math.isnan(wait))


@PROPERTIES
@given(value=st.one_of(st.floats(), st.integers(), st.text(max_size=30)).map(str))
def test_any_retry_after_text_is_read_without_raising(value):
    for name in ("Retry-After", "Retry-After-Ms", "X-RateLimit-Reset"):
        wait = parse_retry_after({name: value}, now=NOW)
        assert wait is None or wait >= 0


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
    assert parse_retry_after(headers, now=NOW) == expected


# ---- a 429 for a used-up plan allowance --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "daily"),
    [
        ({"error": "Daily execution limit reached", "code": "DAILY_LIMIT_EXCEEDED"}, {}, True),
        ({"error": "Too many requests", "code": "SLOW_MODE_HOURLY_LIMIT_EXCEEDED"}, {}, True),
        ({"error": "Too many requests", "details": [{"message": "m", "code": "QUOTA_EXCEEDED"}]}, {}, True),
        ({"error": "Nope", "message": "Your daily limit is used up"}, {}, True),
        ({"error": "Too many requests"}, {"X-Quota-Remaining": "0"}, True),
        ({"error": "Rate limit exceeded", "code": "RATE_LIMITED"}, {}, False),
        ({"error": "Too many requests"}, {"X-Quota-Remaining": "12"}, False),
        ({"error": "Slow down"}, {}, False),
        ({"code": 7, "error": ["daily"]}, {}, False),
        (["daily"], {}, False),
    ],
)
def test_is_daily_limit(body, headers, daily):
    assert is_daily_limit(body, headers) is daily


def test_a_daily_limit_429_is_its_own_error_and_a_burst_429_is_not():
    body = json.dumps({"error": "Daily execution limit reached", "code": "DAILY_LIMIT_EXCEEDED"}).encode()
    with pytest.raises(RuntypeDailyLimitError) as caught:
        read(429, body, {"Retry-After": "60"})
    assert (caught.value.retry_after, caught.value.code) == (60.0, "DAILY_LIMIT_EXCEEDED")
    with pytest.raises(RuntypeRateLimitError) as burst:
        read(429, b'{"error": "Rate limit exceeded"}')
    assert type(burst.value) is RuntypeRateLimitError
    with pytest.raises(RuntypeApiError) as other:  # the same body on another status is not a daily limit
        read(400, body)
    assert type(other.value) is RuntypeApiError


@PROPERTIES
@given(
    body=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["code", "error", "message",
                                                                                    "details"]), inner, max_size=4),
        max_leaves=10,
    ),
    quota=st.none() | st.text(max_size=4),
)  # fmt: skip
def test_is_daily_limit_never_raises(body, quota):
    assert is_daily_limit(body, {} if quota is None else {"X-Quota-Remaining": quota}) in (True, False)
