"""RuntypeRunLink: "Runtype run" extra link on the run operator and the sensor."""

from __future__ import annotations

import json
from unittest.mock import MagicMock

import pytest

from runtype_provider.get_provider_info import get_provider_info
from runtype_provider.links import RuntypeRunLink
from runtype_provider.operators.runtype import RuntypeRunScheduleOperator
from runtype_provider.sensors.runtype import RuntypeScheduleRunSensor

BASE = "https://api.runtype.com"


@pytest.fixture
def started(requests_mock):
    requests_mock.post(f"{BASE}/v1/schedules/sch-1/run-now", json={"status": "queued", "runId": "run-1"})
    requests_mock.post(
        f"{BASE}/v1/products/prod-1/surfaces/surf-1/schedules/sch-1/run-now",
        json={"status": "queued", "batchExecutionId": "b-1"},
    )


def run_op(**kwargs) -> RuntypeRunScheduleOperator:
    return RuntypeRunScheduleOperator(task_id="run", schedule_id="sch-1", wait_for_completion=False, **kwargs)


def test_link_is_the_run_url_after_execute(runtype_conn, started, context):
    op = run_op()
    op.execute(context)

    assert RuntypeRunLink().get_link(op, ti_key=MagicMock()) == "https://app.runtype.com/schedules/sch-1/runs/run-1"


def test_link_of_a_surface_run_opens_the_surface_schedule(runtype_conn, started, context):
    op = run_op(product_id="prod-1", surface_id="surf-1")
    op.execute(context)

    assert (
        RuntypeRunLink().get_link(op, ti_key=MagicMock())
        == "https://app.runtype.com/products/prod-1/surfaces/surf-1/schedules/sch-1"
    )


def test_link_uses_the_connections_dashboard_url(requests_mock, started, context, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_RUNTYPE_DEFAULT",
        json.dumps(
            {
                "conn_type": "runtype",
                "host": BASE,
                "password": "rt_test_x",
                "extra": {"dashboard_url": "https://dash.example.com/acme/"},
            }
        ),
    )
    op = run_op()
    op.execute(context)

    assert (
        RuntypeRunLink().get_link(op, ti_key=MagicMock()) == "https://dash.example.com/acme/schedules/sch-1/runs/run-1"
    )
    context["ti"].xcom_push.assert_any_call(
        key="run_url", value="https://dash.example.com/acme/schedules/sch-1/runs/run-1"
    )


def test_link_of_a_sensor_after_a_poke(runtype_conn, requests_mock):
    requests_mock.get(f"{BASE}/v1/batch/status/b-7", json={"status": "running"})
    sensor = RuntypeScheduleRunSensor(task_id="wait", batch_execution_id="b-7", deferrable=False)
    sensor.poke({})

    assert RuntypeRunLink().get_link(sensor, ti_key=MagicMock()) == "https://app.runtype.com/batches/b-7"


def test_a_task_object_without_the_url_falls_back_to_the_run_url_xcom(monkeypatch):
    from airflow.sdk.bases.xcom import BaseXCom

    get_value = MagicMock(return_value="https://app.runtype.com/schedules/s/runs/r")
    monkeypatch.setattr(BaseXCom, "get_value", get_value)
    ti_key = MagicMock(name="ti_key")
    deserialized = MagicMock(spec=["task_id"])  # no run_url attribute, as a task rebuilt from its DAG

    assert RuntypeRunLink().get_link(deserialized, ti_key=ti_key) == "https://app.runtype.com/schedules/s/runs/r"
    get_value.assert_called_once_with(ti_key=ti_key, key="run_url")


def test_a_task_that_failed_before_starting_a_run_has_no_link_and_reads_no_xcom(monkeypatch):
    """Airflow computes the links when a task ends: a task that failed before run-now must not log an XCom miss."""
    from airflow.sdk.bases.xcom import BaseXCom

    get_value = MagicMock(side_effect=AssertionError("would log 'XCom not found' at error level"))
    monkeypatch.setattr(BaseXCom, "get_value", get_value)

    assert RuntypeRunLink().get_link(run_op(), ti_key=MagicMock()) == ""
    assert get_value.call_count == 0


def test_link_is_empty_when_nothing_is_known(monkeypatch):
    from airflow.sdk.bases.xcom import BaseXCom

    monkeypatch.setattr(BaseXCom, "get_value", MagicMock(side_effect=RuntimeError("no XCom backend here")))

    assert RuntypeRunLink().get_link(MagicMock(spec=["task_id"]), ti_key=MagicMock()) == ""


@pytest.mark.parametrize("cls", [RuntypeRunScheduleOperator, RuntypeScheduleRunSensor])
def test_run_operator_and_sensor_carry_the_link(cls):
    assert [(type(link), link.name) for link in cls.operator_extra_links] == [(RuntypeRunLink, "Runtype run")]


def test_link_is_registered_in_the_provider_info():
    assert "runtype_provider.links.RuntypeRunLink" in get_provider_info()["extra-links"]
