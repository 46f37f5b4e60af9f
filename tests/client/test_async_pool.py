"""runtype_provider.client.async_pool: how an async client is built, and ClientLanes, the capped set of one-socket
clients lent per request."""

from __future__ import annotations

import asyncio
import ssl

import httpx
import pytest
import respx

from runtype_provider.client.async_pool import DEFAULT_MAX_CONNECTIONS, ClientLanes, new_async_client
from runtype_provider.client.retry import RetryPolicy
from runtype_provider.client.settings import ConnectionSettings
from runtype_provider.exceptions import RuntypeConfigurationError

BASE = "https://api.runtype.com"


def settings(api_key: str = "rt_test_pool_0123456789") -> ConnectionSettings:
    return ConnectionSettings(base_url=BASE, api_key=api_key, timeout=5.0, retry=RetryPolicy(), dashboard_url=BASE)


def test_a_client_sends_the_key_follows_no_redirect_keeps_no_cookie_and_shares_one_tls_context():
    async def main() -> tuple[list[httpx.Request], list[httpx.AsyncClient]]:
        clients = [new_async_client(settings()), new_async_client(settings(), max_connections=1)]
        with respx.mock(base_url=BASE) as mock:
            route = mock.get("/v1/schedules/s1").respond(307, headers={"Location": "/elsewhere", "Set-Cookie": "a=b"})
            for client in clients:
                client.cookies = httpx.Cookies({"c": "d"})  # not kept either
                assert (await client.get(f"{BASE}/v1/schedules/s1")).status_code == 307  # not followed
        for client in clients:
            await client.aclose()
        return [call.request for call in route.calls], clients

    requests, clients = asyncio.run(main())

    assert [r.headers["Authorization"] for r in requests] == ["Bearer rt_test_pool_0123456789"] * 2
    assert all("Cookie" not in r.headers for r in requests)
    assert all(not client.cookies for client in clients)
    contexts = [client._transport._pool._ssl_context for client in clients]
    assert contexts[0] is contexts[1] and contexts[0].verify_mode is ssl.CERT_REQUIRED
    assert clients[1]._transport._pool._max_connections == 1
    assert clients[0]._transport._pool._max_connections == DEFAULT_MAX_CONNECTIONS == 100  # a cap, as documented


def test_client_lanes_cap_the_clients_and_hand_one_back_to_the_next_borrower(runtype_conn):
    from runtype_provider.hooks.runtype import RuntypeHook

    async def main() -> tuple[int, bool, int]:
        lanes = ClientLanes("c", RuntypeHook().settings, size=2)
        a, b = await lanes.acquire(), await lanes.acquire()
        waiting = asyncio.ensure_future(lanes.acquire())
        cancelled = asyncio.ensure_future(lanes.acquire())
        await asyncio.sleep(0)
        cancelled.cancel()
        lanes.release(a)
        handed = await waiting
        lanes.release(b)  # the cancelled borrower gets nothing: b goes back to the idle ones
        again = await lanes.acquire()
        count = len(lanes.clients)
        await lanes.aclose()
        return count, handed is a and again is b, sum(c.is_closed for c in (a, b))

    assert asyncio.run(main()) == (2, True, 2)


def test_a_client_that_cannot_be_built_is_a_configuration_error_naming_the_connection_not_the_key():
    async def main() -> None:
        await ClientLanes("runtype_x", settings("rt_test_ключ_0123456789"), size=1).acquire()

    with pytest.raises(RuntypeConfigurationError, match=r"^Runtype connection 'runtype_x': cannot build") as caught:
        asyncio.run(main())
    assert "rt_test" not in str(caught.value)
