"""Per-record results as tasks hand them on: the XCom row, the running summary, the JSON Lines file."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from runtype_provider.models.schemas import RecordResult
from runtype_provider.models.status import is_failed_record_status, is_succeeded_record_status

WRITE_CHUNK_ROWS = 500


def record_outcome(row: RecordResult, include_result: bool) -> dict[str, Any]:
    """The XCom-friendly view of one per-record result."""
    outcome = {
        "record_id": row.record_id,
        "record_name": row.record.name if row.record else None,
        "status": row.status,
        "error": row.error,
        "executed_at": row.executed_at,
        "failed_at": row.failed_at,
        "result_id": row.record_result_id,
    }
    if include_result:
        outcome["result"] = row.result
    return outcome


class ResultSummary:
    """Running counts over result rows: total, failed, succeeded, per status.

    A status that is neither a known success nor a known failure (``skipped``, a new value) counts in
    ``total`` and ``by_status`` only, so ``succeeded`` never claims records that did not succeed.
    """

    def __init__(self) -> None:
        self.total = 0
        self.failed = 0
        self.succeeded = 0
        self.by_status: Counter[str] = Counter()

    def add(self, row: dict[str, Any]) -> None:
        self.total += 1
        self.by_status[str(row["status"])] += 1
        self.failed += is_failed_record_status(row["status"])
        self.succeeded += is_succeeded_record_status(row["status"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "failed": self.failed,
            "succeeded": self.succeeded,
            "by_status": dict(sorted(self.by_status.items())),
        }


def _write_lines(handle: Any, lines: list[str]) -> int:
    """Write ``lines`` as JSON Lines in one call and empty the list; how many were written."""
    if not lines:
        return 0
    handle.write("\n".join(lines) + "\n")
    written = len(lines)
    lines.clear()
    return written


def write_jsonl(path: str, head: list[dict[str, Any]], rest: Iterable[dict[str, Any]], summary: ResultSummary) -> int:
    """Write ``head`` (already summarised) then ``rest`` (summarised here) to ``path``; the row count.

    ``path`` is an :class:`~airflow.sdk.ObjectStoragePath` location (local, ``s3://``, ``gs://`` …).
    """
    from airflow.sdk import ObjectStoragePath

    target = ObjectStoragePath(path)
    if target.protocol in ("file", "local", ""):
        target.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    lines: list[str] = []
    with target.open("w") as handle:
        # Written in bounded chunks: each write through ObjectStoragePath's handle has a fixed cost
        # (about 15 us, lineage bookkeeping), and a chunk keeps memory flat however many rows there are.
        for row in head:
            lines.append(json.dumps(row, default=str))
        for row in rest:
            summary.add(row)
            lines.append(json.dumps(row, default=str))
            if len(lines) >= WRITE_CHUNK_ROWS:
                count += _write_lines(handle, lines)
        count += _write_lines(handle, lines)
    return count
