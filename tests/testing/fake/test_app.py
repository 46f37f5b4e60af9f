"""The ``/_local/`` admin routes that let another process drive a running local Runtype."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict

import pytest
import requests

from runtype_provider.testing.fake.app import create_app
from runtype_provider.testing.fake.request_log import MAX_LOGGED_TEXT, TRUNCATED
from runtype_provider.testing.fake.settings import MAX_RECORDS
from runtype_provider.testing.fake.wire import MAX_JSON_DEPTH

pytestmark = pytest.mark.runtype(queued_seconds=0, running_seconds=0)

ADMIN_TOKEN = "rt_test_admin_token"
READ_ONLY_KEY = "rt_test_read_only_key"
# Every admin route but the open health check, with a harmless valid body for the writes.
PROTECTED_ROUTES = [
    ("GET", "/_local/config", None),
    ("PUT", "/_local/config", {"running_seconds": 7}),
    ("POST", "/_local/schedules", {"schedule_id": "sch_intruder"}),
    ("PATCH", "/_local/schedules/sch_seeded", {"run_outcome": "failed"}),
    ("POST", "/_local/surfaces", {"product_id": "p", "surface_id": "s"}),
    ("GET", "/_local/faults", None),
    ("POST", "/_local/faults", {"operation": "list_schedules", "kind": "drop"}),
    ("DELETE", "/_local/faults", None),
    ("GET", "/_local/requests", None),
    ("DELETE", "/_local/requests", None),
    ("POST", "/_local/reset", None),
]


def snapshot(server) -> dict:
    """Everything an admin route can change, read in-process."""
    state = server.state
    return {
        "settings": asdict(state.settings),
        "schedules": {sid: (s.doc, asdict(s.sim)) for sid, s in state._schedules.items()},
        "surfaces": dict(state._surfaces),
        "faults": state.faults.list(),
        "requests": state.requests(),
    }


def send_json_text(admin, method: str, path: str, text: str, expect: int) -> dict:
    """Send ``text`` as an application/json body (it may be JSON that ``requests`` refuses to encode)."""
    return admin(method, path, data=text, headers={"Content-Type": "application/json"}, expect=expect)


def nested(depth: int) -> str:
    """A JSON object nested ``depth`` objects deep: ``{"a": {"a": ... {} ...}}``."""
    return '{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)


# ---------------------------------------------------------------------------- the routes work


def test_health_needs_no_auth(anonymous):
    assert anonymous("GET", "/_local/health") == {"status": "ok"}


def test_seed_and_configure_a_schedule_then_run_it_through_the_api(admin, api):
    seeded = admin("POST", "/_local/schedules", json={"schedule_id": "sch_adm", "record_ids": ["a", "b", "c"]})
    assert seeded["id"] == "sch_adm"
    assert api("GET", "/v1/schedules/sch_adm")["recordIds"] == ["a", "b", "c"]
    sim = admin("PATCH", "/_local/schedules/sch_adm", json={"failing_record_ids": ["c", "a"]})
    assert sim["failing_record_ids"] == ["a", "c"]
    run_id = api("POST", "/v1/schedules/sch_adm/run-now")["runId"]
    failed = api("GET", f"/v1/schedules/runs/{run_id}/results", params={"status": "failed"})["data"]
    assert [row["recordId"] for row in failed] == ["a", "c"]


def test_add_surface(admin, api):
    assert admin("POST", "/_local/surfaces", json={"product_id": "p", "surface_id": "s"})["type"] == "schedule"
    assert api("GET", "/v1/products/p/surfaces/s/schedules") == {"data": []}


def test_config_can_be_read_and_changed_and_reset_restores_it(admin):
    assert admin("GET", "/_local/config")["running_seconds"] == 0
    assert admin("PUT", "/_local/config", json={"running_seconds": 5, "failure_share": 0.5})["running_seconds"] == 5
    assert admin("GET", "/_local/config")["failure_share"] == 0.5
    admin("POST", "/_local/reset")
    assert admin("GET", "/_local/config")["running_seconds"] == 0


def test_faults_can_be_armed_listed_and_cleared(admin, api):
    fault = admin("POST", "/_local/faults", json={"operation": "list_schedules", "kind": "rate_limit", "times": 2})
    assert (fault["operation"], fault["kind"], fault["remaining"]) == ("list_schedules", "rate_limit", 2)
    assert api.raw("GET", "/v1/schedules").status_code == 429
    assert [f["remaining"] for f in admin("GET", "/_local/faults")["data"]] == [1]
    assert admin("DELETE", "/_local/faults") == {"success": True}
    assert admin("GET", "/_local/faults")["data"] == []
    assert api.raw("GET", "/v1/schedules").status_code == 200


def test_request_log_can_be_read_and_cleared(admin, api):
    api("GET", "/v1/schedules")
    log = admin("GET", "/_local/requests")["data"]
    assert [(e["method"], e["path"], e["status"]) for e in log] == [("GET", "/v1/schedules", 200)]
    admin("DELETE", "/_local/requests")
    assert admin("GET", "/_local/requests")["data"] == []


def test_reset_forgets_everything(admin, api, runtype_server):
    runtype_server.seed_schedule(schedule_id="sch_gone")
    runtype_server.inject_fault("get_schedule", "server_error")
    assert admin("POST", "/_local/reset") == {"success": True}
    assert admin("GET", "/_local/faults")["data"] == []
    api("GET", "/v1/schedules/sch_gone", expect=404)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/_local/schedules", {"unknown_option": 1}),
        ("POST", "/_local/schedules", {"run_outcome": "exploded"}),
        ("POST", "/_local/faults", {"operation": "list_schedules", "kind": "explode"}),
        ("POST", "/_local/faults", {"kind": "drop"}),
        ("PUT", "/_local/config", {"running_seconds": -1}),
        ("PUT", "/_local/config", {"no_such_setting": 1}),
        ("PATCH", "/_local/schedules/sch_missing", {"failure_share": 0.5}),
        ("POST", "/_local/surfaces", {"product_id": "p", "surface_id": "s", "type": "fax"}),
        ("POST", "/_local/schedules", ["not", "an", "object"]),
    ],
)
def test_bad_admin_requests_are_400(admin, method, path, body):
    response = admin(method, path, json=body, expect=400)
    assert response["error"]


def test_invalid_json_on_an_admin_route_is_400(admin):
    assert send_json_text(admin, "POST", "/_local/schedules", "{", 400)["details"][0]["code"] == "INVALID_JSON"


def test_an_admin_write_without_a_body_needs_no_content_type(admin):
    response = admin.raw("POST", "/_local/reset")
    assert "content-type" not in response.request.headers
    assert response.status_code == 200


# ---------------------------------------------------------------------------- authentication


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED_ROUTES)
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer wrong_key",
        "Basic cnRfdGVzdF9sb2NhbF9kZW1vX2tleQ==",
        "rt_test_local_demo_key",
        "Bearer ",
        "Bearer rt_test_local_demo_key",  # the published demo API key is no admin token
    ],
)
def test_every_admin_route_but_health_needs_the_admin_token(
    anonymous, runtype_server, method, path, body, authorization
):
    runtype_server.seed_schedule(schedule_id="sch_seeded")
    runtype_server.inject_fault("get_schedule", "server_error", times=None)
    before = snapshot(runtype_server)
    headers = {"Authorization": authorization} if authorization else {}
    response = anonymous(method, path, json=body, headers=headers, expect=401)
    assert response["details"][0]["code"] == "INVALID_ADMIN_TOKEN"
    assert snapshot(runtype_server) == before


def test_a_401_admin_answer_asks_for_a_bearer_token(anonymous):
    response = anonymous.raw("PUT", "/_local/config", json={"running_seconds": 9})
    assert (response.status_code, response.headers["WWW-Authenticate"]) == (401, "Bearer")


@pytest.mark.runtype(read_only_api_key=READ_ONLY_KEY)
def test_the_read_only_key_cannot_use_admin_routes(runtype_server):
    headers = {"Authorization": f"Bearer {READ_ONLY_KEY}"}
    assert requests.get(runtype_server.url + "/_local/config", headers=headers, timeout=5).status_code == 401
    assert requests.get(runtype_server.url + "/_local/requests", headers=headers, timeout=5).status_code == 401


@pytest.mark.runtype(admin_token=ADMIN_TOKEN)
def test_a_separate_admin_token_replaces_the_api_key_on_admin_routes(runtype_server):
    url = runtype_server.url
    as_admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    as_client = {"Authorization": f"Bearer {runtype_server.api_key}"}
    assert runtype_server.admin_token == ADMIN_TOKEN
    assert runtype_server.admin_headers == as_admin
    assert (
        requests.put(url + "/_local/config", json={"running_seconds": 3}, headers=as_client, timeout=5).status_code
        == 401
    )
    assert (
        requests.put(url + "/_local/config", json={"running_seconds": 3}, headers=as_admin, timeout=5).status_code
        == 200
    )
    assert runtype_server.state.settings.running_seconds == 3
    # The admin token is no API key.
    assert requests.get(url + "/v1/schedules", headers=as_admin, timeout=5).status_code == 401
    assert requests.get(url + "/v1/schedules", headers=as_client, timeout=5).status_code == 200


def test_the_admin_token_defaults_to_a_random_token_that_is_no_api_key(runtype_server):
    assert runtype_server.admin_token != runtype_server.api_key
    assert len(runtype_server.admin_token) >= 32
    config = runtype_server.url + "/_local/config"
    assert requests.get(config, headers=runtype_server.admin_headers, timeout=5).status_code == 200
    as_client = {"Authorization": f"Bearer {runtype_server.api_key}"}
    assert requests.get(config, headers=as_client, timeout=5).status_code == 401


# ---------------------------------------------------------------------------- no secrets in answers


@pytest.mark.runtype(read_only_api_key=READ_ONLY_KEY, admin_token=ADMIN_TOKEN)
def test_no_admin_answer_contains_a_key_or_the_admin_token(runtype_server):
    secrets = (runtype_server.api_key, READ_ONLY_KEY, ADMIN_TOKEN)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    answers = []
    for method, path, body in [
        ("GET", "/_local/health", None),
        ("GET", "/_local/config", None),
        ("PUT", "/_local/config", {"running_seconds": 1}),
        ("POST", "/_local/schedules", {"schedule_id": "sch_seeded"}),
        ("PATCH", "/_local/schedules/sch_seeded", {"failure_share": 0.5}),
        ("POST", "/_local/surfaces", {"product_id": "p", "surface_id": "s"}),
        ("POST", "/_local/faults", {"operation": "list_schedules", "kind": "drop"}),
        ("GET", "/_local/faults", None),
        ("GET", "/_local/requests", None),
        ("PUT", "/_local/config", {"running_seconds": "bad"}),
        ("GET", "/_local/nowhere", None),
        ("POST", "/_local/reset", None),
        ("GET", "/_local/openapi.json", None),
    ]:
        response = session.request(method, runtype_server.url + path, json=body, timeout=5)
        answers.append(response.text + json.dumps(dict(response.headers)))
    assert not [(secret, answer) for answer in answers for secret in secrets if secret in answer]
    config = session.get(runtype_server.url + "/_local/config", timeout=5).json()
    assert not {"api_key", "read_only_api_key", "admin_token"} & set(config)
    assert config["running_seconds"] == 2.0  # the default again after the reset above


@pytest.mark.runtype(api_key="rt_test_a/b+c key")
def test_the_request_log_never_holds_a_key(runtype_server, admin):
    key = runtype_server.api_key
    client = requests.Session()
    client.headers["Authorization"] = f"Bearer {key}"
    client.get(runtype_server.url + "/v1/schedules", params={"token": key}, timeout=5)
    client.post(runtype_server.url + "/v1/schedules", json={"name": key, "inputs": {key: [key]}}, timeout=5)
    log = admin("GET", "/_local/requests")["data"]
    assert [entry["path"] for entry in log] == ["/v1/schedules", "/v1/schedules"]
    text = json.dumps(log)
    assert not [form for form in (key, requests.utils.quote(key, safe=""), "rt_test_a%2Fb%2Bc+key") if form in text]
    assert log[1]["body"] == {"name": "[redacted]", "inputs": {"[redacted]": ["[redacted]"]}}


# ---------------------------------------------------------------------------- the request log (bounded)


@pytest.mark.runtype(max_logged_requests=3)
def test_the_request_log_keeps_the_newest_entries_and_counts_the_rest(admin, api):
    for i in range(5):
        api("GET", f"/v1/schedules/sch_{i}", expect=404)
    answer = admin("GET", "/_local/requests")
    assert [e["path"] for e in answer["data"]] == ["/v1/schedules/sch_2", "/v1/schedules/sch_3", "/v1/schedules/sch_4"]
    assert (answer["logged"], answer["dropped"], answer["refused_hosts"]) == (3, 2, 0)


def test_an_unauthenticated_request_is_logged_without_its_body(anonymous, api, runtype_server):
    body = {"name": "from a stranger", "inputs": {"x": "y" * 1000}}
    anonymous("POST", "/v1/schedules", json=body, expect=401)
    anonymous("POST", "/v1/schedules", json=body, headers={"Authorization": "Bearer wrong"}, expect=401)
    api("POST", "/v1/schedules", json={"name": "from a client"}, expect=400)
    logged = [(e["operation"], e["status"], e["body"]) for e in runtype_server.requests]
    assert logged == [
        ("create_schedule", 401, None),
        ("create_schedule", 401, None),
        ("create_schedule", 400, {"name": "from a client"}),
    ]


def test_a_long_path_and_query_are_logged_cut(api, runtype_server):
    schedule_id = "s" * 6000
    api("GET", f"/v1/schedules/{schedule_id}", params={"q": "x" * 6000}, expect=404)
    [entry] = runtype_server.requests
    assert len(entry["path"]) == len(entry["query"]) == MAX_LOGGED_TEXT
    assert entry["path"].startswith("/v1/schedules/sss") and entry["path"].endswith(TRUNCATED)


# ---------------------------------------------------------------------------- the Host check (DNS rebinding)


FOREIGN_HOSTS = ["evil.example", "127.0.0.1.evil.example", "evil.example:{port}", "localhost.evil.example:{port}"]


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
@pytest.mark.parametrize(
    ("method", "path", "body", "as_admin"),
    [
        ("GET", "/v1/schedules", None, False),
        ("POST", "/v1/schedules/sch_seeded/run-now", None, False),
        ("GET", "/_local/health", None, False),
        ("GET", "/_local/config", None, True),
        ("PUT", "/_local/config", {"failure_share": 1}, True),
        ("POST", "/_local/reset", None, True),
        ("GET", "/_local/requests", None, True),
        ("GET", "/_local/docs", None, False),
        ("GET", "/nowhere", None, False),
    ],
)
def test_a_foreign_host_gets_421_before_routing_auth_or_logging(runtype_server, host, method, path, body, as_admin):
    runtype_server.seed_schedule(schedule_id="sch_seeded")
    before = snapshot(runtype_server)
    credentials = runtype_server.admin_token if as_admin else runtype_server.api_key
    headers = {"Host": host.format(port=runtype_server.port), "Authorization": f"Bearer {credentials}"}
    response = requests.request(method, runtype_server.url + path, json=body, headers=headers, timeout=5)
    assert response.status_code == 421, response.text
    assert response.json()["details"][0]["code"] == "INVALID_HOST"
    assert runtype_server.admin_token not in response.text and runtype_server.api_key not in response.text
    assert snapshot(runtype_server) == before  # nothing changed, nothing logged
    assert runtype_server.request_log_stats == {"logged": 0, "dropped": 0, "refused_hosts": 1}


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:{port}", "127.0.0.1:{port}", "127.0.0.2", "[::1]:{port}"])
def test_loopback_host_names_are_answered(runtype_server, host):
    headers = {"Host": host.format(port=runtype_server.port), "Authorization": f"Bearer {runtype_server.api_key}"}
    assert requests.get(runtype_server.url + "/v1/schedules", headers=headers, timeout=5).status_code == 200
    assert requests.get(runtype_server.url + "/_local/health", headers=headers, timeout=5).status_code == 200


@pytest.mark.runtype(allowed_hosts=("runtype.test",))
def test_allowed_hosts_add_exactly_their_names(runtype_server):
    auth = {"Authorization": f"Bearer {runtype_server.api_key}"}
    url = runtype_server.url + "/v1/schedules"
    assert requests.get(url, headers={**auth, "Host": f"RUNTYPE.test:{runtype_server.port}"}, timeout=5).ok
    assert requests.get(url, headers={**auth, "Host": "evil.runtype.test"}, timeout=5).status_code == 421
    assert requests.get(url, headers={**auth, "Host": "localhost"}, timeout=5).ok


def test_a_refused_request_is_never_read_logged_or_handled():
    """In process: the app answers 421 without calling ``receive`` (the body is never read)."""
    app = create_app()
    app.runtype.seed_schedule(schedule_id="sch_x")
    sent: list[dict] = []

    async def receive() -> dict:
        raise AssertionError("the body of a refused request was read")

    async def send(message: dict) -> None:
        sent.append(message)

    for path, headers in [
        (
            "/v1/schedules/sch_x/run-now",
            [(b"host", b"evil.example"), (b"authorization", b"Bearer rt_test_local_demo_key")],
        ),
        (
            "/_local/reset",
            [(b"host", b"evil.example"), (b"authorization", f"Bearer {app.runtype.admin_token}".encode())],
        ),
        ("/v1/schedules", [(b"authorization", b"Bearer rt_test_local_demo_key")]),  # no Host at all
        ("/v1/schedules", [(b"host", b"localhost"), (b"host", b"evil.example")]),
    ]:
        scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
                 "headers": headers, "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 80)}  # fmt: skip
        asyncio.run(app(scope, receive, send))
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [421] * 4
    assert app.runtype.requests() == [] and app.runtype.request_log_stats()["refused_hosts"] == 4
    assert app.runtype.list_schedule_runs("sch_x")["data"] == []


# ---------------------------------------------------------------------------- JSON bodies only


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("PUT", "/_local/config", {"data": {"running_seconds": "9"}}),  # a form
        ("PUT", "/_local/config", {"data": '{"running_seconds": 9}', "headers": {"Content-Type": "text/plain"}}),
        ("PUT", "/_local/config", {"data": '{"running_seconds": 9}'}),  # no content type
        ("POST", "/_local/schedules", {"data": '{"schedule_id": "sch_x"}', "headers": {"Content-Type": "text/json"}}),
        ("PATCH", "/_local/schedules/sch_seeded", {"files": {"run_outcome": ("f", b"failed")}}),
        ("POST", "/_local/faults", {"data": b'{"operation": "*", "kind": "drop"}',
                                    "headers": {"Content-Type": "application/jsonx"}}),
        ("POST", "/_local/reset", {"data": "", "headers": {"Content-Type": "text/plain"}}),
    ],
)  # fmt: skip
def test_admin_writes_accept_only_json_bodies(admin, runtype_server, method, path, kwargs):
    runtype_server.seed_schedule(schedule_id="sch_seeded")
    before = snapshot(runtype_server)
    response = admin(method, path, expect=415, **kwargs)
    assert response["details"][0]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert snapshot(runtype_server) == before


def test_a_json_content_type_may_carry_a_charset(admin):
    headers = {"Content-Type": "Application/JSON; charset=utf-8"}
    assert admin("PUT", "/_local/config", data='{"running_seconds": 4}', headers=headers)["running_seconds"] == 4


# ---------------------------------------------------------------------------- refused changes change nothing


def refused_change_leaves_the_state_unchanged(admin, runtype_server, method, path, text):
    runtype_server.seed_schedule(schedule_id="sch_seeded", record_ids=["a", "b"])
    before = snapshot(runtype_server)
    response = send_json_text(admin, method, path, text, 400)
    assert response["details"], response
    assert snapshot(runtype_server) == before
    return response


@pytest.mark.parametrize(
    "text",
    [
        '{"queued_seconds": NaN}',
        '{"running_seconds": Infinity}',
        '{"running_seconds": 1e400}',
        '{"queued_seconds": true}',
        '{"running_seconds": "2"}',
        '{"running_seconds": 1e300}',
        '{"running_seconds": 5, "failure_share": 1.5}',
        '{"failure_share": false}',
        '{"default_record_count": 2.5}',
        '{"max_active_schedules": -1}',
        '{"api_key": ""}',
        '{"api_key": 5}',
        '{"admin_token": " padded "}',
        '{"read_only_api_key": ""}',
        '{"record_error": ["x"]}',
        '{"user_id": null}',
    ],
)
def test_a_refused_config_change_leaves_the_settings_unchanged(admin, runtype_server, text):
    refused_change_leaves_the_state_unchanged(admin, runtype_server, "PUT", "/_local/config", text)


@pytest.mark.parametrize(
    "text",
    [
        '{"running_seconds": NaN}',
        '{"queued_seconds": 1e400}',
        '{"record_count": 2.5}',
        '{"record_count": true}',
        '{"failing_record_ids": "ab"}',
        '{"failing_record_ids": {"a": 1}}',
        '{"failing_record_ids": [1, 2]}',
        '{"failure_share": true}',
        '{"failure_share": 0.5, "run_outcome": "exploded"}',
        '{"error": 5}',
        '{"flow_name": {"x": 1}}',
    ],
)
def test_a_refused_schedule_patch_leaves_the_schedule_unchanged(admin, runtype_server, text):
    refused_change_leaves_the_state_unchanged(admin, runtype_server, "PATCH", "/_local/schedules/sch_seeded", text)


@pytest.mark.parametrize(
    "text",
    [
        '{"schedule_id": "sch_new", "running_seconds": NaN}',
        '{"schedule_id": "sch_new", "record_count": 1e400}',
        '{"schedule_id": "sch_new", "record_count": 2.5}',
        '{"schedule_id": "sch_new", "record_ids": "abc"}',
        '{"schedule_id": "sch_new", "failing_record_ids": "abc"}',
        '{"schedule_id": 5}',
        '{"schedule_id": "sch_new", "product_id": "p_new", "surface_id": ["s"]}',
        '{"schedule_id": "sch_new", "product_id": "p_new", "surface_id": "s_new", "record_count": -1}',
        '{"schedule_id": "sch_new", "inputs": {"x": NaN}}',
    ],
)
def test_a_refused_seed_adds_nothing(admin, runtype_server, text):
    refused_change_leaves_the_state_unchanged(admin, runtype_server, "POST", "/_local/schedules", text)


@pytest.mark.parametrize(
    "text",
    [
        '{"product_id": 5, "surface_id": "s"}',
        '{"product_id": "p", "surface_id": "s", "name": ["n"]}',
        '{"product_id": "p", "surface_id": "s", "type": ["schedule"]}',
    ],
)
def test_a_refused_surface_adds_nothing(admin, runtype_server, text):
    refused_change_leaves_the_state_unchanged(admin, runtype_server, "POST", "/_local/surfaces", text)


@pytest.mark.parametrize(
    "text",
    [
        '{"operation": "list_schedules", "kind": "slow", "delay": NaN}',
        '{"operation": "list_schedules", "kind": "slow", "delay": 1e400}',
        '{"operation": "list_schedules", "kind": "slow", "delay": true}',
        '{"operation": "list_schedules", "kind": "drop", "times": true}',
        '{"operation": "list_schedules", "kind": "drop", "times": 1.5}',
        '{"operation": "list_schedules", "kind": "rate_limit", "retry_after": true}',
        '{"operation": "list_schedules", "kind": "server_error", "status": 500.0}',
        '{"operation": "list_schedules", "kind": "malformed", "body": 5}',
        '{"operation": "list_schedules", "kind": "drop", "after_effect": "yes"}',
        '{"operation": ["list_schedules"], "kind": "drop"}',
    ],
)
def test_a_refused_fault_arms_nothing(admin, runtype_server, text):
    refused_change_leaves_the_state_unchanged(admin, runtype_server, "POST", "/_local/faults", text)


def test_a_refused_change_names_the_field(admin):
    response = admin("PUT", "/_local/config", json={"running_seconds": 1, "queued_seconds": -1}, expect=400)
    assert response["details"][0]["path"] == "queued_seconds"
    assert "queued_seconds" in response["details"][0]["message"]


# ---------------------------------------------------------------------------- record counts are capped


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("PUT", "/_local/config", {"default_record_count": MAX_RECORDS + 1}, "default_record_count"),
        ("POST", "/_local/schedules", {"schedule_id": "sch_big", "record_count": MAX_RECORDS + 1}, "record_count"),
        ("POST", "/_local/schedules", {"schedule_id": "sch_big", "record_count": 10**30}, "record_count"),
        ("POST", "/_local/schedules",
         {"schedule_id": "sch_big", "record_ids": [f"r{i}" for i in range(MAX_RECORDS + 1)]}, "record_ids"),
        ("POST", "/_local/schedules",
         {"schedule_id": "sch_big", "failing_record_ids": [f"r{i}" for i in range(MAX_RECORDS + 1)]},
         "failing_record_ids"),
        ("PATCH", "/_local/schedules/sch_seeded", {"record_count": MAX_RECORDS + 1}, "record_count"),
        ("PATCH", "/_local/schedules/sch_seeded",
         {"failing_record_ids": [f"r{i}" for i in range(MAX_RECORDS + 1)]}, "failing_record_ids"),
    ],
)  # fmt: skip
def test_record_counts_above_the_cap_are_400_naming_the_field(admin, runtype_server, method, path, body, field):
    runtype_server.seed_schedule(schedule_id="sch_seeded")
    before = snapshot(runtype_server)
    response = admin(method, path, json=body, expect=400)
    assert (response["details"][0]["path"], response["details"][0]["code"]) == (field, "TOO_MANY_RECORDS")
    assert field in response["details"][0]["message"] and str(MAX_RECORDS) in response["details"][0]["message"]
    assert snapshot(runtype_server) == before


def test_record_counts_at_the_cap_are_accepted(admin, api):
    ids = [f"r{i}" for i in range(MAX_RECORDS)]
    admin("POST", "/_local/schedules", json={"schedule_id": "sch_max", "record_ids": ids, "failing_record_ids": ids})
    assert (
        admin("PATCH", "/_local/schedules/sch_max", json={"record_count": MAX_RECORDS})["record_count"] == MAX_RECORDS
    )
    assert admin("PUT", "/_local/config", json={"default_record_count": MAX_RECORDS})["default_record_count"] == (
        MAX_RECORDS
    )
    run_id = api("POST", "/v1/schedules/sch_max/run-now")["runId"]
    assert api("GET", f"/v1/schedules/runs/{run_id}/results")["pagination"]["total"] == MAX_RECORDS


def test_api_record_ids_above_the_cap_are_400(api):
    body = {
        "target": {"flowId": "flow_1", "recordIds": [f"r{i}" for i in range(MAX_RECORDS + 1)]},
        "trigger": {"type": "recurring", "cron": "0 8 * * *"},
    }
    response = api("POST", "/v1/schedules", json=body, expect=400)
    assert [(d["path"], d["code"]) for d in response["details"]] == [("target.recordIds", "TOO_MANY_RECORDS")]
    assert api("GET", "/v1/schedules")["data"] == []


# ---------------------------------------------------------------------------- deeply nested JSON


# Each below MAX_LOGGED_BODY (64 KiB), so the request log's parser sees it too.
DEEP_BODIES = {
    "past the recursion limit": "[" * 30_000 + "]" * 30_000,
    "objects past the recursion limit": nested(5_000),
    "just past the cap": nested(MAX_JSON_DEPTH + 1),
}


@pytest.mark.parametrize("text", DEEP_BODIES.values(), ids=DEEP_BODIES.keys())
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/_local/config"),
        ("POST", "/_local/schedules"),
        ("PATCH", "/_local/schedules/sch_seeded"),
        ("POST", "/_local/faults"),
        ("POST", "/_local/surfaces"),
    ],
)
def test_deeply_nested_admin_bodies_are_400(admin, runtype_server, method, path, text):
    runtype_server.seed_schedule(schedule_id="sch_seeded")
    before = snapshot(runtype_server)
    response = send_json_text(admin, method, path, text, 400)
    assert response["details"][0]["code"] == "JSON_TOO_DEEP"
    assert snapshot(runtype_server) == before


def create_body_nested(depth: int) -> str:
    """A valid create-schedule body whose ``inputs`` make the whole body ``depth`` levels deep."""
    return (
        '{"target": {"flowId": "flow_1"}, "trigger": {"type": "recurring", "cron": "0 8 * * *"}, "inputs": '
        + nested(depth - 1)
        + "}"
    )


@pytest.mark.parametrize(
    ("method", "path", "text"),
    [
        ("POST", "/v1/schedules", DEEP_BODIES["past the recursion limit"]),
        ("POST", "/v1/schedules", DEEP_BODIES["objects past the recursion limit"]),
        ("POST", "/v1/schedules", create_body_nested(MAX_JSON_DEPTH + 1)),
        ("PUT", "/v1/schedules/sch_seeded", DEEP_BODIES["past the recursion limit"]),
        ("POST", "/v1/products/p/surfaces/s/schedules", DEEP_BODIES["objects past the recursion limit"]),
        # Routes that do not read a body: only the request log's parser sees it.
        ("POST", "/v1/schedules/sch_seeded/pause", DEEP_BODIES["past the recursion limit"]),
        ("POST", "/v1/schedules/sch_seeded/resume", DEEP_BODIES["just past the cap"]),
    ],
)
def test_deeply_nested_api_bodies_are_400_and_logged_without_body(api, runtype_server, method, path, text):
    runtype_server.seed_schedule(schedule_id="sch_seeded")
    runtype_server.add_surface("p", "s")
    runtype_server.clear_requests()
    response = api.raw(method, path, data=text, headers={"Content-Type": "application/json"})
    if path.endswith(("/pause", "/resume")):
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 400, response.text
        assert response.json()["details"][0]["code"] == "JSON_TOO_DEEP"
    assert [(e["path"], e["status"], e["body"]) for e in runtype_server.requests] == [
        (path, response.status_code, None)
    ]


def test_a_body_at_the_depth_cap_is_accepted(api):
    created = api("POST", "/v1/schedules", data=create_body_nested(MAX_JSON_DEPTH),
                  headers={"Content-Type": "application/json"})  # fmt: skip
    inputs = api("GET", f"/v1/schedules/{created['id']}")["inputs"]
    assert json.dumps(inputs).count("{") == MAX_JSON_DEPTH - 1


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_api_bodies_with_non_finite_numbers_are_400(api, number):
    text = create_body_nested(2).replace("{}", '{"x": ' + number + "}")
    response = api("POST", "/v1/schedules", data=text, headers={"Content-Type": "application/json"}, expect=400)
    assert response["details"][0]["code"] == "INVALID_JSON"
    assert api("GET", "/v1/schedules")["data"] == []


# ---------------------------------------------------------------------------- latency_seconds


@pytest.fixture
def server_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every wait of the local Runtype's server (latency and ``slow`` faults), recorded instead of waited."""
    import runtype_provider.testing.fake.app as server_module

    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(server_module, "_sleep", record)
    return waits


