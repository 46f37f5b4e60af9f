"""Schedules by name: the exact-match rule, its bounds and typed errors, the hook's lookup (one search, bounded
paging, product surfaces) and the local Runtype's ``search``; the operators' use is tested with each operator."""

from __future__ import annotations

import pickle
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtype_provider.api.responses import Schedule
from runtype_provider.exceptions import (
    RuntypeAmbiguousScheduleError,
    RuntypeConfigurationError,
    RuntypeScheduleLookupError,
    RuntypeScheduleNotFoundError,
)
from runtype_provider.hooks.lookups import (
    MAX_LISTED_CANDIDATES,
    MAX_NAME_CANDIDATES,
    pick_schedule_by_name,
    schedule_name_text,
)
from runtype_provider.hooks.runtype import RuntypeHook

LIST = "https://api.runtype.com/v1/schedules"


def schedules(*pairs: tuple[str, str | None]) -> list[Schedule]:
    return [Schedule.model_validate({"id": i, "name": n}) for i, n in pairs]


def page(pairs: list[tuple[str, str]], cursor: str | None = None) -> dict[str, Any]:
    return {
        "data": [{"id": i, "name": n} for i, n in pairs],
        "pagination": {"hasMore": cursor is not None, "nextCursor": cursor},
    }


@pytest.mark.parametrize(
    ("wanted", "found"),
    [
        ("Nightly", "sch_exact"),  # substring matches of the search are not matches
        ("  Nightly\n", "sch_exact"),  # outer whitespace is ignored on the asked name ...
        ("Nightly run", "sch_padded"),  # ... and on the schedule's
    ],
)
def test_the_one_exact_name_wins_over_substrings_and_other_cases(wanted: str, found: str) -> None:
    listed = schedules(
        ("sch_long", "Nightly enrichment"),
        ("sch_exact", "Nightly"),
        ("sch_case", "nightly"),
        ("sch_padded", " Nightly run "),
        ("sch_none", None),
    )
    assert pick_schedule_by_name(schedule_name_text(wanted), listed).id == found


def test_no_exact_match_names_the_near_misses_and_is_typed() -> None:
    with pytest.raises(RuntypeScheduleNotFoundError) as raised:
        pick_schedule_by_name("Nightly", schedules(("a", "NIGHTLY"), ("b", "Nightly two")), where="of product p")
    assert str(raised.value) == (
        "No Runtype schedule of product p is named 'Nightly' (names match exactly, case-sensitive); "
        "names that differ only in case or spaces: 'NIGHTLY' (a)"
    )
    assert (raised.value.name, raised.value.candidates) == ("Nightly", [])
    copy = pickle.loads(pickle.dumps(raised.value))  # errors cross process boundaries (triggerer, executors)
    assert (type(copy), str(copy), copy.name) == (RuntypeScheduleNotFoundError, str(raised.value), "Nightly")


def test_several_exact_matches_name_a_bounded_list_of_candidates() -> None:
    duplicates = schedules(*[(f"sch_{n:02d}", "Dup") for n in range(14)], ("other", "Dupe"))
    with pytest.raises(RuntypeAmbiguousScheduleError) as raised:
        pick_schedule_by_name("Dup", duplicates)
    assert raised.value.candidates == [f"sch_{n:02d}" for n in range(14)]
    message = str(raised.value)
    assert message.startswith("14 Runtype schedules are named 'Dup': sch_00, sch_01,")
    assert "sch_09 and 4 more" in message and "sch_10" not in message
    assert MAX_LISTED_CANDIDATES == 10


def test_more_candidates_than_the_bound_is_refused_without_reading_on() -> None:
    read: list[int] = []

    def endless():
        for n in range(10**9):
            read.append(n)
            yield Schedule.model_validate({"id": f"s{n}", "name": "Report" if n == 3 else f"Report {n}"})

    with pytest.raises(RuntypeAmbiguousScheduleError, match=r"More than 1000 .*among the first: s3\); give 'sc"):
        pick_schedule_by_name("Report", endless())
    assert len(read) == MAX_NAME_CANDIDATES + 1


@pytest.mark.parametrize("bad", [None, "", "   ", 3, "x" * 1001])
def test_a_name_must_be_a_non_empty_bounded_string(bad: Any) -> None:
    with pytest.raises(RuntypeConfigurationError, match="'schedule_name'"):
        schedule_name_text(bad)


