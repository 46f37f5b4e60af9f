"""runtype_provider.api.base: the response models' base (camelCase aliases, snake_case attributes, unknown fields
kept, ``to_api``) and the count type (never negative)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from runtype_provider.api.base import Count, RuntypeModel
from runtype_provider.api.responses import RecordResult, Schedule

EXAMPLES = json.loads((Path(__file__).resolve().parents[1] / "data" / "runtype_api_examples.json").read_text())
SCHEDULE = EXAMPLES["schedule"]


class Counted(RuntypeModel):
    record_count: Count | None = None


def test_a_count_is_read_by_its_alias_and_never_negative():
    assert Counted.model_validate({"recordCount": 0}).record_count == 0
    assert Counted(record_count=3).to_api() == {"recordCount": 3}
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        Counted.model_validate({"recordCount": -1})


def test_models_accept_snake_case_names_too():
    assert Schedule(id="s1", flow_id="f1").to_api()["flowId"] == "f1"


def test_unknown_fields_are_kept_in_model_extra():
    schedule = Schedule.model_validate({**SCHEDULE, "ownerTeam": "growth", "quota": {"max": 3}})
    assert schedule.model_extra == {"ownerTeam": "growth", "quota": {"max": 3}}


def test_unknown_fields_are_kept_in_to_api():
    api = Schedule.model_validate({**SCHEDULE, "ownerTeam": "growth"}).to_api()
    assert api["ownerTeam"] == "growth"
    assert api["flowId"] == "flow_123"


def test_to_api_is_json_serializable():
    row = RecordResult.model_validate(
        {"recordId": "r1", "status": "success", "record": {"id": "r1", "name": "Acme", "type": "company", "x": 1}}
    )
    assert json.loads(json.dumps(row.to_api()))["record"] == {"id": "r1", "name": "Acme", "type": "company", "x": 1}
