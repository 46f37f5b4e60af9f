"""OpenLineage for the run operator: the Runtype schedule as a job facet, the run as a run facet, the
schedule's asset as the output dataset, and an error facet when the task failed. For the batch operator: the flow
(or agent) as a job facet and as the input dataset, the batches, counts and cost as a run facet.

Imported only from the operators' ``get_openlineage_facets_on_complete`` / ``_on_failure``, which the
OpenLineage provider (optional extra ``openlineage``) calls after the task; DAG parsing and tasks without
that provider never import OpenLineage. The facets' JSON schema ships next to this module
(``lineage_facets.json``); ``_schemaURL`` points at it in the project's repository.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.openlineage.facet import Dataset, ErrorMessageRunFacet, RunFacet
from airflow.providers.openlineage.extractors import OperatorLineage
from attrs import define, field
from openlineage.client.facet_v2 import JobFacet

from runtype_provider.assets import OPENLINEAGE_NAMESPACE, openlineage_namespace
from runtype_provider.exceptions import printable
from runtype_provider.runs.reference import RunCost, RunProgress, RunReference

SCHEMA_URL = (
    "https://raw.githubusercontent.com/runtype/airflow-provider-runtype/main/runtype_provider/lineage_facets.json"
)
JOB_FACET_KEY = "runtype_schedule"
RUN_FACET_KEY = "runtype_run"
BATCH_JOB_FACET_KEY = "runtype_batch"
BATCH_RUN_FACET_KEY = "runtype_batch_run"
ERROR_FACET_KEY = "errorMessage"


@define
class RuntypeScheduleJobFacet(JobFacet):
    """The Runtype schedule a task runs (the same on every run of the task)."""

    scheduleId: str | None = field(default=None)  # OpenLineage facets spell their fields in camelCase
    scheduleName: str | None = field(default=None)
    productId: str | None = field(default=None)
    surfaceId: str | None = field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_URL + "#/$defs/RuntypeScheduleJobFacet"


@define
class RuntypeRunFacet(RunFacet):
    """One Runtype run: its ids, dashboard link, final status and record counts (never records)."""

    scheduleId: str | None = field(default=None)  # OpenLineage facets spell their fields in camelCase
    runId: str | None = field(default=None)
    batchExecutionId: str | None = field(default=None)
    runUrl: str | None = field(default=None)
    status: str | None = field(default=None)
    outcome: str | None = field(default=None)
    totalRecords: int | None = field(default=None)
    processedRecords: int | None = field(default=None)
    failedRecords: int | None = field(default=None)
    finishedAt: str | None = field(default=None)
    totalCostUsd: float | None = field(default=None)
    billedCostUsd: float | None = field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_URL + "#/$defs/RuntypeRunFacet"


@define
class RuntypeBatchJobFacet(JobFacet):
    """The Runtype flow or agent a batch task submits to (the same on every run of the task)."""

    flowId: str | None = field(default=None)  # OpenLineage facets spell their fields in camelCase
    agentId: str | None = field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_URL + "#/$defs/RuntypeBatchJobFacet"


@define
class RuntypeBatchRunFacet(RunFacet):
    """One run of a batch task: its batches, dashboard link, final status, record counts and cost (never records)."""

    flowId: str | None = field(default=None)  # OpenLineage facets spell their fields in camelCase
    agentId: str | None = field(default=None)
    batchExecutionId: str | None = field(default=None)
    batchExecutionIds: list[str] | None = field(default=None)
    runUrl: str | None = field(default=None)
    status: str | None = field(default=None)
    outcome: str | None = field(default=None)
    totalRecords: int | None = field(default=None)
    processedRecords: int | None = field(default=None)
    failedRecords: int | None = field(default=None)
    finishedAt: str | None = field(default=None)
    totalCostUsd: float | None = field(default=None)
    billedCostUsd: float | None = field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_URL + "#/$defs/RuntypeBatchRunFacet"


def _error_facets(error: str | None) -> dict[str, Any]:
    if error is None:
        return {}
    return {ERROR_FACET_KEY: ErrorMessageRunFacet(message=printable(error), programmingLanguage="python")}


def batch_lineage(
    *,
    batch_target: tuple[str, str] | None,
    run: RunReference | None = None,
    progress: RunProgress | None = None,
    cost: RunCost | None = None,
    error: str | None = None,
) -> OperatorLineage:
    """A batch task's lineage: its flow or agent (``("flow", id)`` / ``("agent", id)``; None for an inline flow
    without an id), and, once a batch was submitted, the batches and the flow (agent) as input dataset."""
    resource, target_id = batch_target or (None, None)
    flow_id = target_id if resource == "flow" else None
    agent_id = target_id if resource == "agent" else None
    run_facets: dict[str, Any] = {}
    if run is not None:
        run_facets[BATCH_RUN_FACET_KEY] = RuntypeBatchRunFacet(
            flowId=flow_id,
            agentId=agent_id,
            batchExecutionId=run.batch_execution_id,
            batchExecutionIds=list(run.batch_ids) or None,
            runUrl=run.run_url,
            status=progress.status if progress else None,
            outcome=progress.outcome.value if progress else None,
            totalRecords=progress.total_records if progress else None,
            processedRecords=progress.processed_records if progress else None,
            failedRecords=progress.failed_records if progress else None,
            finishedAt=progress.completed_at if progress else None,
            totalCostUsd=cost.total_cost_usd if cost else None,
            billedCostUsd=cost.billed_cost_usd if cost else None,
        )
    run_facets.update(_error_facets(error))
    inputs = (
        [Dataset(namespace=openlineage_namespace(resource), name=target_id)]
        if run is not None and resource and target_id
        else []
    )
    job = RuntypeBatchJobFacet(flowId=flow_id, agentId=agent_id)
    return OperatorLineage(inputs=inputs, run_facets=run_facets, job_facets={BATCH_JOB_FACET_KEY: job})


def run_lineage(
    *,
    schedule_id: str | None,
    schedule_name: str | None = None,
    product_id: str | None = None,
    surface_id: str | None = None,
    run: RunReference | None = None,
    progress: RunProgress | None = None,
    error: str | None = None,
    cost: RunCost | None = None,
    **batch: Any,
) -> OperatorLineage:
    """The task's lineage: what is known of the schedule and its run (nothing of a run that never started), with its
    ``cost`` when the run has a batch. With ``batch_target``: a batch task's lineage (:func:`batch_lineage`; one lazy
    door for both)."""
    if "batch_target" in batch:
        return batch_lineage(run=run, progress=progress, error=error, cost=cost, **batch)
    schedule_id = (run.schedule_id if run is not None else None) or schedule_id
    job = RuntypeScheduleJobFacet(
        scheduleId=schedule_id, scheduleName=schedule_name, productId=product_id, surfaceId=surface_id
    )
    run_facets: dict[str, Any] = {}
    if run is not None:
        run_facets[RUN_FACET_KEY] = RuntypeRunFacet(
            scheduleId=schedule_id,
            runId=(progress.run_id if progress else None) or run.run_id,
            batchExecutionId=(progress.batch_execution_id if progress else None) or run.batch_execution_id,
            runUrl=run.run_url,
            status=progress.status if progress else None,
            outcome=progress.outcome.value if progress else None,
            totalRecords=progress.total_records if progress else None,
            processedRecords=progress.processed_records if progress else None,
            failedRecords=progress.failed_records if progress else None,
            finishedAt=progress.completed_at if progress else None,
            totalCostUsd=cost.total_cost_usd if cost else None,
            billedCostUsd=cost.billed_cost_usd if cost else None,
        )
    run_facets.update(_error_facets(error))
    outputs = [Dataset(namespace=OPENLINEAGE_NAMESPACE, name=schedule_id)] if run is not None and schedule_id else []
    return OperatorLineage(outputs=outputs, run_facets=run_facets, job_facets={JOB_FACET_KEY: job})
