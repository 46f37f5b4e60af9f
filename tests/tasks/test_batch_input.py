"""runtype_provider.tasks.batch_input: targets, record checks and the input fingerprint."""

from __future__ import annotations

import pytest

from runtype_provider.exceptions import RuntypeConfigurationError
from runtype_provider.tasks.batch_input import (
    check_parse_time_input,
    input_fingerprint,
    is_deferred_value,
    record_ids_argument,
    records_argument,
    target_key,
)


def test_templates_and_xcom_args_are_checked_only_once_rendered():
    assert is_deferred_value("{{ ti.xcom_pull('x') }}") and is_deferred_value(object())
    assert not is_deferred_value(["a"]) and not is_deferred_value("plain")
    check_parse_time_input("{{ ids }}", None)  # no error: checked at execute


def test_target_key_names_a_flow_an_agent_or_an_inline_flow():
    assert target_key("f", None) == "flow:f"
    assert target_key(None, "a") == "agent:a"
    assert target_key(None, None, {"id": "f-9", "steps": []}) == "flow:f-9"
    assert target_key(None, None, {"steps": [1]}).startswith("definition:")
    assert target_key(None, None, {"steps": [1]}) != target_key(None, None, {"steps": [2]})


def test_json_array_text_is_read_and_other_text_refused():
    assert record_ids_argument('["a", "b"]') == ["a", "b"]
    assert records_argument('[{"name": "n"}]') == [{"name": "n"}]
    with pytest.raises(RuntypeConfigurationError, match="got the string 'a,b'"):
        record_ids_argument("a,b")
    with pytest.raises(RuntypeConfigurationError, match="must be a list of record dicts, got int"):
        records_argument(3)


def test_the_fingerprint_changes_with_any_input_and_not_with_key_order():
    base = input_fingerprint("flow:f", record_ids=["a", "b"], inputs={"x": 1, "y": 2})
    assert base == input_fingerprint("flow:f", inputs={"y": 2, "x": 1}, record_ids=["a", "b"])
    assert base != input_fingerprint("flow:g", record_ids=["a", "b"], inputs={"x": 1, "y": 2})
    assert base != input_fingerprint("flow:f", record_ids=["b", "a"], inputs={"x": 1, "y": 2})
    assert base != input_fingerprint("flow:f", record_ids=["a", "b"], inputs={"x": 1, "y": 3})
