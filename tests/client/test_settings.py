"""runtype_provider.client.settings.

RuntypeHook and its Airflow connection: settings, test_connection, and the API key never leaking."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import socket
import tempfile
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, quote_plus

import hypothesis.configuration
import jsonschema
import pytest
import requests
import respx
from hypothesis import given, settings
from hypothesis import strategies as st
from requests.adapters import HTTPAdapter

from runtype_provider.client.options import OPTIONS
from runtype_provider.client.settings import ConnectionSettings, settings_from_connection
from runtype_provider.client.transport import SyncTransport
from runtype_provider.exceptions import (
    RuntypeApiError,
    RuntypeConfigurationError,
    RuntypeConnectionError,
    RuntypeException,
)
from runtype_provider.get_provider_info import CONN_FIELDS
from runtype_provider.hooks.runtype import RuntypeHook

# Hypothesis keeps caches on disk; keep them out of the checkout.
hypothesis.configuration.set_hypothesis_home_dir(tempfile.mkdtemp(prefix="runtype-hypothesis-"))

BASE = "https://api.runtype.com"
SCHEDULES_PAGE = {"data": [], "pagination": {"hasMore": False, "hasPrev": False, "limit": 1, "currentOffset": 0}}


@pytest.fixture
def use_conn(monkeypatch: pytest.MonkeyPatch, api_key: str):
    """Replace ``runtype_default`` with a connection built from the given fields (the key by default)."""

    def use(**fields: Any) -> None:
        conn = {"conn_type": "runtype", "password": api_key, **fields}
        monkeypatch.setenv("AIRFLOW_CONN_RUNTYPE_DEFAULT", json.dumps(conn))

    return use


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound to get a free one, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def sent_requests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count requests that really go through requests' transport adapter (no mock involved)."""
    urls: list[str] = []
    original = HTTPAdapter.send

    def send(self, request, *args, **kwargs):
        urls.append(request.url)
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(HTTPAdapter, "send", send)
    return urls


def run_async(hook: RuntypeHook, awaitable: Any) -> Any:
    async def main() -> Any:
        try:
            return await awaitable
        finally:
            await hook.aclose()

    return asyncio.run(main())


# ---- connection settings ------------------------------------------------------------------------------


def test_constructing_the_hook_reads_no_connection():
    hook = RuntypeHook("no_such_connection", timeout=5)
    assert hook.runtype_conn_id == "no_such_connection"
    assert hook._settings is None


def test_default_host_is_the_production_api(use_conn, sleeps):
    use_conn()
    settings = RuntypeHook().settings
    assert settings.base_url == "https://api.runtype.com"


def test_host_without_scheme_gets_https(use_conn, sleeps, requests_mock):
    use_conn(host="api.runtype.com")
    requests_mock.get(f"{BASE}/v1/schedules/s1", json={"id": "s1"})
    RuntypeHook().get_schedule("s1")
    assert requests_mock.last_request.url == "https://api.runtype.com/v1/schedules/s1"


def test_host_without_scheme_keeps_the_port_field(use_conn, sleeps):
    use_conn(host="runtype.internal", port=8443)
    assert RuntypeHook().settings.base_url == "https://runtype.internal:8443"


@pytest.mark.parametrize(
    ("host", "port", "base_url"),
    [
        ("https://api.runtype.com", 443, "https://api.runtype.com:443"),
        ("http://127.0.0.1", 8765, "http://127.0.0.1:8765"),
        ("http://[::1]", 8765, "http://[::1]:8765"),
        ("http://127.0.0.1:8765", 8765, "http://127.0.0.1:8765"),
        ("https://api.runtype.com/v1", 8443, "https://api.runtype.com:8443"),
    ],
)
def test_port_field_fills_in_a_url_without_a_port(use_conn, sleeps, host, port, base_url):
    use_conn(host=host, port=port)
    assert RuntypeHook().settings.base_url == base_url


def test_port_field_that_contradicts_the_url_is_refused_by_name(use_conn, sleeps, requests_mock):
    use_conn(host="http://127.0.0.1:8765", port=9999)
    with pytest.raises(RuntypeConfigurationError, match=r"'runtype_default': port 9999 contradicts the port in host"):
        RuntypeHook().get_schedule("s1")
    assert requests_mock.call_count == 0


def test_an_invalid_port_in_the_url_is_refused(use_conn, sleeps):
    use_conn(host="https://api.runtype.com:99999")
    with pytest.raises(RuntypeConfigurationError, match="host has an invalid port"):
        RuntypeHook().settings  # noqa: B018


@pytest.mark.parametrize(
    "host", ["https://api.runtype.com/v1", "https://api.runtype.com/v1/", "https://api.runtype.com/"]
)
def test_trailing_v1_and_slash_are_stripped(use_conn, sleeps, requests_mock, host):
    use_conn(host=host)
    requests_mock.get(f"{BASE}/v1/schedules/s1", json={"id": "s1"})
    RuntypeHook().get_schedule("s1")
    assert RuntypeHook().settings.base_url == BASE
    assert requests_mock.last_request.url == "https://api.runtype.com/v1/schedules/s1"


