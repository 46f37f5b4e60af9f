"""``runtype_provider.testing.server``, the documented ``uvicorn --factory runtype_provider.testing.server:create_app``
path: it re-exports the app factory of ``testing.fake.app``, and the app it builds answers the API (under a loopback
``Host`` only: Starlette's ``TestClient`` must be given a loopback ``base_url``)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from runtype_provider.testing import server
from runtype_provider.testing.fake import app
from runtype_provider.testing.fake.handlers import State
from runtype_provider.testing.fake.settings import DEFAULT_API_KEY


def test_the_shim_exports_the_fake_app_objects():
    assert server.create_app is app.create_app
    assert server.RuntypeApp is app.RuntypeApp
    assert sorted(server.__all__) == ["RuntypeApp", "create_app"]


def test_the_factory_takes_no_arguments_and_builds_an_app_that_answers_the_api():
    built = server.create_app()  # what ``uvicorn --factory`` calls
    assert isinstance(built, server.RuntypeApp) and isinstance(built.runtype, State)
    schedule_id = built.runtype.seed_schedule(schedule_id="sch_served", name="Served")["id"]
    with TestClient(built, base_url="http://127.0.0.1") as client:
        assert client.get("/_local/health").json() == {"status": "ok"}
        assert client.get("/v1/schedules").status_code == 401
        headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
        response = client.get(f"/v1/schedules/{schedule_id}", headers=headers)
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["name"]) == ("sch_served", "Served")


def test_the_factory_passes_settings_to_a_fresh_state():
    built = server.create_app(api_key="rt_test_server_key")
    with TestClient(built, base_url="http://localhost") as client:
        assert client.get("/v1/schedules", headers={"Authorization": "Bearer rt_test_server_key"}).json()["data"] == []
        assert client.get("/v1/schedules", headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"}).status_code == 401


def test_the_test_clients_default_host_is_refused():
    with TestClient(server.create_app()) as client:  # Host: testserver
        response = client.get("/_local/health")
    assert (response.status_code, response.json()["details"][0]["code"]) == (421, "INVALID_HOST")
