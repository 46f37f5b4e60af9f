"""Per-record results as tasks hand them on: the XCom row, the running summary, the JSON Lines file."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote

from runtype_provider.exceptions import RuntypeConfigurationError
from runtype_provider.runs.status import (
    is_failed_record_status,
    is_succeeded_record_status,
    record_status_matches,
)

WRITE_CHUNK_ROWS = 500


def record_outcome(row: Any, include_result: bool) -> dict[str, Any]:
    """The XCom-friendly view of one per-record result: a :class:`~runtype_provider.api.responses.RecordResult` or a
    :class:`~runtype_provider.client.results.ResultRow`, read alike (``result_value()`` gives the decoded result)."""
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
        outcome["result"] = row.result_value()
    return outcome


_text = json.encoder.encode_basestring_ascii  # what json.dumps writes a string with (C)


def _maybe(value: str | None) -> str:
    return "null" if value is None else _text(value)


def outcome_lines(rows: list[Any], include_result: bool) -> list[str]:
    """Each row's :func:`record_outcome` as one JSON line, byte for byte what ``json.dumps(outcome, default=str)``
    writes (same keys, order, separators and ASCII escapes), formatted without building the dict."""
    lines = [
        f'{{"record_id": {_text(r.record_id)}, "record_name": {_maybe(r.record.name) if r.record else "null"}, '
        f'"status": {_maybe(r.status)}, "error": {_maybe(r.error)}, "executed_at": {_maybe(r.executed_at)}, '
        f'"failed_at": {_maybe(r.failed_at)}, "result_id": {_maybe(r.record_result_id)}}}'
        for r in rows
    ]
    if include_result:
        for index, row in enumerate(rows):
            value = json.dumps(row.result_value(), default=str)
            lines[index] = f'{lines[index][:-1]}, "result": {value}}}'
    return lines


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

    def add(self, rows: list[Any]) -> None:
        """Count a page of rows (anything with a ``status``), each status classified once per page."""
        for status, times in Counter([row.status for row in rows]).items():
            self.total += times
            self.by_status[str(status)] += times
            self.failed += times * is_failed_record_status(status)
            self.succeeded += times * is_succeeded_record_status(status)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "failed": self.failed,
            "succeeded": self.succeeded,
            "by_status": dict(sorted(self.by_status.items())),
        }


def selected_pages(pages: Iterable[list[Any]], wanted: str | None, summary: ResultSummary) -> Iterator[list[Any]]:
    """The rows of each page whose status is the ``status_filter`` ``wanted`` (all rows when None; applied here
    also when the server ignored the filter), counted in ``summary`` as they pass."""
    for rows in pages:
        if wanted is not None:
            rows = [row for row in rows if record_status_matches(row.status, wanted)]
        summary.add(rows)
        yield rows


def _write_lines(handle: Any, lines: list[str]) -> None:
    """Write ``lines`` as JSON Lines in one call and empty the list."""
    if lines:
        handle.write("\n".join(lines) + "\n")
        lines.clear()


LOCAL_PROTOCOLS = ("file", "local", "")


def location(given: str, path: Any) -> str:
    """The one form a results location is handed on in: a plain absolute path for local files (``open()`` and
    ``ObjectStoragePath`` both read it), else the object store's URI as given (``s3://bucket/key``)."""
    return str(path.path) if path.protocol in LOCAL_PROTOCOLS else given


def write_jsonl(path: str, chunks: Iterable[list[str]]) -> str:
    """Write ``chunks`` of JSON lines, in order, to ``path`` as JSON Lines; its location.

    ``path`` is an :class:`~airflow.sdk.ObjectStoragePath` location (local, ``s3://``, ``gs://`` …). Rows go to a
    hidden sibling that is moved into place once complete, so the final path never holds a partial file and a
    failed task leaves an existing file untouched (on object stores the move is a copy, which publishes the
    whole object at once, then a delete).
    """
    from airflow.sdk import ObjectStoragePath

    target = ObjectStoragePath(path)
    if target.protocol in LOCAL_PROTOCOLS:
        target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.{uuid.uuid4().hex}.partial"
    try:
        with partial.open("w") as handle:
            _write_chunks(handle, chunks)
        partial.rename(target)
    except BaseException:
        with contextlib.suppress(Exception):
            partial.unlink()
        raise
    return location(path, target)