def test_plain_http_is_refused_for_remote_hosts(use_conn, sleeps, requests_mock):
    use_conn(host="http://api.runtype.com")
    with pytest.raises(RuntypeConfigurationError, match=r"Runtype connection 'runtype_default': plain http://"):
        RuntypeHook().get_schedule("s1")
    assert requests_mock.call_count == 0


@pytest.mark.parametrize(
    "host", ["http://127.0.0.1:8080", "http://localhost:9000", "http://[::1]:8000", "http://127.0.0.5"]
)
def test_plain_http_is_allowed_for_loopback_hosts(use_conn, sleeps, host):
    use_conn(host=host)
    assert RuntypeHook().settings.base_url == host


def test_a_host_that_is_not_an_http_url_is_refused(use_conn, sleeps):
    use_conn(host="ftp://files.runtype.com")
    with pytest.raises(RuntypeConfigurationError, match="'runtype_default': host must be an https:// URL"):
        RuntypeHook().settings  # noqa: B018


@pytest.mark.parametrize("password", [None, "", "   "])
def test_missing_api_key_is_refused(monkeypatch, sleeps, requests_mock, password):
    conn = {"conn_type": "runtype", "host": BASE, "password": password}
    monkeypatch.setenv("AIRFLOW_CONN_RUNTYPE_DEFAULT", json.dumps(conn))
    with pytest.raises(RuntypeConfigurationError, match=r"'runtype_default': no API key: fill in the password"):
        RuntypeHook().get_schedule("s1")
    assert requests_mock.call_count == 0


@pytest.mark.parametrize(
    ("extra", "name"),
    [
        ({"timeout": "soon"}, "timeout"),
        ({"timeout": 0}, "timeout"),
        ({"retry_limit": -1}, "retry_limit"),
        ({"retry_limit": "many"}, "retry_limit"),
        ({"retry_delay": -0.5}, "retry_delay"),
        ({"retry_max_delay": "x"}, "retry_max_delay"),
    ],
)
def test_bad_extras_are_refused_by_name(use_conn, sleeps, extra, name):
    use_conn(host=BASE, extra=extra)
    with pytest.raises(RuntypeConfigurationError, match=f"Runtype connection 'runtype_default': '{name}' must be"):
        RuntypeHook().settings  # noqa: B018


def test_bad_hook_parameter_is_refused_by_name(use_conn, sleeps):
    use_conn(host=BASE)
    with pytest.raises(RuntypeConfigurationError, match=r"'timeout' must be a finite number >= 0\.001, got -1"):
        RuntypeHook(timeout=-1).settings  # noqa: B018


def test_extras_given_as_strings_are_converted(use_conn, sleeps):
    use_conn(host=BASE, extra={"timeout": "12.5", "retry_limit": "2", "retry_delay": "0.5", "retry_max_delay": "9"})
    settings = RuntypeHook().settings
    assert (settings.timeout, settings.retry.retry_limit, settings.retry.retry_delay) == (12.5, 2, 0.5)
    assert settings.retry.retry_max_delay == 9.0


def test_prefixed_extras_of_the_legacy_form_are_read(use_conn, sleeps):
    use_conn(host=BASE, extra={"extra__runtype__timeout": 7, "extra__runtype__retry_limit": 1})
    settings = RuntypeHook().settings
    assert (settings.timeout, settings.retry.retry_limit) == (7.0, 1)


def test_defaults_without_extras(use_conn, sleeps):
    use_conn(host=BASE)
    settings = RuntypeHook().settings
    assert (settings.timeout, settings.retry.retry_limit, settings.retry.retry_delay) == (30.0, 3, 1.0)


def test_dashboard_url_defaults_to_the_app_for_the_production_host(use_conn, sleeps):
    use_conn(host=BASE)
    assert RuntypeHook().settings.dashboard_url == "https://app.runtype.com"


def test_dashboard_url_defaults_to_the_base_url_for_another_host(use_conn, sleeps):
    use_conn(host="http://127.0.0.1:8765/v1")
    assert RuntypeHook().settings.dashboard_url == "http://127.0.0.1:8765"


def test_dashboard_url_extra_overrides_the_default(use_conn, sleeps):
    use_conn(host=BASE, extra={"dashboard_url": "https://runtype.example.com/app/"})
    hook = RuntypeHook()
    assert hook.settings.dashboard_url == "https://runtype.example.com/app"
    assert hook.run_reference(schedule_id="s1").run_url == "https://runtype.example.com/app/schedules/s1"


def test_uri_form_connection(monkeypatch, sleeps, requests_mock, api_key):
    monkeypatch.setenv(
        "AIRFLOW_CONN_RUNTYPE_DEFAULT",
        f"runtype://:{api_key}@api.runtype.com/?timeout=5&retry_limit=1&dashboard_url=https%3A%2F%2Fdash.example.com",
    )
    requests_mock.get(f"{BASE}/v1/schedules/s1", json={"id": "s1"})
    hook = RuntypeHook()
    assert hook.get_schedule("s1").id == "s1"
    settings = hook.settings
    assert (settings.base_url, settings.timeout, settings.retry.retry_limit) == (BASE, 5.0, 1)
    assert settings.dashboard_url == "https://dash.example.com"
    assert requests_mock.last_request.headers["Authorization"] == f"Bearer {api_key}"
    assert requests_mock.last_request.timeout == 5.0


