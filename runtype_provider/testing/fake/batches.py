"""Batches submitted directly (``POST /v1/batch/flow``) and what any batch execution costs (§7.1).

* :func:`checked_batch`: the body checked as the API checks it (400 ``Validation failed`` with ``details``);
* :func:`batch_records` / :func:`batch_failures`: the records a submitted batch processes, and which fail
  (``Settings.failing_record_ids`` by id or inline name, plus ``Settings.failure_share`` evenly spread);
* :func:`cost_body`, :func:`record_cost_body`, :func:`steps_body`, :func:`summary_item`: the answers of the cost,
  per-record cost, steps and summary endpoints for a :class:`~.simulation.Run` at an instant. Every processed
  record (failed ones too) costs ``Run.cost_per_record``; a record not yet processed costs nothing, so a running
  batch's cost grows until it is terminal;
* :func:`daily_limit_error` / :func:`payment_required_error`: the 429 and 402 answers (the daily record limit,
  ``Settings.daily_record_limit``, and the ``daily_limit`` / ``payment_required`` faults).

Standard library, ``spec``, ``wire``, ``settings`` and ``simulation`` only.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from runtype_provider.api.spec import MAX_BATCH_RECORDS
from runtype_provider.testing.fake.simulation import Record, Run, RunView, failure_mask
from runtype_provider.testing.fake.wire import ApiError, detail, iso, validation_error

THOUSANDTHS_CENT_PER_USD = 100_000
STEPS = (("step_fetch", "Fetch record", "fetch"), ("step_prompt", "Enrich", "prompt"), ("step_save", "Save", "upsert"))
"""The three steps of every simulated record (``stepCount`` 3 in result rows); a failing record fails the last."""
_OPTION_INTS = {"chunkSize": 1, "recordConcurrency": 1, "maxRetries": 0, "flowTimeoutMs": 1, "timeoutMs": 1,
                "stepTimeoutMs": 1, "progressFlushSize": 1}  # fmt: skip


@dataclass(frozen=True)
class BatchRequest:
    """A checked ``POST /v1/batch/flow`` body."""

    flow_id: str | None
    agent_id: str | None
    flow_definition: Mapping[str, Any] | None
    record_ids: tuple[str, ...]
    records: tuple[Mapping[str, Any], ...]

    @property
    def count(self) -> int:
        return len(self.record_ids) + len(self.records)

    def flow_name(self) -> str:
        if self.flow_definition is not None:
            return str(self.flow_definition["name"])
        return f"Flow {self.flow_id}" if self.flow_id else f"Agent {self.agent_id}"


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _target_errors(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    errors = [detail(f"{key} must be a non-empty string", key, "INVALID_TYPE")
              for key in ("flowId", "agentId") if body.get(key) is not None and not _text(body[key])]  # fmt: skip
    definition = body.get("flowDefinition")
    if definition is not None:
        if not isinstance(definition, dict) or not _text(definition.get("name")):
            errors.append(detail("flowDefinition.name is required", "flowDefinition.name", "MISSING_REQUIRED_FIELD"))
        elif not isinstance(definition.get("steps"), list) or not all(isinstance(s, dict) for s in definition["steps"]):
            errors.append(detail("flowDefinition.steps must be an array of objects", "flowDefinition.steps",
                                 "INVALID_TYPE"))  # fmt: skip
    given = [key for key in ("flowId", "flowDefinition", "agentId") if body.get(key) is not None]
    if not given:
        errors.append(detail("one of flowId, flowDefinition or agentId is required", "flowId",
                             "MISSING_REQUIRED_FIELD"))  # fmt: skip
    elif len(given) > 1:
        errors.append(detail(f"give one of flowId, flowDefinition or agentId, not {' and '.join(given)}", given[1],
                             "CONFLICTING_FIELDS"))  # fmt: skip
    return errors


def _record_errors(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    ids, records = body.get("recordIds"), body.get("records")
    for key, value in (("recordIds", ids), ("records", records)):
        if value is not None and not isinstance(value, list):
            return [detail(f"{key} must be an array", key, "INVALID_TYPE")]
    count = len(ids or ()) + len(records or ())
    if count > MAX_BATCH_RECORDS:
        return [detail(f"at most {MAX_BATCH_RECORDS} records per batch (recordIds and records together), got {count}",
                       "recordIds", "TOO_MANY_RECORDS")]  # fmt: skip
    if count == 0:
        return [detail("at least one of recordIds or records must be non-empty", "recordIds", "MISSING_REQUIRED_FIELD")]
    errors = [detail(f"recordIds[{i}] must be a non-empty string", f"recordIds[{i}]", "INVALID_TYPE")
              for i, rid in enumerate(ids or ()) if not _text(rid)][:20]  # fmt: skip
    for i, record in enumerate(records or ()):
        if len(errors) >= 20:
            break
        if not isinstance(record, dict) or not (_text(record.get("name")) and _text(record.get("type"))):
            errors.append(detail("each record needs a name and a type", f"records[{i}]", "MISSING_REQUIRED_FIELD"))
        elif not isinstance(record.get("metadata"), dict):
            errors.append(detail("metadata must be an object", f"records[{i}].metadata", "INVALID_TYPE"))
    return errors


def _other_errors(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    errors = []
    if body.get("inputs") is not None and not isinstance(body["inputs"], dict):
        errors.append(detail("inputs must be an object", "inputs", "INVALID_TYPE"))
    messages = body.get("messages")
    if messages is not None and (
        not isinstance(messages, list)
        or not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages)
    ):
        errors.append(detail("messages must be an array of {role, content}", "messages", "INVALID_TYPE"))
    options = body.get("options")
    if options is not None and not isinstance(options, dict):
        return [*errors, detail("options must be an object", "options", "INVALID_TYPE")]
    for key, low in _OPTION_INTS.items():
        value = (options or {}).get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            errors.append(detail(f"options.{key} must be an integer >= {low}", f"options.{key}", "INVALID_RANGE"))
    for key, kind, label in (("modelOverride", str, "a string"), ("skipCacheWarm", bool, "a boolean")):
        if (options or {}).get(key) is not None and not isinstance(options[key], kind):  # type: ignore[index]
            errors.append(detail(f"options.{key} must be {label}", f"options.{key}", "INVALID_TYPE"))
    return errors


def checked_batch(body: Any) -> BatchRequest:
    """The body of ``POST /v1/batch/flow``, checked: 400 with every problem found (records: the first 20)."""
    if not isinstance(body, dict):
        raise validation_error([detail("Request body must be a JSON object", "", "INVALID_TYPE")])
    errors = _target_errors(body) + _record_errors(body) + _other_errors(body)
    if errors:
        raise validation_error(errors)
    return BatchRequest(
        flow_id=body.get("flowId"),
        agent_id=body.get("agentId"),
        flow_definition=body.get("flowDefinition"),
        record_ids=tuple(body.get("recordIds") or ()),
        records=tuple(body.get("records") or ()),
    )


def batch_records(request: BatchRequest, batch_id: str) -> tuple[Record, ...]:
    """Saved records first (type ``record``), then the inline ones, each with a synthetic id for this batch."""
    saved = tuple(Record(rid, f"Record {rid}", "record") for rid in request.record_ids)
    stem = batch_id.removeprefix("batch_")
    inline = tuple(
        Record(f"inline_{stem}_{n + 1}", str(r["name"]), str(r["type"])) for n, r in enumerate(request.records)
    )
    return saved + inline


def batch_failures(records: tuple[Record, ...], failing: Collection[str], share: float) -> tuple[bool, ...]:
    """A record fails if its id or name is in ``failing``, or by ``share`` (:func:`~.simulation.failure_mask`)."""
    by_share = failure_mask(records, None, share)
    failing = frozenset(failing)
    return tuple(hit or r.id in failing or r.name in failing for r, hit in zip(records, by_share, strict=True))


def _usd(amount: float) -> float:
    return round(amount, 10)


def _costs(run: Run, records: int) -> dict[str, Any]:
    total = run.cost_per_record * records
    billed = round(total * run.billed_share * THOUSANDTHS_CENT_PER_USD)
    return {
        "billedCostThousandthsCent": billed,
        "billedCostUsd": billed / THOUSANDTHS_CENT_PER_USD,
        "selfReportedCostUsd": 0.0,
        "totalCostUsd": _usd(total),
        "unpricedExecutions": 0,
    }


def cost_body(run: Run, view: RunView) -> dict[str, Any]:
    """``GET /v1/batch/:id/cost``: the processed records' cost so far."""
    return {"batchExecutionId": run.batch_id, **_costs(run, view.processed)}


