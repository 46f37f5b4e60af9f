"""The "Runtype run" extra link to the Runtype dashboard (the URL is built once, with the run reference)."""

from __future__ import annotations

from typing import Any

from runtype_provider.version_compat import BaseOperator, BaseOperatorLink

RUN_URL_KEY = "run_url"
"""XCom key of the run's dashboard URL, pushed before any waiting."""


class RuntypeRunLink(BaseOperatorLink):
    """ "Runtype run": opens the run in the Runtype dashboard (base URL from the connection)."""

    name = "Runtype run"

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        if hasattr(operator, "run_url"):  # the task itself (on its worker): it knows whether a run started
            return str(operator.run_url or "")
        try:  # a task object without the attribute (e.g. deserialized): the URL the run pushed, if any
            from airflow.sdk.bases.xcom import BaseXCom

            return str(BaseXCom.get_value(ti_key=ti_key, key=RUN_URL_KEY) or "")
        except Exception:
            return ""