def test_named_connection(monkeypatch, sleeps, requests_mock, api_key):
    conn = {"conn_type": "runtype", "host": "https://eu.runtype.example", "password": api_key}
    monkeypatch.setenv("AIRFLOW_CONN_RUNTYPE_EU", json.dumps(conn))
    requests_mock.get("https://eu.runtype.example/v1/schedules/s1", json={"id": "s1"})
    assert RuntypeHook("runtype_eu").get_schedule("s1").id == "s1"


def test_async_settings_match_sync_settings(use_conn, sleeps):
    use_conn(host="api.runtype.com/v1", extra={"timeout": 9, "dashboard_url": "https://d.example"})
    sync_settings = RuntypeHook().settings
    hook = RuntypeHook()
    assert asyncio.run(hook.asettings()) == sync_settings


# ---- test_connection --------------------------------------------------------------------------------------


def test_test_connection_succeeds_with_one_cheap_authenticated_call(hook, requests_mock, api_key):
    requests_mock.get(f"{BASE}/v1/schedules", json=SCHEDULES_PAGE)
    ok, message = hook.test_connection()
    assert ok is True
    assert message == "Connected to Runtype at https://api.runtype.com: the API key is valid."
    assert requests_mock.call_count == 1
    request = requests_mock.last_request
    assert (request.method, request.path, request.query) == ("GET", "/v1/schedules", "limit=1")
    assert request.headers["Authorization"] == f"Bearer {api_key}"


@pytest.mark.parametrize("status", [401, 403])
def test_test_connection_reports_a_rejected_key(hook, sleeps, requests_mock, status):
    requests_mock.get(f"{BASE}/v1/schedules", status_code=status, json={"error": "Invalid API key"})
    ok, message = hook.test_connection()
    assert ok is False
    assert f"HTTP {status}" in message
    assert "Invalid API key" in message
    assert requests_mock.call_count == 1


@pytest.mark.parametrize("status", [500, 503, 429])
def test_test_connection_reports_a_server_failure_without_retrying(hook, sleeps, requests_mock, status):
    requests_mock.get(f"{BASE}/v1/schedules", status_code=status, json={"error": "Upstream down"})
    ok, message = hook.test_connection()
    assert ok is False
    assert message == f"Runtype API GET /v1/schedules returned HTTP {status}: Upstream down (Runtype at {BASE})"
    assert (requests_mock.call_count, sleeps) == (1, [])


def test_test_connection_reports_a_refused_connection(use_conn, sleeps, closed_port, sent_requests):
    use_conn(host=f"http://127.0.0.1:{closed_port}")
    ok, message = RuntypeHook().test_connection()
    assert ok is False
    assert message.startswith("Runtype API GET /v1/schedules failed: ConnectionError")
    assert sent_requests == [f"http://127.0.0.1:{closed_port}/v1/schedules?limit=1"]
    assert sleeps == []


def test_test_connection_reports_a_bad_configuration(use_conn, sleeps, requests_mock):
    use_conn(host="http://runtype.example.com")
    ok, message = RuntypeHook().test_connection()
    assert ok is False
    assert "plain http:// is only allowed for loopback hosts" in message
    assert requests_mock.call_count == 0


def test_test_connection_reports_an_unexpected_answer(hook, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules", text="<html>login</html>")
    ok, message = hook.test_connection()
    assert ok is False
    assert "not JSON" in message


def test_test_connection_never_raises(hook, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(SyncTransport, "send", broken)
    assert hook.test_connection() == (False, "Runtype connection test failed: KeyError")


def test_test_connection_restores_the_retry_policy(hook, sleeps, requests_mock):
    requests_mock.get(f"{BASE}/v1/schedules", json=SCHEDULES_PAGE)
    requests_mock.get(f"{BASE}/v1/schedules/s1", [{"status_code": 500}, {"json": {"id": "s1"}}])
    assert hook.test_connection()[0] is True
    assert hook.get_schedule("s1").id == "s1"
    assert hook.settings.retry.retry_limit == 3
    assert len(sleeps) == 1


# ---- the API key never leaks ------------------------------------------------------------------------------


def echoing_body(key: str) -> dict[str, Any]:
    return {
        "error": f"Invalid API key {key}",
        "message": f"key {key} was revoked",
        "details": [{"message": f"Bearer {key} is not accepted", "path": "headers.authorization"}, f"raw {key}"],
        "code": f"BAD_{key}",
        "upgradeUrl": f"/billing?key={key}",
    }


def test_repr_of_the_hook_hides_the_key(hook, api_key):
    hook.settings  # noqa: B018  (loaded, so the key is in memory)
    assert repr(hook) == "RuntypeHook(runtype_conn_id='runtype_default')"
    assert api_key not in str(hook)


def test_connection_settings_repr_hides_the_key(hook, api_key):
    settings = hook.settings
    assert settings.api_key == api_key
    assert api_key not in repr(settings)
    assert api_key not in str(settings)
    assert "base_url='https://api.runtype.com'" in repr(settings)


def test_connection_settings_repr_hides_any_key():
    settings = ConnectionSettings(
        base_url=BASE,
        api_key="rt_live_secret",
        timeout=1.0,
        retry=None,
        dashboard_url=BASE,  # type: ignore[arg-type]
    )
    assert "rt_live_secret" not in repr(settings)


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 429, 500])
def test_errors_never_carry_the_key_even_when_the_server_echoes_it(
    runtype_conn, sleeps, requests_mock, api_key, status
):
    requests_mock.post(f"{BASE}/v1/schedules/s1/run-now", status_code=status, json=echoing_body(api_key))
    with pytest.raises(RuntypeApiError) as caught:
        RuntypeHook(retry_limit=0).run_schedule_now("s1")
    err = caught.value
    assert "Invalid API key ***" in str(err)
    for text in (str(err), repr(err), repr(err.args), repr(err.error), repr(err.details)):
        assert api_key not in text
    assert api_key not in repr(vars(err))