def record_index(run: Run, record_id: str) -> int | None:
    """The position of ``record_id`` in the batch (None: not one of its records)."""
    return next((i for i, record in enumerate(run.records) if record.id == record_id), None)


def record_cost_body(run: Run, view: RunView, index: int) -> dict[str, Any]:
    """``GET /v1/batch/:batchId/records/:recordId/cost``: the record's cost, 0 until it is processed."""
    processed = int(index < view.processed)
    return {"batchExecutionId": run.batch_id, "recordId": run.records[index].id, **_costs(run, processed)}


def steps_body(run: Run, view: RunView, index: int, user_id: str) -> dict[str, Any]:
    """``GET /v1/batch/:batchId/records/:recordId/steps``: the record's three steps once it is processed."""
    if index >= view.processed:
        return {"data": []}
    record, failed = run.records[index], run.failed_mask[index]
    row = run.result_row(index, "completed")
    began = row["createdAt"]
    step_ms = max(1, row["durationMs"] // len(STEPS))
    steps = []
    for order, (step_id, name, kind) in enumerate(STEPS):
        failing = failed and order == len(STEPS) - 1
        start = (
            run.created_wall
            + timedelta(seconds=run.queued_s + index * run.record_duration())
            + timedelta(milliseconds=order * step_ms)
        )
        steps.append({
            "batchExecutionId": run.batch_id, "completedAt": iso(start + timedelta(milliseconds=step_ms)),
            "createdAt": began, "durationMs": step_ms, "errorMessage": run.record_error if failing else None,
            "estimatedCost": f"{run.cost_per_record / len(STEPS):.8f}", "executionEngine": "runtime",
            "flowId": run.flow_id, "id": f"step_{run.batch_id.removeprefix('batch_')}_{index + 1}_{order + 1}",
            "order": order, "outputPreview": None if failing else f"{name}: {record.name}", "recordId": record.id,
            "recordName": record.name, "startedAt": iso(start), "status": "failed" if failing else "completed",
            "stepId": step_id, "stepName": name, "stepType": kind, "totalTokens": 120 if kind == "prompt" else 0,
            "userId": user_id,
        })  # fmt: skip
    return {"data": steps}


def summary_item(run: Run, view: RunView) -> dict[str, Any]:
    """One item of ``GET /v1/batch/summary``."""
    total = len(run.records)
    return {
        "failedRecords": view.failed,
        "flowName": run.flow_name or f"Agent {run.agent_id}",
        "id": run.batch_id,
        "processedRecords": view.processed,
        "progress": view.processed * 100 // total if total else 100,
        "startedAt": iso(view.started_at or run.created_wall),
        "status": view.status,
        "totalRecords": total,
    }


def daily_limit_error(limit: int | None, used: int | None, retry_after: int) -> ApiError:
    """429 for the daily record limit: code ``DAILY_LIMIT_EXCEEDED``, ``Retry-After`` until the day resets."""
    told = f"{used} of {limit} records used today" if limit is not None else "the daily execution limit is reached"
    return ApiError(
        429,
        "Daily execution limit reached",
        [detail(f"Daily execution limit reached: {told}", None, "DAILY_LIMIT_EXCEEDED")],
        headers={"Retry-After": str(retry_after), "X-Quota-Remaining": "0"},
        extra={
            "code": "DAILY_LIMIT_EXCEEDED",
            "message": "Your plan's daily execution limit is reached. It resets at midnight UTC; upgrade for more.",
            "upgradeUrl": "/settings/billing",
        },
    )


def payment_required_error() -> ApiError:
    """402 for a used-up quota or a billing problem (the ``payment_required`` fault)."""
    return ApiError(
        402,
        "Payment required",
        [detail("The execution quota is used up or billing needs attention", None, "QUOTA_EXCEEDED")],
        extra={
            "code": "QUOTA_EXCEEDED",
            "message": "Your plan's execution quota is used up. Add a payment method or upgrade your plan.",
            "upgradeUrl": "/settings/billing",
        },
    )