def test_latency_is_set_through_the_config_route_and_delays_every_api_answer_only(admin, api, server_sleeps):
    assert admin("GET", "/_local/config")["latency_seconds"] == 0
    api("GET", "/v1/schedules")
    assert server_sleeps == []

    assert admin("PUT", "/_local/config", json={"latency_seconds": 0.03})["latency_seconds"] == 0.03
    api("GET", "/v1/schedules")
    api("GET", "/v1/schedules/sch_missing", expect=404)
    admin("GET", "/_local/requests")
    admin("GET", "/_local/config")

    assert server_sleeps == [0.03, 0.03]  # the two API calls; admin routes never wait


@pytest.mark.runtype(latency_seconds=0.25)
def test_latency_can_be_given_when_the_server_starts(admin, api, server_sleeps):
    api("GET", "/v1/schedules")
    assert server_sleeps == [0.25]
    assert admin("GET", "/_local/config")["latency_seconds"] == 0.25


@pytest.mark.parametrize(
    "text",
    ['{"latency_seconds": -1}', '{"latency_seconds": 61}', '{"latency_seconds": "0.1"}', '{"latency_seconds": true}'],
)
def test_a_refused_latency_leaves_the_settings_unchanged(admin, runtype_server, text):
    refused_change_leaves_the_state_unchanged(admin, runtype_server, "PUT", "/_local/config", text)


# ---------------------------------------------------------------------------- the clock


def test_admin_route_advances_the_clock(runtype_server, admin, api) -> None:
    runtype_server.configure(cron_runs=True, queued_seconds=0, running_seconds=0)
    runtype_server.seed_schedule(schedule_id="sch_cron", cron="* * * * *")

    answer = admin("POST", "/_local/clock/advance", json={"seconds": 150})
    refused = admin("POST", "/_local/clock/advance", json={"seconds": -5}, expect=400)
    anonymous = api.raw("POST", "/_local/clock/advance", json={"seconds": 5}, headers={"Authorization": "Bearer x"})

    assert len(answer["cronRuns"]) in (2, 3) and answer["offsetSeconds"] == 150  # minute boundaries in 150 s
    assert "seconds must be" in refused["details"][0]["message"]
    assert anonymous.status_code == 401
    runs = api("GET", "/v1/schedules/sch_cron/runs")["data"]
    assert len(runs) == len(answer["cronRuns"]) and {r["status"] for r in runs} == {"completed"}
