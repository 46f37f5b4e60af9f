"""The ``runtype://`` asset URI (normalised, validated, round-trips any id) and the run event payload."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtype_provider.assets import (
    PAYLOAD_KEYS,
    create_asset,
    run_event_payload_of,
    sanitize_uri,
    schedule_asset_uri,
    schedule_id_from_uri,
)
from runtype_provider.runs.reference import RunProgress, RunReference, run_event_payload
from runtype_provider.runs.status import RunOutcome
from runtype_provider.tasks.outlets import run_event_extra

ids = st.text(min_size=1, max_size=40).filter(lambda t: t.strip() not in ("", ".", ".."))


@given(ids)
def test_any_schedule_id_round_trips_through_its_uri(schedule_id: str) -> None:
    uri = schedule_asset_uri(schedule_id)
    assert uri.startswith("runtype://schedule/")
    assert "/" not in uri[len("runtype://schedule/") :]
    assert schedule_id_from_uri(uri) == schedule_id.strip()
    assert sanitize_uri(urlsplit(uri)).geturl() == uri  # already normal


@pytest.mark.parametrize(
    "written",
    ["runtype://schedule/sch_1", "runtype://Schedule/sch_1", "runtype://schedules/sch_1", "runtype://schedule/sch_1/"],
)
def test_spellings_of_one_schedule_normalise_to_one_uri(written: str) -> None:
    assert sanitize_uri(urlsplit(written)).geturl() == "runtype://schedule/sch_1"


@pytest.mark.parametrize(
    ("uri", "named"),
    [
        ("runtype://workspace/sch_1", "host"),
        ("runtype://schedule/", "exactly one schedule id"),
        ("runtype://schedule/a/b", "exactly one schedule id"),
        ("runtype://schedule/sch_1?x=1", "query or fragment"),
        ("runtype://schedule/sch_1#frag", "query or fragment"),
        ("runtype://schedule/..", "'..'"),
        ("runtype://schedule/%20", "non-empty"),
    ],
)
def test_malformed_uris_are_refused_naming_the_wrong_part(uri: str, named: str) -> None:
    with pytest.raises(ValueError) as raised:
        sanitize_uri(urlsplit(uri))
    assert named in str(raised.value)


def test_the_factory_and_airflow_agree_on_the_uri() -> None:
    from airflow.sdk import Asset

    made = create_asset(schedule_id="sch 1")
    assert made.uri == "runtype://schedule/sch%201"
    assert made.name == made.uri
    assert Asset(uri="runtype://Schedules/sch%201/").uri == made.uri  # Airflow runs our handler


def test_payload_has_every_key_and_reads_back_from_both_event_shapes() -> None:
    run = RunReference(schedule_id="sch_1", run_id="run_1", batch_execution_id="b_1", run_url="https://x/r")
    progress = RunProgress(
        status="completed",
        outcome=RunOutcome.SUCCESS,
        total_records=3,
        processed_records=3,
        failed_records=0,
        completed_at="2026-11-26T10:00:00Z",
        run_id="run_1",
    )
    payload = run_event_payload(run, progress)
    assert tuple(payload) == PAYLOAD_KEYS
    assert payload["outcome"] == "success"
    assert payload["finished_at"] == "2026-11-26T10:00:00Z"
    watcher_extra = {"from_trigger": True, "payload": payload}
    assert run_event_payload_of(watcher_extra) == run_event_payload_of(run_event_extra(payload)) == payload
    with pytest.raises(ValueError, match="no Runtype run payload"):
        run_event_payload_of({"note": "created by hand"})
