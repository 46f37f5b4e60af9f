"""OpenLineage for the run operator: the Runtype schedule as a job facet, the run as a run facet, the
schedule's asset as the output dataset, and an error facet when the task failed.

Imported only from the operator's ``get_openlineage_facets_on_complete`` / ``_on_failure``, which the
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

from runtype_provider.assets import OPENLINEAGE_NAMESPACE
from runtype_provider.exceptions import printable
from runtype_provider.runs.reference import RunProgress, RunReference

SCHEMA_URL = (
    "https://raw.githubusercontent.com/runtype/airflow-provider-runtype/main/runtype_provider/lineage_facets.json"
)
JOB_FACET_KEY = "runtype_schedule"
RUN_FACET_KEY = "runtype_run"
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

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_URL + "#/$defs/RuntypeRunFacet"


def run_lineage(
    *,
    schedule_id: str | None,
    schedule_name: str | None = None,
    product_id: str | None = None,
    surface_id: str | None = None,
    run: RunReference | None = None,
    progress: RunProgress | None = None,
    error: str | None = None,
) -> OperatorLineage:
    """The task's lineage: what is known of the schedule and its run (nothing of a run that never started)."""
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
        )
    if error is not None:
        run_facets[ERROR_FACET_KEY] = ErrorMessageRunFacet(message=printable(error), programmingLanguage="python")
    outputs = [Dataset(namespace=OPENLINEAGE_NAMESPACE, name=schedule_id)] if run is not None and schedule_id else []
    return OperatorLineage(outputs=outputs, run_facets=run_facets, job_facets={JOB_FACET_KEY: job})