def test_plain_text_error_echoing_the_key_is_redacted(hook, requests_mock, api_key):
    requests_mock.get(f"{BASE}/v1/schedules/s1", status_code=400, text=f"bad header: Bearer {api_key}")
    with pytest.raises(RuntypeApiError) as caught:
        hook.get_schedule("s1")
    assert str(caught.value) == "Runtype API GET /v1/schedules/s1 returned HTTP 400: bad header: Bearer ***"


@pytest.mark.parametrize("position", [170, 185, 195, 199])
def test_no_part_of_the_key_survives_truncation_of_a_plain_text_error(hook, requests_mock, api_key, position):
    requests_mock.get(f"{BASE}/v1/schedules/s1", status_code=400, text="x" * position + api_key + " tail")
    with pytest.raises(RuntypeApiError) as caught:
        hook.get_schedule("s1")
    assert api_key[:12] not in str(caught.value)


def test_connection_error_text_echoing_the_key_is_redacted(hook, requests_mock, api_key):
    failure = requests.exceptions.ReadTimeout(f"read timed out (headers: Authorization: Bearer {api_key})")
    requests_mock.post(f"{BASE}/v1/schedules/s1/run-now", exc=failure)
    with pytest.raises(RuntypeConnectionError) as caught:
        hook.run_schedule_now("s1")
    assert api_key not in str(caught.value)
    assert api_key not in repr(caught.value)
    assert api_key not in caught.value.reason


def test_async_errors_never_carry_the_key(runtype_conn, sleeps, api_key):
    hook = RuntypeHook(retry_limit=0)
    with respx.mock(base_url=BASE) as mock:
        mock.get("/v1/batch/status/b1").respond(401, json=echoing_body(api_key))
        with pytest.raises(RuntypeApiError) as caught:
            run_async(hook, hook.get_batch_status_async("b1"))
    assert api_key not in str(caught.value)
    assert api_key not in repr(vars(caught.value))


def test_logs_never_carry_the_key(hook, requests_mock, caplog, api_key):
    requests_mock.get(
        f"{BASE}/v1/schedules/s1",
        [{"status_code": 500, "json": echoing_body(api_key)}, {"json": {"id": "s1"}}],
    )
    requests_mock.post(f"{BASE}/v1/schedules/s1/run-now", status_code=401, json=echoing_body(api_key))
    with caplog.at_level(logging.DEBUG):
        hook.get_schedule("s1")
        with pytest.raises(RuntypeException):
            hook.run_schedule_now("s1")
    retries = [r for r in caplog.records if "retry 1/3" in r.getMessage()]
    assert len(retries) == 1
    assert "returned HTTP 500" in retries[0].getMessage()
    for record in caplog.records:
        assert api_key not in record.getMessage()
        assert api_key not in repr(record.args)
    assert api_key not in caplog.text


def test_test_connection_message_never_carries_the_key(hook, sleeps, requests_mock, api_key):
    requests_mock.get(f"{BASE}/v1/schedules", status_code=401, json=echoing_body(api_key))
    ok, message = hook.test_connection()
    assert (ok, "HTTP 401" in message) == (False, True)
    assert api_key not in message


def test_test_connection_message_for_a_server_error_never_carries_the_key(hook, sleeps, requests_mock, api_key):
    requests_mock.get(f"{BASE}/v1/schedules", status_code=500, json=echoing_body(api_key))
    ok, message = hook.test_connection()
    assert ok is False
    assert api_key not in message


def test_the_key_is_only_sent_in_the_authorization_header(hook, requests_mock, api_key):
    requests_mock.get(f"{BASE}/v1/schedules", json=SCHEDULES_PAGE)
    list(hook.list_schedules(search="x"))
    request = requests_mock.last_request
    assert api_key not in request.url
    assert [name for name, value in request.headers.items() if api_key in value] == ["Authorization"]


# ---- API keys that cannot be a key are refused when the connection is read (never echoed) --------------------

BAD_KEYS = {
    "inner-space": "rt_test_fake key_0123456789",
    "line-break": "rt_test_fake\nkey_0123456789",
    "crlf": "rt_test_fake\r\nkey_0123456789",
    "tab": "rt_test_fake\tkey_0123456789",
    "nul": "rt_test_fake\x00key_0123456789",
    "del": "rt_test_fake\x7fkey_0123456789",
    "latin-1": "rt_test_faké_key_0123456789",
    "non-latin-1": "rt_test_ключ_key_0123456789",
}
KIND = {
    "inner-space": "whitespace",
    "line-break": "a line break",
    "crlf": "a line break",
    "tab": "whitespace",
    "nul": "a control character",
    "del": "a control character",
    "latin-1": "a non-ASCII character",
    "non-latin-1": "a non-ASCII character",
}


