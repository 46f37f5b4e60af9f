"""runtype_provider.client.failures: classifying a failed attempt (never sent, requests' error, TLS)."""

from __future__ import annotations

import ssl

import httpx
import pytest
import requests
import urllib3.exceptions as urllib3_exceptions
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from runtype_provider.client import failures
from runtype_provider.client.http11 import ConnectFailedError, StaleConnectionError


def httpx_tls_failure(error: ssl.SSLError) -> httpx.ConnectError:
    """The chain httpx raises for a failed handshake: ConnectError from httpcore's, from the ssl error."""
    import httpcore

    try:
        try:
            raise error
        except ssl.SSLError as err:
            raise httpcore.ConnectError(str(err)) from err
    except httpcore.ConnectError as err:
        try:
            raise httpx.ConnectError(str(err)) from err
        except httpx.ConnectError as mapped:
            return mapped


@pytest.mark.parametrize(
    ("error", "tls"),
    [
        (ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), True),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), True),
        (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), False),
    ],
    ids=["certificate", "not-tls", "eof"],
)
def test_httpx_handshake_failures_are_classified(error, tls):
    found = failures.tls_failure(httpx_tls_failure(error))
    assert (found is not None) is tls


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (MaxRetryError(None, "/x", NewConnectionError(None, "refused")), requests.exceptions.ConnectionError),
        (MaxRetryError(None, "/x", urllib3_exceptions.ConnectTimeoutError("slow")), requests.exceptions.ConnectTimeout),
        (MaxRetryError(None, "/x", urllib3_exceptions.SSLError("bad cert")), requests.exceptions.SSLError),
        (urllib3_exceptions.ReadTimeoutError(None, "/x", "slow"), requests.exceptions.ReadTimeout),
        (ProtocolError("dropped"), requests.exceptions.ConnectionError),
        (OSError("reset"), requests.exceptions.ConnectionError),
    ],
)
def test_urllib3_errors_become_the_exceptions_requests_raises_for_them(error, expected):
    mapped = failures.as_requests_error(error)

    assert type(mapped) is expected and mapped.args[0] is error


@pytest.mark.parametrize(
    ("error", "never_sent"),
    [
        (ConnectFailedError("ConnectionRefusedError: refused"), True),
        (StaleConnectionError("closed before the answer"), False),
        (ConnectionResetError("reset"), False),
    ],
)
def test_only_a_failed_connect_of_the_lean_client_is_known_never_sent(error, never_sent):
    assert failures.lean_never_sent(error) is never_sent


def test_a_lean_handshake_failure_is_found_behind_its_connect_error():
    try:
        try:
            raise ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
        except ssl.SSLError as err:
            raise ConnectFailedError(f"{type(err).__name__}: {err}") from err
    except ConnectFailedError as wrapped:
        assert "CERTIFICATE_VERIFY_FAILED" in (failures.tls_failure(wrapped) or "")
