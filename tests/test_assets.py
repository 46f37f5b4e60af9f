"""The ``runtype://`` asset URIs of schedules, flows and agents (normalised, validated, round-trip any id), their
OpenLineage datasets and the run event payload."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtype_provider.assets import (
    BATCH_PAYLOAD_KEYS,
    PAYLOAD_KEYS,
    agent_asset_uri,
    asset_target,
    create_asset,
    flow_asset_uri,
    openlineage_namespace,
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


# ---- flows and agents (issue 17, item 6) ---------------------------------------------------------------------


@given(st.sampled_from(["flow", "agent"]), ids)
def test_any_flow_or_agent_id_round_trips_through_its_uri(resource: str, target_id: str) -> None:
    uri = flow_asset_uri(target_id) if resource == "flow" else agent_asset_uri(target_id)
    assert uri.startswith(f"runtype://{resource}/")
    assert "/" not in uri[len(f"runtype://{resource}/") :]
    assert asset_target(uri) == (resource, target_id.strip())
    assert sanitize_uri(urlsplit(uri)).geturl() == uri


@pytest.mark.parametrize(
    ("written", "normal"),
    [
        ("runtype://Flows/flow_1/", "runtype://flow/flow_1"),
        ("runtype://flow/flow%201", "runtype://flow/flow%201"),
        ("runtype://AGENTS/agt_1", "runtype://agent/agt_1"),
        ("runtype://agent/agt_1/", "runtype://agent/agt_1"),
    ],
)
def test_spellings_of_one_flow_or_agent_normalise_to_one_uri(written: str, normal: str) -> None:
    assert sanitize_uri(urlsplit(written)).geturl() == normal


@pytest.mark.parametrize(
    ("uri", "named"),
    [
        ("runtype://flowss/f_1", "runtype://flow/<flow_id>"),
        ("runtype://flow/", "exactly one flow id"),
        ("runtype://agent/a/b", "exactly one agent id"),
        ("runtype://agent/..", "'agent_id' must not be '..'"),
        ("runtype://flow/f?x=1", "query or fragment"),
    ],
)
def test_malformed_flow_and_agent_uris_are_refused_naming_the_wrong_part(uri: str, named: str) -> None:
    with pytest.raises(ValueError) as raised:
        sanitize_uri(urlsplit(uri))
    assert named in str(raised.value)


def test_the_factory_makes_flow_and_agent_assets_airflow_normalises_alike() -> None:
    from airflow.sdk import Asset

    flow, agent = create_asset(flow_id="flow 1"), create_asset(agent_id="agt_1", name="Support agent")
    assert (flow.uri, flow.name) == ("runtype://flow/flow%201", "runtype://flow/flow%201")
    assert (agent.uri, agent.name) == ("runtype://agent/agt_1", "Support agent")
    assert Asset(uri="runtype://Flows/flow%201/").uri == flow.uri  # Airflow runs our handler
    with pytest.raises(ValueError, match="exactly one of schedule_id, flow_id and agent_id, got schedule_id, flow_id"):
        create_asset(schedule_id="s", flow_id="f")
    with pytest.raises(ValueError, match="got none"):
        create_asset()


def test_a_schedule_id_is_read_only_from_a_schedule_uri() -> None:
    assert schedule_id_from_uri("runtype://schedules/sch_1") == "sch_1"
    with pytest.raises(ValueError, match="names a flow, not a schedule"):
        schedule_id_from_uri("runtype://flow/sch_1")


def test_each_resource_has_its_own_openlineage_namespace() -> None:
    from runtype_provider.assets import OPENLINEAGE_NAMESPACE, to_openlineage_dataset

    assert OPENLINEAGE_NAMESPACE == openlineage_namespace("schedule") == "runtype://schedule"
    for asset, expected in (
        (create_asset(schedule_id="s 1"), ("runtype://schedule", "s 1")),
        (create_asset(flow_id="f 1"), ("runtype://flow", "f 1")),
        (create_asset(agent_id="a_1"), ("runtype://agent", "a_1")),
    ):
        dataset = to_openlineage_dataset(asset)
        assert (dataset.namespace, dataset.name) == expected


def test_batch_payload_keys_extend_the_run_payload_keys() -> None:
    assert BATCH_PAYLOAD_KEYS[: len(PAYLOAD_KEYS)] == PAYLOAD_KEYS
    assert set(BATCH_PAYLOAD_KEYS) - set(PAYLOAD_KEYS) == {
        "flow_id", "agent_id", "batch_execution_ids", "total_cost_usd", "billed_cost_usd"
    }  # fmt: skip