def key_fragments(key: str) -> list[str]:
    return [key, key.strip(), repr(key)[1:-1], "fake_key", "key_0123456789", "rt_test_fake"]


@pytest.mark.parametrize("name", list(BAD_KEYS))
def test_a_key_with_a_character_no_key_has_is_refused_without_echoing_it(monkeypatch, sleeps, requests_mock, name):
    key = BAD_KEYS[name]
    conn = {"conn_type": "runtype", "host": BASE, "password": key}
    monkeypatch.setenv("AIRFLOW_CONN_RUNTYPE_DEFAULT", json.dumps(conn))
    requests_mock.get(f"{BASE}/v1/schedules/s1", json={"id": "s1"})
    with pytest.raises(RuntypeConfigurationError) as caught:
        RuntypeHook().get_schedule("s1")
    message = str(caught.value)
    assert f"the API key (the password field, 'API Key') contains {KIND[name]}" in message
    assert all(fragment not in message for fragment in key_fragments(key))
    assert requests_mock.call_count == 0


def test_a_bad_key_is_refused_by_the_async_path_too(monkeypatch):
    conn = {"conn_type": "runtype", "host": BASE, "password": BAD_KEYS["line-break"]}
    monkeypatch.setenv("AIRFLOW_CONN_RUNTYPE_DEFAULT", json.dumps(conn))
    hook = RuntypeHook()
    with pytest.raises(RuntypeConfigurationError, match="contains a line break"):
        run_async(hook, hook.get_batch_status_async("b1"))


def test_a_key_with_a_bad_character_fails_the_connection_test_cleanly(monkeypatch, requests_mock):
    key = BAD_KEYS["line-break"]
    monkeypatch.setenv("AIRFLOW_CONN_RUNTYPE_DEFAULT", json.dumps({"conn_type": "runtype", "password": key}))
    ok, message = RuntypeHook().test_connection()
    assert ok is False and "contains a line break" in message
    assert all(fragment not in message for fragment in key_fragments(key))


def test_whitespace_around_the_key_is_trimmed(use_conn, sleeps):
    use_conn(host=BASE, password="  rt_test_fake_padded_key_0123\n")
    assert RuntypeHook().settings.api_key == "rt_test_fake_padded_key_0123"


ODD_KEY = "rt_test_a'b\"c\\d/e+f%g&h_0123456789"  # printable ASCII: valid, but every escaping changes it


def escaped_forms(key: str) -> list[str]:
    return [key, repr(key)[1:-1], quote(key, safe=""), quote_plus(key), json.dumps(key)[1:-1]]


def test_escaped_forms_of_the_key_never_reach_a_message_or_log_line(use_conn, sleeps, requests_mock, caplog):
    use_conn(host=BASE, password=ODD_KEY, extra={"retry_delay": 0.01})
    text = f"read timed out (headers={{'Authorization': {'Bearer ' + ODD_KEY!r}}}, url=?k={quote(ODD_KEY)}"
    failure = requests.exceptions.ReadTimeout(text + f", body={json.dumps({'key': ODD_KEY})})")
    requests_mock.get(f"{BASE}/v1/schedules/s1", exc=failure)
    with caplog.at_level(logging.WARNING), pytest.raises(RuntypeConnectionError) as caught:
        RuntypeHook().get_schedule("s1")
    assert len([r for r in caplog.records if "retry" in r.getMessage()]) == 3
    for text in (str(caught.value), caught.value.reason, caplog.text):
        assert all(form not in text for form in escaped_forms(ODD_KEY)), text


# ---- connection fields: refused by name, never echoing credentials ---------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("https://user:s3cr3t-pw@api.runtype.com", "must not contain a user name or password"),
        ("https://:rt_test_fake_unit_test_key_0123456789@api.runtype.com", "must not contain a user name or password"),
        ("https://api.runtype.com/?token=s3cr3t-pw", "must not contain a query"),
        ("https://api.runtype.com/v1#s3cr3t-pw", "must not contain a query ('?…') or a fragment"),
        ("https://api.runtype.com:0", "host has an invalid port 0"),
        ("https://api.runtype.com:70000", "host has an invalid port (1-65535)"),
        ("https://api runtype.com", "host contains whitespace or control characters"),
        ("https://", "host has no host name"),
        ("http://[::1", "host is not a valid URL"),
        ("api.runtype.com:notaport", "write it as e.g. https://api.runtype.com"),
    ],
)
def test_a_bad_host_is_refused_saying_what_to_write_and_never_echoing_credentials(
    use_conn, sleeps, api_key, host, expected
):
    use_conn(host=host)
    with pytest.raises(RuntypeConfigurationError) as caught:
        RuntypeHook().settings  # noqa: B018
    message = str(caught.value)
    assert expected in message
    assert "s3cr3t-pw" not in message and api_key not in message


