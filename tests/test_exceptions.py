"""Errors keep what they carry through pickling (Airflow and executors may serialize them)."""

from __future__ import annotations

import copy
import pickle

import pytest

from runtype_provider.exceptions import (
    TRANSIENT_ERRORS,
    RuntypeConnectionError,
    RuntypeDailyLimitError,
    RuntypeDeadlineError,
    RuntypeEntitlementError,
    RuntypeException,
    RuntypeNotFoundError,
    RuntypeRateLimitError,
    RuntypeRedirectError,
    RuntypeResponseError,
    RuntypeResponseTooLargeError,
    RuntypeRunError,
    RuntypeTimeoutError,
    RuntypeTlsError,
    api_error_class,
    printable,
    quoted,
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
    RuntypeTimeoutError(method="GET", path="/v1/batch/status/b", timeout=2.0, by_deadline=True),
    RuntypeTlsError(method="GET", path="/v1/schedules", host="api.runtype.com", reason="verify failed", hint="h"),
    RuntypeDeadlineError(method="GET", path="/v1/schedules", last_error="HTTP 503"),
    RuntypeRedirectError(method="POST", path="/v1/schedules/x/run-now", status_code=307, location_host="x.example"),
    RuntypeResponseTooLargeError(method="GET", path="/v1/schedules", limit_bytes=2**20),
    RuntypeDailyLimitError(
        method="POST",
        path="/v1/batch/flow",
        status_code=429,
        error="Daily execution limit reached",
        body={"code": "DAILY_LIMIT_EXCEEDED", "message": "Resets at midnight UTC.", "upgradeUrl": "/billing"},
        retry_after=3600.0,
    ),
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


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (ERRORS[4], "GET /v1/batch/status/b failed: no complete answer within 2 s (the time left before the caller's"),
        (ERRORS[5], "GET /v1/schedules failed: TLS problem with api.runtype.com: verify failed (h)"),
        (ERRORS[6], "GET /v1/schedules: the caller's deadline was reached; giving up after: HTTP 503"),
        (ERRORS[7], "returned HTTP 307: a redirect to host 'x.example', which is not followed"),
        (ERRORS[8], "returned a body larger than the 1 MiB cap (connection extra 'max_response_mb')"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else "",
)
def test_new_errors_name_what_is_wrong(error: Exception, text: str) -> None:
    assert text in str(error)
    assert isinstance(error, RuntypeException)


def test_which_errors_a_wait_tolerates() -> None:
    """A timeout may pass and a too-large body is a response error; TLS, deadline and redirects end the wait."""
    assert isinstance(ERRORS[4], TRANSIENT_ERRORS) and isinstance(ERRORS[4], RuntypeConnectionError)
    assert isinstance(ERRORS[8], RuntypeResponseError)
    assert not any(isinstance(e, TRANSIENT_ERRORS) for e in (ERRORS[5], ERRORS[6], ERRORS[7]))


@pytest.mark.parametrize(
    ("text", "shown"),
    [("plain id", "plain id"), ("a\nb", "a\\nb"), ("\x1b[31m", "\\x1b[31m"), ("a\u202eb", "a\\u202eb"),
     ("x" * 30, "x" * 10 + "… (20 more characters)")],
)  # fmt: skip
def test_printable_escapes_what_could_forge_a_log_line_and_bounds_the_length(text, shown):
    assert printable(text, limit=10 if len(text) == 30 else 2000) == shown


def test_quoted_quotes_and_escapes_the_quote():
    assert quoted("it's\n") == "'it\\'s\\n'"


def test_an_entitlement_error_says_it_is_a_plan_or_billing_limit_and_what_to_do() -> None:
    text = str(ERRORS[1])
    assert text.startswith("Runtype API POST /v1/schedules returned HTTP 402: Limit. This is a plan limit or billing")
    assert "(code 'ACTIVE_SCHEDULE_LIMIT')" in text and "To go on: raise the plan or fix billing" in text
    assert text.endswith("retrying will not help until then (billing: '/billing')")


def test_an_entitlement_error_without_a_body_still_says_what_to_do() -> None:
    error = RuntypeEntitlementError(method="POST", path="/v1/batch/flow", status_code=402)
    assert str(error) == (
        "Runtype API POST /v1/batch/flow returned HTTP 402. This is a plan limit or billing problem (quota used up, "
        "or no valid payment method). To go on: raise the plan or fix billing in the Runtype dashboard, or free what "
        "counts against the limit; retrying will not help until then"
    )
    assert (error.code, error.upgrade_url) == (None, None)


def test_a_daily_limit_error_is_a_rate_limit_and_an_entitlement_error_naming_the_wait() -> None:
    error = ERRORS[9]
    assert isinstance(error, RuntypeRateLimitError) and isinstance(error, RuntypeEntitlementError)
    assert isinstance(error, TRANSIENT_ERRORS)
    assert str(error) == (
        "Runtype API POST /v1/batch/flow returned HTTP 429: Daily execution limit reached. This is the plan's "
        "execution limit for the day (or the free tier's hourly slow-mode limit) being reached (code "
        "'DAILY_LIMIT_EXCEEDED'): Resets at midnight UTC. To go on: wait until the limit resets (the server says in "
        "3600 s), submit fewer records, or raise the plan (billing: '/billing')"
    )


def test_server_text_in_a_limit_message_is_escaped_and_bounded() -> None:
    body = {"code": "X\nforged line", "message": "m" * 5000, "upgradeUrl": 7}
    error = RuntypeEntitlementError(method="POST", path="/p", status_code=402, body=body)
    assert "\n" not in str(error) and "more characters" in str(error)
    assert error.upgrade_url is None
