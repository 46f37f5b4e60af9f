"""What every Runtype operator shares: the connection id, the hook parameters and the hook (built on first use).

Also the XCom keys the operators push, written once."""

from __future__ import annotations

from typing import Any

from runtype_provider import DEFAULT_CONN_ID
from runtype_provider.tasks.base import HookMixin
from runtype_provider.version_compat import BaseOperator

RUN_REFERENCE_KEY = "run_reference"
"""XCom key of the run reference, pushed as soon as the run started, before any waiting."""
SUMMARY_KEY = "summary"
"""XCom key of the results operator's summary (total, failed, succeeded, by status)."""


class RuntypeBaseOperator(HookMixin, BaseOperator):
    """Connection handling shared by every Runtype operator."""

    def __init__(
        self,
        *,
        runtype_conn_id: str = DEFAULT_CONN_ID,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.runtype_conn_id = runtype_conn_id
        self.hook_params = dict(hook_params or {})