@pytest.mark.parametrize("port", [70000, 65536, -1])
def test_a_port_outside_1_to_65535_is_refused(use_conn, sleeps, port):
    use_conn(host=BASE, port=port)
    with pytest.raises(RuntypeConfigurationError, match=f"port must be a whole number from 1 to 65535, got {port}"):
        RuntypeHook().settings  # noqa: B018


@pytest.mark.parametrize("host", ["localhost:8765", "127.0.0.1:8765/v1"])
def test_a_host_without_a_scheme_gets_https(use_conn, sleeps, host):
    use_conn(host=host)
    assert RuntypeHook().settings.base_url == "https://" + host.removesuffix("/v1")


NUMBER_EXTRAS = [
    ({"timeout": "nan"}, "timeout"),
    ({"timeout": "inf"}, "timeout"),
    ({"timeout": True}, "timeout"),
    ({"timeout": [5]}, "timeout"),
    ({"timeout": "1e999"}, "timeout"),
    ({"retry_limit": 21}, "retry_limit"),
    ({"retry_limit": 2.5}, "retry_limit"),
    ({"retry_limit": "3.5"}, "retry_limit"),
    ({"retry_limit": False}, "retry_limit"),
    ({"retry_limit": 10**30}, "retry_limit"),
    ({"retry_delay": "NaN"}, "retry_delay"),
    ({"retry_delay": True}, "retry_delay"),
    ({"retry_max_delay": "infinity"}, "retry_max_delay"),
    ({"max_response_mb": 0}, "max_response_mb"),
    ({"max_response_mb": "nan"}, "max_response_mb"),
    ({"max_response_mb": 10_000}, "max_response_mb"),
]


@pytest.mark.parametrize(("extra", "name"), NUMBER_EXTRAS, ids=[str(extra) for extra, _ in NUMBER_EXTRAS])
def test_non_finite_boolean_or_out_of_range_numbers_are_refused_by_name(use_conn, sleeps, extra, name):
    use_conn(host=BASE, extra=extra)
    with pytest.raises(RuntypeConfigurationError, match=f"Runtype connection 'runtype_default': '{name}' must be"):
        RuntypeHook().settings  # noqa: B018


@pytest.mark.parametrize(
    "overrides",
    [{"timeout": float("nan")}, {"timeout": float("inf")}, {"retry_limit": True}, {"retry_delay": float("nan")}],
)
def test_non_finite_or_boolean_hook_parameters_are_refused(use_conn, sleeps, overrides):
    use_conn(host=BASE)
    with pytest.raises(RuntypeConfigurationError, match=f"'{next(iter(overrides))}' must be"):
        RuntypeHook(**overrides).settings  # noqa: B018


def test_retry_limit_20_is_the_largest_accepted(use_conn, sleeps):
    use_conn(host=BASE, extra={"retry_limit": "20"})
    assert RuntypeHook().settings.retry.retry_limit == 20


def test_max_response_mb_sets_the_cap_in_bytes(use_conn, sleeps):
    use_conn(host=BASE, extra={"max_response_mb": "0.5"})
    assert RuntypeHook().settings.max_response_bytes == 2**19
    use_conn(host=BASE)
    assert RuntypeHook().settings.max_response_bytes == 64 * 2**20
    assert RuntypeHook(max_response_mb=2).settings.max_response_bytes == 2 * 2**20


@pytest.mark.parametrize(
    ("dashboard", "expected"),
    [
        ("javascript:alert(1)", "'dashboard_url' must be an https:// URL (got scheme 'javascript')"),
        ("ftp://dash.example.com", "'dashboard_url' must be an https:// URL (got scheme 'ftp')"),
        ("app.runtype.com", "'dashboard_url' must be an https:// URL (got scheme '')"),
        ("https://admin:s3cr3t-pw@app.runtype.com", "'dashboard_url' must not contain a user name or password"),
        (42, "'dashboard_url' must be an http:// or https:// URL"),
    ],
)
def test_a_dashboard_url_that_is_not_http_is_refused(use_conn, sleeps, dashboard, expected):
    use_conn(host=BASE, extra={"dashboard_url": dashboard})
    with pytest.raises(RuntypeConfigurationError) as caught:
        RuntypeHook().settings  # noqa: B018
    assert expected in str(caught.value)
    assert "s3cr3t-pw" not in str(caught.value)


def test_an_http_dashboard_url_is_accepted(use_conn, sleeps):
    use_conn(host=BASE, extra={"dashboard_url": "http://dash.internal:8080/"})
    assert RuntypeHook().settings.dashboard_url == "http://dash.internal:8080"


# ---- the connection test names the host, not Airflow's temporary connection id ---------------------------------