@given(name=st.text(min_size=1, max_size=30).filter(str.strip), others=st.lists(st.text(max_size=30), max_size=8))
def test_property_a_unique_name_always_resolves_to_its_schedule(name: str, others: list[str]) -> None:
    listed = [(f"o{n}", other) for n, other in enumerate(others) if other.strip() != name.strip()]
    listed.insert(len(listed) // 2, ("target", name))
    assert pick_schedule_by_name(schedule_name_text(name), schedules(*listed)).id == "target"


# ---- the hook's lookup -------------------------------------------------------------------------------------


def test_the_hook_searches_by_name_pages_on_and_matches_exactly(hook: RuntypeHook, requests_mock) -> None:
    route = requests_mock.get(
        LIST,
        [
            {"json": page([("s1", "Sync CRM nightly")], cursor="c2")},
            {"json": page([("s2", "Sync CRM")])},
        ],
    )
    assert hook.find_schedule_by_name(" Sync CRM ").id == "s2"
    queries = [parse_qs(urlsplit(r.url).query) for r in route.request_history]
    assert [q["search"] for q in queries] == [["Sync CRM"], ["Sync CRM"]]
    assert [q.get("cursor") for q in queries] == [None, ["c2"]]
    assert queries[0]["limit"] == ["100"]


def test_the_hook_lookup_is_bounded_when_the_server_ignores_the_search(hook: RuntypeHook, requests_mock) -> None:
    pages = [{"json": page([(f"s{p}-{n}", f"other {n}") for n in range(100)], cursor=f"c{p}")} for p in range(20)]
    route = requests_mock.get(LIST, pages)
    with pytest.raises(RuntypeAmbiguousScheduleError, match="More than 1000"):
        hook.find_schedule_by_name("wanted")
    assert route.call_count == 11


def test_the_hook_looks_a_surface_schedule_up_among_the_surface_schedules(hook: RuntypeHook, requests_mock) -> None:
    url = "https://api.runtype.com/v1/products/p1/surfaces/sf1/schedules"
    requests_mock.get(url, json={"data": [{"id": "a", "name": "Digest"}, {"id": "b", "name": "Digest"}]})
    with pytest.raises(RuntypeAmbiguousScheduleError, match=r"2 Runtype schedules of product p1 surface sf1 .*: a, b"):
        hook.find_schedule_by_name("Digest", product_id="p1", surface_id="sf1")


def test_the_local_runtype_search_narrows_and_the_exact_match_decides(runtype_server) -> None:
    for schedule_id, name in [("s1", "Weekly digest"), ("s2", "Weekly digest (old)"), ("s3", "weekly DIGEST")]:
        runtype_server.seed_schedule(schedule_id=schedule_id, name=name, record_ids=["r"])
    hook = RuntypeHook(retry_limit=0)
    assert hook.find_schedule_by_name("Weekly digest").id == "s1"
    searched = [r for r in runtype_server.requests if r["operation"] == "list_schedules"]
    assert len(searched) == 1
    with pytest.raises(RuntypeScheduleNotFoundError, match=r"'Weekly DIGEST' \(s3\)|'weekly DIGEST' \(s3\)"):
        hook.find_schedule_by_name("Weekly Digest")


HOSTILE = ["x" * 5_000_000, "evil\n[2026-01-01] INFO - forged line", "\x1b[2J\x1b[31mred", "a\u202eb", "q'uote"]


@given(st.sampled_from(HOSTILE), st.sampled_from(HOSTILE))
def test_server_names_and_ids_reach_a_message_bounded_and_on_one_line(bad_id: str, bad_name: str) -> None:
    """A hostile server cannot forge task-log lines or fill the log through a lookup's error message."""
    for listed, wanted in [
        (schedules((bad_id, "Nightly"), ("b", "Nightly")), "Nightly"),  # ambiguous
        (schedules((bad_id, bad_name.upper() or "X"), (bad_id, "NIGHTLY")), "Nightly"),  # near misses
    ]:
        with pytest.raises(RuntypeScheduleLookupError) as caught:
            pick_schedule_by_name(wanted, listed)
        message = str(caught.value)
        assert len(message) < 3_000
        assert message.isprintable()  # no line break, escape or control character: one log line
        assert all(len(c) <= 256 for c in caught.value.candidates)
