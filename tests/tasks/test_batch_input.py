"""runtype_provider.tasks.batch_input: targets, record checks, the split over batches and the input fingerprint."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtype_provider.exceptions import RuntypeConfigurationError
from runtype_provider.tasks.batch_input import (
    check_parse_time_input,
    check_record_count,
    input_fingerprint,
    is_deferred_value,
    record_ids_argument,
    records_argument,
    split_arguments,
    split_records,
    target_key,
)


def test_templates_and_xcom_args_are_checked_only_once_rendered():
    assert is_deferred_value("{{ ti.xcom_pull('x') }}") and is_deferred_value(object())
    assert not is_deferred_value(["a"]) and not is_deferred_value("plain")
    check_parse_time_input("{{ ids }}", None, 1, 1)  # no error: checked at execute
    with pytest.raises(RuntypeConfigurationError, match=r"3 records .* max_batches=1 batches of records_per_batch=2"):
        check_parse_time_input(["a", "b"], [{"name": "n"}], 2, 1)  # literal lists: checked at parse


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


@pytest.mark.parametrize(("records_per_batch", "max_batches"), [(0, 1), (50_001, 1), (1, 0), (1, 101), (1.5, 1),
                                                                 (True, 1), ("3", 1)])  # fmt: skip
def test_split_arguments_name_the_argument_and_its_range(records_per_batch, max_batches):
    with pytest.raises(RuntypeConfigurationError, match=r"'(records_per_batch|max_batches)' must be a whole number"):
        split_arguments(records_per_batch, max_batches)


def test_the_bounds_of_the_split_are_runtypes_cap_and_the_runs():
    assert split_arguments(50_000, 100) == (50_000, 100)
    assert split_arguments(1, 1) == (1, 1)


def test_more_records_than_the_batches_take_are_refused_naming_both_arguments():
    assert check_record_count(["a"] * 6, None, 3, 2) == 6
    with pytest.raises(RuntypeConfigurationError, match=r"7 records .* max_batches=2 batches of records_per_batch=3 "
                                                        r"take \(6\); raise 'max_batches' \(at most 100\) or "
                                                        r"'records_per_batch' \(at most 50000\)"):  # fmt: skip
        check_record_count(["a"] * 4, [{}] * 3, 3, 2)


def test_seven_records_at_three_per_batch_are_three_batches_ids_first():
    chunks = split_records(["a", "b", "c", "d"], [{"n": 1}, {"n": 2}, {"n": 3}], 3)
    assert [(c.record_ids, c.records) for c in chunks] == [
        (["a", "b", "c"], []), (["d"], [{"n": 1}, {"n": 2}]), ([], [{"n": 3}])
    ]  # fmt: skip
    assert [c.size for c in chunks] == [3, 3, 1]
    assert split_records(None, None, 3) == [] and len(split_records(["a"], None, 50_000)) == 1


@given(
    ids=st.lists(st.text(min_size=1, max_size=3), max_size=40),
    inline=st.lists(st.fixed_dictionaries({"name": st.integers()}), max_size=40),
    records_per_batch=st.integers(1, 12),
    max_batches=st.integers(1, 100),
)
def test_every_record_is_in_exactly_one_batch_in_order_none_over_the_size(ids, inline, records_per_batch, max_batches):
    try:
        total = check_record_count(ids, inline, records_per_batch, max_batches)
    except RuntypeConfigurationError:
        assert len(ids) + len(inline) > records_per_batch * max_batches
        return
    chunks = split_records(ids, inline, records_per_batch)
    assert [i for c in chunks for i in c.record_ids] == ids  # in order, each once
    assert [r for c in chunks for r in c.records] == inline
    assert all(1 <= c.size <= records_per_batch for c in chunks)
    assert all(c.size == records_per_batch for c in chunks[:-1])  # only the last is short
    assert all(not c.records or not later.record_ids for c, later in itertools.pairwise(chunks))  # ids come first
    assert len(chunks) <= max_batches and sum(c.size for c in chunks) == total