TEMPORARY_ID = "tmp3xq7w9z2k"  # Airflow tests a transient AIRFLOW_CONN_<random> connection


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"host": BASE, "extra": {"timeout": "soon"}}, "Runtype connection to api.runtype.com: 'timeout' must be"),
        ({"host": "https://user:s3cr3t-pw@eu.runtype.example"}, "Runtype connection to eu.runtype.example: host must"),
        ({"host": "runtype.internal", "port": 99999}, "Runtype connection to runtype.internal: port must be"),
        ({"host": BASE, "password": "rt_test_x\ny_0123456789"}, "Runtype connection to api.runtype.com: the API key"),
    ],
)
def test_connection_test_messages_name_the_host_not_the_temporary_id(
    monkeypatch, requests_mock, api_key, fields, expected
):
    conn = {"conn_type": "runtype", "password": api_key, **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{TEMPORARY_ID.upper()}", json.dumps(conn))
    ok, message = RuntypeHook(TEMPORARY_ID).test_connection()
    assert ok is False
    assert message.startswith(expected)
    assert TEMPORARY_ID not in message and "s3cr3t-pw" not in message
    assert requests_mock.call_count == 0


def test_connection_test_network_failures_name_the_host(use_conn, sleeps, closed_port):
    use_conn(host=f"http://127.0.0.1:{closed_port}")
    ok, message = RuntypeHook().test_connection()
    assert ok is False
    assert message.endswith(f"(Runtype at http://127.0.0.1:{closed_port})")


# ---- property: any connection either reads or fails with a typed, key-free error ---------------------------------

TEXT = st.text(max_size=30)
NUMBERISH = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), TEXT, st.lists(st.integers(), max_size=2), st.just("")
)
HOSTS = st.one_of(
    st.none(),
    TEXT,
    st.builds(lambda scheme, rest: scheme + rest, st.sampled_from(["https://", "http://", "ftp://", ""]), TEXT),
    st.sampled_from(["api.runtype.com", "https://api.runtype.com/v1", "http://127.0.0.1:8765", "https://[::1]:1"]),
)
KEYS = st.builds(
    lambda body, pad: pad + "rt_test_" + body + pad, st.text(min_size=8, max_size=30), st.sampled_from(["", " ", "\n"])
)


@settings(max_examples=300, deadline=None, database=None)
@given(
    host=HOSTS,
    password=st.one_of(st.none(), KEYS),
    port=st.one_of(st.none(), st.integers(-10, 70000), st.just(0)),
    extra=st.dictionaries(
        st.sampled_from([*OPTIONS]),
        NUMBERISH | HOSTS,
        max_size=4,
    ),
    overrides=st.dictionaries(st.sampled_from(["timeout", "retry_limit"]), NUMBERISH, max_size=2),
    in_host=st.booleans(),
)
def test_reading_any_connection_gives_settings_or_a_typed_error_without_the_key(
    host, password, port, extra, overrides, in_host
):
    if in_host and password and host is not None:
        host = f"https://{password.strip()}@{host}"  # a key pasted into the host field
    conn = SimpleNamespace(conn_id="c", host=host, password=password, port=port, extra_dejson=extra)
    try:
        settings_ = settings_from_connection(conn, overrides)
    except RuntypeConfigurationError as err:
        if password and len(password.strip()) >= 12:
            assert password.strip() not in str(err)
        return
    assert settings_.base_url.startswith(("https://", "http://"))
    assert math.isfinite(settings_.timeout) and 0 <= settings_.retry.retry_limit <= 20
    assert settings_.api_key == (password or "").strip()


# ---- max_concurrent_pages: result pages fetched at the same time ---------------------------------------------------


def test_max_concurrent_pages_defaults_to_16(use_conn, sleeps):
    use_conn(host=BASE)
    assert RuntypeHook().settings.max_concurrent_pages == 16


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"max_concurrent_pages": 1}, 1),
        ({"max_concurrent_pages": 32}, 32),
        ({"max_concurrent_pages": "4"}, 4),
        ({"max_concurrent_pages": 16.0}, 16),
        ({"extra__runtype__max_concurrent_pages": "3"}, 3),
        ({"max_concurrent_pages": ""}, 16),
    ],
)
def test_max_concurrent_pages_is_read_from_the_extra(use_conn, sleeps, extra, expected):
    use_conn(host=BASE, extra=extra)
    assert RuntypeHook().settings.max_concurrent_pages == expected


@pytest.mark.parametrize("value", [0, 33, -1, 2.5, "many", True, "nan", [4]])
def test_a_bad_max_concurrent_pages_extra_is_refused_by_name(use_conn, sleeps, value):
    use_conn(host=BASE, extra={"max_concurrent_pages": value})
    with pytest.raises(
        RuntypeConfigurationError,
        match="Runtype connection 'runtype_default': 'max_concurrent_pages' must be an integer from 1 to 32",
    ):
        RuntypeHook().settings  # noqa: B018


# ---- shared_run_list_polls: deferred waits share their schedule's run-list reads --------------------------------


def read(
    extra: dict[str, Any], overrides: dict[str, Any] | None = None, password: str = "rt_test_k"
) -> ConnectionSettings:
    conn = SimpleNamespace(conn_id="c", host=BASE, password=password, port=None, extra_dejson=extra)
    return settings_from_connection(conn, overrides or {})


RUN_LIST_EXTRAS = [
    ({}, False),
    ({"shared_run_list_polls": True}, True),
    ({"shared_run_list_polls": False}, False),
    ({"shared_run_list_polls": "false"}, False),
    ({"shared_run_list_polls": " True "}, True),
    ({"shared_run_list_polls": ""}, False),
    ({"extra__runtype__shared_run_list_polls": "TRUE"}, True),
]


@pytest.mark.parametrize(("extra", "expected"), RUN_LIST_EXTRAS)
def test_the_connection_extra_turns_run_list_polls_on(extra, expected):
    assert read(extra).shared_run_list_polls is expected


