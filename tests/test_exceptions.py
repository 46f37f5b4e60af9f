"""Errors keep what they carry through pickling (Airflow and executors may serialize them)."""

from __future__ import annotations

import copy
import pickle

import pytest

from runtype_provider.exceptions import (
    RuntypeConnectionError,
    RuntypeEntitlementError,
    RuntypeNotFoundError,
    RuntypeRunError,
    api_error_class,
)

ERRORS = [
    RuntypeNotFoundError(method="GET", path="/v1/schedules/x", status_code=404, error="Schedule not found"),
    RuntypeEntitlementError(
        method="POST",
        path="/v1/schedules",
        status_code=402,
        error="Limit",
        body={"code": "ACTIVE_SCHEDULE_LIMIT", "upgradeUrl": "/billing"},
    ),
    RuntypeConnectionError(method="POST", path="/v1/schedules/x/run-now", reason="ReadTimeout", sent=True),
    RuntypeRunError("run r1 failed", run={"run_id": "r1"}),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_errors_survive_pickle_and_deepcopy(error: Exception) -> None:
    for clone in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error)):
        assert type(clone) is type(error)
        assert str(clone) == str(error)
        assert clone.__dict__ == error.__dict__


def test_entitlement_error_exposes_code_and_upgrade_url_after_pickle() -> None:
    clone = pickle.loads(pickle.dumps(ERRORS[1]))
    assert (clone.code, clone.upgrade_url) == ("ACTIVE_SCHEDULE_LIMIT", "/billing")


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (400, "RuntypeApiError"),
        (401, "RuntypeAuthError"),
        (403, "RuntypeAuthError"),
        (402, "RuntypeEntitlementError"),
        (404, "RuntypeNotFoundError"),
        (429, "RuntypeRateLimitError"),
        (500, "RuntypeServerError"),
        (503, "RuntypeServerError"),
    ],
)
def test_api_error_class_per_status(status: int, name: str) -> None:
    assert api_error_class(status).__name__ == name