def _write_chunks(handle: Any, chunks: Iterable[list[str]]) -> None:
    # Written in bounded chunks: each write through ObjectStoragePath's handle has a fixed cost (about 15 us,
    # lineage bookkeeping), and a chunk keeps memory flat however many rows there are.
    lines: list[str] = []
    for chunk in chunks:
        lines += chunk
        if len(lines) >= WRITE_CHUNK_ROWS:
            _write_lines(handle, lines)
    _write_lines(handle, lines)


SINGLE_HOST_EXECUTORS = frozenset({"LocalExecutor", "SequentialExecutor", "DebugExecutor"})
"""Executors that run every task on the scheduler's own host: a file under ``AIRFLOW_HOME`` is readable downstream."""
RESULTS_DIR = "runtype_results"


def results_base(results_path: str | None, xcom_path: str | None, executors: str | None, home: str) -> str:
    """Where a results file goes when the task names no ``output_path``: a location every worker can read.

    ``[runtype] results_path`` when set; else ``[common.io] xcom_objectstorage_path``/``runtype_results`` (the
    deployment's shared XCom storage); else ``{home}/runtype_results`` when every configured executor (``[core]
    executor``, comma-separated) runs tasks on this host. Otherwise a worker's own disk would hand the next task a
    path it cannot open, so this raises :class:`~runtype_provider.exceptions.RuntypeConfigurationError` saying what
    to set.
    """
    for base, suffix in ((results_path, ""), (xcom_path, RESULTS_DIR)):
        if base and base.strip():
            return "/".join(part for part in (base.strip().rstrip("/"), suffix) if part)
    names = [
        name.strip().rpartition(".")[2].rpartition(":")[2] for name in (executors or "").split(",") if name.strip()
    ]
    if names and all(name in SINGLE_HOST_EXECUTORS for name in names):
        return "/".join([home.rstrip("/"), RESULTS_DIR])
    raise RuntypeConfigurationError(
        f"The results do not fit in XCom, and this deployment runs tasks on several hosts (executor "
        f"{', '.join(names) or 'unknown'}): a file on this worker's disk could not be read by the next task. Set "
        "[runtype] results_path (AIRFLOW__RUNTYPE__RESULTS_PATH) to storage every worker reads, e.g. "
        "s3://bucket/runtype or a shared mount, or [common.io] xcom_objectstorage_path; or pass output_path=...; "
        "or raise max_xcom_rows"
    )


def results_file(base: str, dag_id: Any, run_id: Any, task_id: str, map_index: Any) -> str:
    """``{base}/<dag>/<run>/<task>[@<map index>].jsonl``, each id percent-encoded.

    Encoding keeps every id inside its own directory level (``run_id=".."`` is a valid Airflow run id) and keeps
    distinct ids apart (``a:b`` and ``a_b`` never share a file); ``@`` cannot occur in an encoded task id.
    """
    name = _encode(task_id) + (f"@{map_index}" if isinstance(map_index, int) and map_index >= 0 else "")
    return "/".join([base.rstrip("/"), _encode(dag_id), _encode(run_id), f"{name}.jsonl"])


def default_results_path(home: str, dag_id: Any, run_id: Any, task_id: str, map_index: Any) -> str:
    """``{home}/runtype_results/<dag>/<run>/<task>[@<map index>].jsonl`` (a single-host deployment's default)."""
    return results_file("/".join([home.rstrip("/"), RESULTS_DIR]), dag_id, run_id, task_id, map_index)


def _encode(value: Any) -> str:
    text = quote(str(value), safe="")
    return text.replace(".", "%2E") if not text.strip(".") else text
