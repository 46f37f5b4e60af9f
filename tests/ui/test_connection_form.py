"""The Runtype connection in the real Airflow UI, driven in headless Chromium (Debian's ``chromium``).

An Airflow API server runs on a temporary AIRFLOW_HOME (simple auth manager, everyone admin, connection
testing enabled) and a local Runtype serves the API on loopback. The tests add connections through the
"Add Connection" form as an admin would, then press the row's "Test Connection" button.

Set ``RUNTYPE_UI_SCREENSHOTS=<dir>`` to keep screenshots of each step (``make screenshots`` writes docs/).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.ui

AIRFLOW = str(Path(sys.executable).parent / "airflow")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags this sandbox needs: no background calls to Google's hosts (there is no network), no GPU, root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WRONG_KEY = "rt_test_fake_wrong_key_0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_healthy(url: str, server: subprocess.Popen[bytes], log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"airflow api-server exited with {server.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"airflow api-server did not answer within {seconds} s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def local_runtype() -> Iterator[Any]:
    from runtype_provider.testing import LocalRuntype

    with LocalRuntype() as server:
        yield server


@pytest.fixture(scope="module")
def airflow_ui() -> Iterator[str]:
    """A real ``airflow api-server`` on a loopback port; yields its base URL."""
    home = Path(tempfile.mkdtemp(prefix="runtype-ui-home-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__TEST_CONNECTION="Enabled",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
    )
    migrated = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrated.returncode == 0, migrated.stdout[-2000:] + migrated.stderr[-2000:]
    port = free_port()
    log = home / "api-server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, server, log)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: run `make browser` (apt-get install chromium)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, airflow_ui: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(airflow_ui)
    # Through the menu, as an admin would (Airflow 3.1 does not open /connections as a first page).
    page.get_by_role("button", name="Admin").click()
    page.get_by_role("menuitem", name="Connections").click()
    page.get_by_role("button", name="Add Connection").wait_for()
    yield page
    context.close()


def screenshot(page: Any, name: str) -> None:
    folder = os.environ.get("RUNTYPE_UI_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.wait_for_timeout(800)  # let toasts finish sliding in: the picture is for people
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def open_runtype_form(page: Any, conn_id: str) -> Any:
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[name=connection_id]").fill(conn_id)
    dialog.get_by_role("combobox").fill("Runtype")
    page.get_by_role("option", name="Runtype", exact=True).click()
    dialog.locator("input[name=host]").wait_for()
    return dialog


def add_connection(page: Any, conn_id: str, host: str, port: int, key: str) -> None:
    dialog = open_runtype_form(page, conn_id)
    dialog.locator("input[name=host]").fill(host)
    dialog.locator("input[name=port]").fill(str(port))
    dialog.locator("input[name=password]").fill(key)
    dialog.get_by_role("button", name="Save").click()
    dialog.wait_for(state="hidden")
    page.get_by_role("row").filter(has_text=conn_id).wait_for()


def press_test(page: Any, conn_id: str) -> tuple[str, str]:
    """Press the row's Test button; the (title, description) of the test-result toast it raises."""
    row = page.get_by_role("row").filter(has_text=conn_id)
    with page.expect_response(lambda r: r.url.endswith("/api/v2/connections/test")) as answer:
        row.get_by_role("button", name="Test Connection").click()
    assert answer.value.status == 200, answer.value.text()
    toast = page.locator("[data-scope=toast][data-part=root]").filter(has_text="Test Connection").last
    toast.wait_for()
    title = toast.locator("[data-part=title]").inner_text()
    return str(title), str(toast.locator("[data-part=description]").inner_text())


def test_add_form_offers_runtype_with_its_labels_placeholders_and_extra_fields(page: Any) -> None:
    dialog = open_runtype_form(page, "runtype_form")

    assert dialog.get_by_text("API base URL", exact=True).is_visible()
    assert dialog.get_by_text("API Key", exact=True).is_visible()
    assert dialog.locator("input[name=host]").get_attribute("placeholder") == "https://api.runtype.com"
    assert dialog.locator("input[name=password]").get_attribute("placeholder") == "rt_live_… or rt_test_…"
    assert dialog.locator("input[name=password]").get_attribute("type") == "password"
    assert dialog.locator("input[name=port]").get_attribute("placeholder") == "optional, e.g. 443"
    assert dialog.locator("input[name=login]").count() == 0
    assert dialog.locator("input[name=schema]").count() == 0
    screenshot(page, "connection-form")

    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    for label, default in [
        ("Request timeout (seconds)", "30"),
        ("Retry limit", "3"),
        ("First retry delay (seconds)", "1"),
        ("Dashboard URL", ""),
    ]:
        field = dialog.get_by_role("group").filter(has=page.get_by_text(label, exact=True)).last
        assert field.is_visible(), label
        assert field.locator("input").input_value() == default, label
    assert dialog.get_by_text("run-now is never retried into a second run", exact=False).is_visible()
    screenshot(page, "connection-form-extra-fields")


def test_saved_connection_tests_successfully_against_local_runtype(page: Any, local_runtype: Any) -> None:
    local_runtype.clear_requests()
    add_connection(page, "runtype_ui_ok", "http://127.0.0.1", local_runtype.port, local_runtype.api_key)

    title, message = press_test(page, "runtype_ui_ok")

    assert title == "Test Connection Successful"
    assert f"Connected to Runtype at http://127.0.0.1:{local_runtype.port}: the API key is valid." in message
    calls = [(r["operation"], r["status"]) for r in local_runtype.requests]
    assert calls == [("list_schedules", 200)]
    assert local_runtype.api_key not in page.content()
    screenshot(page, "connection-test-success")


def test_wrong_key_gives_a_clear_failure_that_never_shows_the_key(page: Any, local_runtype: Any) -> None:
    local_runtype.clear_requests()
    add_connection(page, "runtype_ui_bad_key", "http://127.0.0.1", local_runtype.port, WRONG_KEY)

    title, message = press_test(page, "runtype_ui_bad_key")

    assert title == "Test Connection Failed"
    assert "Runtype rejected the API key (HTTP 401" in message
    assert [(r["operation"], r["status"]) for r in local_runtype.requests] == [("list_schedules", 401)]
    assert WRONG_KEY not in page.content()
    screenshot(page, "connection-test-wrong-key")
