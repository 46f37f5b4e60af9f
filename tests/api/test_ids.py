"""runtype_provider.api.ids: ids checked by argument name and quoted into path segments or query lists; the page
size bound."""

from __future__ import annotations

import pytest

from runtype_provider.api.ids import check_page_size, join_ids, segment
from runtype_provider.api.spec import MAX_PAGE_SIZE
from runtype_provider.exceptions import RuntypeConfigurationError


@pytest.mark.parametrize("value", ["", "  ", None, True, 1.5, ["a"]])
def test_segment_refuses_what_is_not_an_id_by_name(value):
    with pytest.raises(RuntypeConfigurationError, match="'schedule_id' must be a non-empty string"):
        segment(value, "schedule_id")


@pytest.mark.parametrize("size", [0, MAX_PAGE_SIZE + 1, True, "10"])
def test_page_size_is_bounded(size):
    with pytest.raises(RuntypeConfigurationError, match=f"from 1 to {MAX_PAGE_SIZE}"):
        check_page_size(size)


@pytest.mark.parametrize("value", [".", "..", " .. ", "\t.\n"])
@pytest.mark.parametrize("argument", ["schedule_id", "run_id", "batch_id", "product_id", "surface_id"])
def test_segment_refuses_dot_segments_by_name(value, argument):
    with pytest.raises(RuntypeConfigurationError, match=f"^'{argument}' must not be '\\.{{1,2}}': a dot segment"):
        segment(value, argument)


@pytest.mark.parametrize(
    ("value", "quoted"),
    [(".a", ".a"), ("..b", "..b"), ("...", "..."), ("a.", "a."), ("a/..", "a%2F.."), ("%2e%2e", "%252e%252e")],
)
def test_segment_keeps_ids_that_only_contain_dots(value, quoted):
    assert segment(value, "schedule_id") == quoted


@pytest.mark.parametrize(
    ("values", "joined"),
    [(["a b", "c/d", "e%f", ".."], "a b,c/d,e%f,.."), ((" s1 ", 7), "s1,7"), ({"s1"}, "s1")],
)
def test_join_ids_joins_without_quoting(values, joined):
    assert join_ids(values, "schedule_ids", max_count=100) == joined


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ("s1", "must be a list of 1 to 3 schedule ids"),
        ([], "must be a list of 1 to 3 schedule ids"),
        (["a", "b", "c", "d"], "must be a list of 1 to 3 schedule ids"),
        (["a", ""], "must be a non-empty string"),
        (["a", None], "must be a non-empty string"),
        (["a,b"], "'a,b' contains a comma"),
    ],
)
def test_join_ids_refuses_bad_lists_by_name(values, message):
    with pytest.raises(RuntypeConfigurationError, match=f"^'schedule_ids'.*{message}"):
        join_ids(values, "schedule_ids", max_count=3)
