"""A request bound to the API table: ids checked and quoted, query checked, body built, answer parsed.

:func:`build_request` turns an operation of :data:`~runtype_provider.api.spec.ENDPOINTS` and the caller's
arguments into an :class:`ApiRequest`, which either transport sends; :func:`parse_answer` reads a decoded 2xx
body as the endpoint's response model. :func:`request_headers` are the headers every request carries.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from pydantic import ValidationError

from runtype_provider import __version__
from runtype_provider.api import responses
from runtype_provider.api.bodies import build_body
from runtype_provider.api.ids import segment
from runtype_provider.api.spec import ENDPOINTS, Endpoint
from runtype_provider.client.limits import ACCEPT_ENCODING
from runtype_provider.exceptions import RuntypeResponseError

M = TypeVar("M")


@dataclass(frozen=True)
class ApiRequest(Generic[M]):
    """One request to the API and how to read its answer; sent by either transport."""

    method: str
    path: str
    parse: Callable[[Any], M]
    params: dict[str, Any] | None = None
    body: dict[str, Any] | None = None
    idempotent: bool = True

    @property
    def query(self) -> dict[str, Any]:
        """The query parameters that are set (None means "not sent")."""
        return {k: v for k, v in (self.params or {}).items() if v is not None}

    @property
    def target(self) -> str:
        """The path with the query encoded as httpx encodes ``params`` (``true``/``false``, lists repeated)."""
        query = self.query
        if not query:
            return self.path
        pairs = [(k, _query_text(x)) for k, v in query.items() for x in (v if isinstance(v, (list, tuple)) else [v])]
        return f"{self.path}?{urlencode(pairs)}"


def _query_text(value: Any) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    return "" if value is None else str(value)


def parse_answer(endpoint: Endpoint, data: Any, path: str | None = None) -> Any:
    """The decoded 2xx body as ``endpoint``'s model (or the model's ``data`` list).

    A body of another shape (named by its first wrong field) or nested too deeply to read raises
    :class:`~runtype_provider.exceptions.RuntypeResponseError` naming the request (``path``, default the
    template); nothing else escapes.
    """
    where = path or endpoint.path
    try:
        parsed = getattr(responses, endpoint.response).model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        message = f"returned an unexpected body: {'.'.join(str(p) for p in first['loc']) or 'body'}: {first['msg']}"
    except RecursionError:
        message = "returned a body nested too deeply to read"
    else:
        return parsed.data if endpoint.unwrap else parsed
    raise RuntypeResponseError(f"Runtype API {endpoint.method} {where} {message}", method=endpoint.method, path=where)


def build_request(
    operation: str, *, query: dict[str, Any] | None = None, body: Any = None, **ids: Any
) -> ApiRequest[Any]:
    """The request of ``operation`` for these ids (each checked and quoted by name), query and body arguments."""
    endpoint = ENDPOINTS[operation]
    unknown = set(query or {}) - set(endpoint.query)
    if unknown or set(ids) != set(endpoint.path_params):
        raise TypeError(f"{operation}: wrong arguments {sorted(unknown) or sorted(ids)}")
    path = endpoint.path.format(**{name: segment(ids[name], name) for name in endpoint.path_params})
    payload = None if endpoint.body is None else build_body(endpoint.body, body or {})
    parse = functools.partial(parse_answer, endpoint, path=path)
    return ApiRequest(endpoint.method, path, parse, params=query, body=payload, idempotent=endpoint.idempotent)


def request_headers(api_key: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {api_key}",
        "Accept": "application/json",
        "Accept-Encoding": ACCEPT_ENCODING,
        "User-Agent": f"airflow-provider-runtype/{__version__}",
        "X-Runtype-Client": "airflow",
    }
