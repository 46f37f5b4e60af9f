"""The bounded request log (``fake/request_log.py``): entry bound and dropped count, cut paths and queries, bodies
kept within a byte budget and parsed when read (``State``'s methods over it: ``test_store.py``)."""

from __future__ import annotations

import json

from runtype_provider.testing.fake import request_log
from runtype_provider.testing.fake.request_log import (
    MAX_LOGGED_BODY,
    MAX_LOGGED_TEXT,
    TRUNCATED,
    LogEntry,
    RequestLog,
    cut,
)
from runtype_provider.testing.fake.settings import DEFAULT_MAX_LOGGED_REQUESTS, Settings


def add(log: RequestLog, path: str = "/v1/schedules", *, limit: int = 100, query: str = "", secrets=()) -> LogEntry:
    return log.add(LogEntry("GET", path, query, "list_schedules", None), limit, list(secrets))


def paths(log: RequestLog) -> list[str]:
    return [entry["path"] for entry in log.entries([])]


def test_the_default_bound_is_ten_thousand_entries():
    assert DEFAULT_MAX_LOGGED_REQUESTS == Settings().max_logged_requests == 10_000


def test_the_oldest_entries_go_first_and_are_counted():
    log = RequestLog()
    for i in range(7):
        add(log, f"/v1/schedules/s{i}", limit=3)
    assert paths(log) == ["/v1/schedules/s4", "/v1/schedules/s5", "/v1/schedules/s6"]
    assert log.stats() == {"logged": 3, "dropped": 4, "refused_hosts": 0}


def test_a_bound_of_zero_keeps_only_counts():
    log = RequestLog()
    add(log, limit=0)
    assert (paths(log), log.stats()["dropped"]) == ([], 1)


def test_long_paths_and_queries_are_cut():
    log = RequestLog()
    entry = add(log, "/v1/schedules/" + "p" * 10_000, query="q=" + "x" * 10_000)
    assert len(entry.path) == len(entry.query) == MAX_LOGGED_TEXT
    assert entry.path.endswith(TRUNCATED) and entry.path.startswith("/v1/schedules/ppp")
    assert cut("short") == "short" and cut("a" * MAX_LOGGED_TEXT) == "a" * MAX_LOGGED_TEXT


def test_a_key_at_the_cut_is_masked_before_cutting():
    key = "rt_test_key_that_straddles_the_cut"
    query = "q=" + "x" * (MAX_LOGGED_TEXT - len(TRUNCATED) - 10) + key
    entry = add(RequestLog(), query=query, secrets=[key])
    assert key[:10] not in entry.query and "[redacted]"[:8] in entry.query


def test_bodies_are_parsed_when_read_and_none_when_not_json():
    log = RequestLog()
    good, bad, empty = add(log), add(log), add(log)
    log.keep_body(good, b'{"a": [1, "x"]}')
    log.keep_body(bad, b"not json")
    log.keep_body(empty, b"")
    assert [entry["body"] for entry in log.entries([])] == [{"a": [1, "x"]}, None, None]


def test_a_body_over_the_cap_is_not_kept():
    log = RequestLog()
    entry = add(log)
    log.keep_body(entry, json.dumps({"a": "x" * MAX_LOGGED_BODY}).encode())
    assert entry.raw_body is None and log.entries([])[0]["body"] is None


def test_all_bodies_together_stay_within_the_budget_oldest_forgotten_first(monkeypatch):
    monkeypatch.setattr(request_log, "MAX_LOGGED_BODIES", 120)
    log = RequestLog()
    entries = [add(log, f"/v1/s{i}") for i in range(5)]
    for i, entry in enumerate(entries):
        log.keep_body(entry, json.dumps({"i": i, "pad": "x" * 20}).encode())  # 39 bytes each
    kept = [entry["body"] and entry["body"]["i"] for entry in log.entries([])]
    assert kept == [None, None, 2, 3, 4]  # three bodies fit in 120 bytes; every entry stays
    assert log._body_bytes == sum(len(e.raw_body or b"") for e in entries) <= 120


def test_a_body_that_arrives_after_its_entry_left_the_log_is_not_kept():
    log = RequestLog()
    late = add(log, limit=1)
    add(log, limit=1)  # pushes ``late`` out
    log.keep_body(late, b'{"a": 1}')
    assert late.raw_body is None and log._body_bytes == 0