@pytest.mark.parametrize("value", ["yes", 1, 0, ["true"], "on"])
def test_a_bad_run_list_extra_is_refused_by_name(value):
    with pytest.raises(
        RuntypeConfigurationError, match=r"^Runtype connection 'c': 'shared_run_list_polls' must be true or false, got"
    ):
        read({"shared_run_list_polls": value})


def test_the_run_list_extra_is_read_from_an_airflow_connection(use_conn, sleeps):
    use_conn(host=BASE, extra={"shared_run_list_polls": "true"})
    assert RuntypeHook().settings.shared_run_list_polls is True
    use_conn(host=BASE)
    assert RuntypeHook().settings.shared_run_list_polls is False


def test_hook_parameters_win_over_extras_for_every_option():
    extra = {"timeout": 5, "retry_limit": 5, "retry_max_delay": 5, "shared_run_list_polls": True}
    overrides = {"timeout": 9, "retry_limit": 1, "retry_max_delay": 2, "shared_run_list_polls": False}
    settings_ = read(extra, overrides)
    assert (settings_.timeout, settings_.retry.retry_limit, settings_.retry.retry_max_delay) == (9.0, 1, 2.0)
    assert settings_.shared_run_list_polls is False


def test_refusals_of_options_never_echo_the_key():
    key = "rt_test_secret_0123456789"
    with pytest.raises(RuntypeConfigurationError) as caught:
        read({"shared_run_list_polls": key}, password=key)
    assert key not in str(caught.value)
    assert "'shared_run_list_polls' must be true or false, got '***'" in str(caught.value)


# ---- the reader accepts exactly what the form allows (both come from runtype_provider.client.options) -------------

NUMERIC = [name for name, option in OPTIONS.items() if option.kind in ("number", "integer")]


def form_accepts(name: str, value: Any) -> bool:
    schema = CONN_FIELDS[name]["schema"]
    return jsonschema.validators.validator_for(schema)(schema).is_valid(value)


def reader_value(name: str, value: Any) -> Any:
    settings_ = read({name: value})
    return {
        "timeout": settings_.timeout,
        "retry_limit": settings_.retry.retry_limit,
        "retry_delay": settings_.retry.retry_delay,
        "retry_max_delay": settings_.retry.retry_max_delay,
        "max_response_mb": settings_.max_response_bytes,
        "max_concurrent_pages": settings_.max_concurrent_pages,
    }[name]


def read_as(name: str, value: float) -> float:
    """What the settings hold for an accepted ``value``: the number, or for ``max_response_mb`` whole bytes."""
    return int(value * 2**20) if name == "max_response_mb" else value


def test_every_numeric_option_is_covered():
    assert set(NUMERIC) == {
        "timeout", "retry_limit", "retry_delay", "retry_max_delay", "max_response_mb", "max_concurrent_pages"
    }  # fmt: skip


def edges(name: str) -> list[tuple[float, bool]]:
    """Each bound of the option (accepted) and the nearest value past it (refused)."""
    option = OPTIONS[name]
    step = (lambda x, to: x + (1 if to > x else -1)) if option.kind == "integer" else math.nextafter
    cases = []
    if option.minimum is not None:
        cases += [(option.minimum, True), (step(option.minimum, -math.inf), False)]
    if option.maximum is not None:
        cases += [(option.maximum, True), (step(option.maximum, math.inf), False)]
    return cases


@pytest.mark.parametrize(
    ("name", "value", "accepted"), [(name, value, ok) for name in NUMERIC for value, ok in edges(name)]
)
def test_at_each_bound_the_reader_and_the_form_agree(name, value, accepted):
    assert form_accepts(name, value) is accepted
    if accepted:
        assert reader_value(name, value) == read_as(name, value)
        assert reader_value(name, str(value)) == read_as(name, value)  # the URI form stores text
    else:
        with pytest.raises(RuntypeConfigurationError, match=rf"^Runtype connection 'c': '{name}' must be"):
            reader_value(name, value)


def test_the_changed_lower_bounds_are_accepted_by_both():
    """The form used to ask for at least 1 where the reader accepted 0.001: working connections keep working."""
    assert form_accepts("timeout", 0.5) and reader_value("timeout", 0.5) == 0.5
    assert form_accepts("max_response_mb", 0.5) and reader_value("max_response_mb", 0.5) == 2**19


FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=400, deadline=None, database=None)
@given(
    name=st.sampled_from(NUMERIC),
    value=st.one_of(FINITE, st.integers(-(10**6), 10**6), FINITE.map(lambda x: float(round(x))), st.booleans()),
)
def test_the_reader_accepts_a_value_exactly_when_the_form_does(name, value):
    option = OPTIONS[name]
    in_range = not isinstance(value, bool) and (
        (option.minimum is None or value >= option.minimum) and (option.maximum is None or value <= option.maximum)
    )
    whole = option.kind != "integer" or (not isinstance(value, bool) and float(value).is_integer())
    assert form_accepts(name, value) is (in_range and whole)
    if in_range and whole:
        assert reader_value(name, value) == read_as(name, value)
    else:
        with pytest.raises(RuntypeConfigurationError) as caught:
            reader_value(name, value)
        assert f"'{name}' must be {option.accepts}, got" in str(caught.value)
