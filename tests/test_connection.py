"""RuntypeHook and its Airflow connection: settings, test_connection, and the API key never leaking."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from typing import Any

import pytest
import requests
import respx
from requests.adapters import HTTPAdapter

from runtype_provider.connection import ConnectionSettings
from runtype_provider.exceptions import (
    RuntypeApiError,
    RuntypeConfigurationError,
    RuntypeConnectionError,
    RuntypeException,
)
from runtype_provider.hooks.runtype import RuntypeHook
from runtype_provider.transport import SyncTransport

BASE = "https://api.runtype.com"
SCHEDULES_PAGE = {"data": [], "pagination": {"hasMore": False, "hasPrev": False, "limit": 1, "currentOffset": 0}}


@pytest.fixture
def api_key(runtype_conn: dict) -> str:
    return runtype_conn["password"]


@pytest.fixture
def hook(runtype_conn: dict, sleeps: list[float]) -> RuntypeHook:
    return RuntypeHook()


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
    with pytest.raises(RuntypeConfigurationError, match="'runtype_default' has no API key"):
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
    with pytest.raises(RuntypeConfigurationError, match="'timeout' must be a number"):
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
    assert message == f"Runtype API GET /v1/schedules returned HTTP {status}: Upstream down"
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
