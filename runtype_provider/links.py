"""Links to the Runtype dashboard: the run URL, built once, and the "Runtype run" extra link."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from runtype_provider.version_compat import BaseOperator, BaseOperatorLink

if TYPE_CHECKING:
    from runtype_provider.models.runs import RunReference

RUN_URL_KEY = "run_url"
"""XCom key of the run's dashboard URL, pushed before any waiting."""


def build_run_url(dashboard_url: str, run: RunReference) -> str:
    """Dashboard link: the surface schedule for product-surface runs, else the schedule's run."""
    base = dashboard_url.rstrip("/")

    def q(value: str) -> str:
        # "." and ".." would move the link to another page: spell their dots encoded too.
        return quote(value, safe="") if value.strip(".") else "%2E" * len(value)

    if run.product_id and run.surface_id and run.schedule_id:
        return f"{base}/products/{q(run.product_id)}/surfaces/{q(run.surface_id)}/schedules/{q(run.schedule_id)}"
    if run.schedule_id:
        url = f"{base}/schedules/{q(run.schedule_id)}"
        return f"{url}/runs/{q(run.run_id)}" if run.run_id else url
    if run.batch_execution_id:
        return f"{base}/batches/{q(run.batch_execution_id)}"
    return base


class RuntypeRunLink(BaseOperatorLink):
    """ "Runtype run": opens the run in the Runtype dashboard (base URL from the connection)."""

    name = "Runtype run"

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        url = getattr(operator, "run_url", None)
        if url:
            return str(url)
        try:
            from airflow.sdk.bases.xcom import BaseXCom

            return str(BaseXCom.get_value(ti_key=ti_key, key=RUN_URL_KEY) or "")
        except Exception:
            return ""
