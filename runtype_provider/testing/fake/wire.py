"""What the local Runtype reads from and writes to the wire: JSON bodies, query parameters, cursors, error bodies.

Also the two output transformations the API documents (``view=compact`` previews, timestamps in UTC with
milliseconds) and the masking of secrets in the request log. Standard library only, so every other module of the
fake can use it.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, quote_plus

from runtype_provider.api.spec import MAX_PAGE_SIZE

UTC = timezone.utc  # datetime.UTC needs Python 3.11
DEFAULT_LIMIT = 50
MAX_LIMIT = MAX_PAGE_SIZE
COMPACT_LIMIT = 100
MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays/objects a request body may have (deeper: 400 ``JSON_TOO_DEEP``)."""


def iso(moment: datetime) -> str:
    """Format an aware datetime the way the API does: UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: Any) -> datetime:
    """An ISO-8601 timestamp (``Z`` allowed; naive means UTC); ``ValueError`` otherwise."""
    if not isinstance(value, str):
        raise ValueError(value)
    # Python 3.10's fromisoformat does not accept a trailing "Z".
    moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# ----------------------------------------------------------------------------------------------- error bodies


class ApiError(Exception):
    """An HTTP error with the API's ``Error`` body: ``{"error": ..., "details": [...]}``."""

    def __init__(
        self,
        status: int,
        error: str,
        details: list[dict[str, Any]] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {error}")
        self.status = status
        self.error = error
        self.details = details or []
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        return {"error": self.error, "details": self.details, **self.extra}


def detail(message: str, path: str | None = None, code: str | None = None, **more: str) -> dict[str, Any]:
    """One ``details`` item (``message``, ``path``, ``code`` and optional ``suggestion``)."""
    return {"message": message, "path": path, "code": code, **more}


def validation_error(details: list[dict[str, Any]]) -> ApiError:
    """400 ``Validation failed`` with ``details``."""
    return ApiError(400, "Validation failed", details)


def not_found(kind: str, ident: str, path: str) -> ApiError:
    """404 ``<kind> not found``."""
    return ApiError(404, f"{kind} not found", [detail(f"No {kind.lower()} with id {ident!r}", path, "NOT_FOUND")])


# ----------------------------------------------------------------------------------------------- JSON bodies


class JsonTooDeep(ValueError):
    """A JSON document nested deeper than ``MAX_JSON_DEPTH``."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def _too_deep(value: Any, limit: int) -> bool:
    """True if ``value`` nests more than ``limit`` arrays/objects (iterative: no recursion limit)."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def loads_json(raw: bytes | str) -> Any:
    """Strict ``json.loads``: ``ValueError`` for invalid JSON, NaN/Infinity, overflowing numbers, and
    (as :class:`JsonTooDeep`) nesting deeper than ``MAX_JSON_DEPTH``; never ``RecursionError``."""
    try:
        value = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError as exc:
        raise JsonTooDeep(f"nested deeper than {MAX_JSON_DEPTH} levels") from exc
    if _too_deep(value, MAX_JSON_DEPTH):
        raise JsonTooDeep(f"nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def parse_body(raw: bytes) -> Any:
    """A request body as JSON (``{}`` when empty); 400 ``INVALID_JSON`` / ``JSON_TOO_DEEP`` otherwise."""
    if not raw.strip():
        return {}
    try:
        return loads_json(raw)
    except JsonTooDeep as exc:
        raise ApiError(400, "Invalid JSON body", [detail(f"body is {exc}", "", "JSON_TOO_DEEP")]) from exc
    except ValueError as exc:
        raise ApiError(
            400, "Invalid JSON body", [detail(f"body is not valid JSON: {exc}", "", "INVALID_JSON")]
        ) from exc


# ----------------------------------------------------------------------------------------------- query parameters


def int_param(query: Mapping[str, str], name: str, default: int, low: int, high: int | None) -> int:
    """Integer query parameter ``name`` in ``[low, high]`` (``default`` when absent or empty); 400 otherwise."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise validation_error([detail(f"{name} must be an integer {bound}", name, "INVALID_RANGE")])
    return value


def enum_param(query: Mapping[str, str], name: str, allowed: Iterable[str]) -> str | None:
    """Query parameter ``name`` if it is one of ``allowed`` (None when absent); 400 ``INVALID_ENUM`` otherwise."""
    value = query.get(name)
    allowed = tuple(allowed)
    if value is not None and value not in allowed:
        raise validation_error(
            [detail(f"{name} must be one of {', '.join(allowed)}", name, "INVALID_ENUM", suggestion="|".join(allowed))]
        )
    return value


def offset_paging(query: Mapping[str, str]) -> tuple[int, int]:
    """``(limit, offset)`` of an offset-paged listing (results)."""
    return (
        int_param(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        int_param(query, "offset", 0, 0, None),
    )


# ----------------------------------------------------------------------------------------------- cursors


class Sequenced(Protocol):
    """Anything listed newest first by its creation number ``seq`` (schedules, runs)."""

    @property
    def seq(self) -> int: ...


Item = TypeVar("Item", bound=Sequenced)


def encode_cursor(seq: int, direction: str) -> str:
    """An opaque cursor: ``cur_`` + base64 of ``<direction>:<seq>``."""
    raw = f"{direction}:{seq}".encode()
    return "cur_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """``(seq, direction)`` of a cursor; 400 ``INVALID_CURSOR`` for anything :func:`encode_cursor` never made."""
    try:
        payload = cursor.removeprefix("cur_")
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
        direction, _, seq = raw.partition(":")
        if direction not in ("next", "prev") or not cursor.startswith("cur_"):
            raise ValueError(cursor)
        return int(seq), direction
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise validation_error([detail("Invalid pagination cursor", "cursor", "INVALID_CURSOR")]) from exc


def cursor_page(
    items: Sequence[Item], query: Mapping[str, str], *, direction_param: bool
) -> tuple[list[Item], dict[str, Any]]:
    """Style-A pagination over ``items`` (newest first) with keyset cursors: the page and its ``pagination``."""
    limit = int_param(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    direction = enum_param(query, "direction", ("next", "prev")) if direction_param else None
    start, stop = 0, limit
    if query.get("cursor"):
        key, cursor_direction = decode_cursor(query["cursor"])
        direction = direction or cursor_direction
        newer = sum(1 for item in items if item.seq > key)
        if direction == "next":
            start = sum(1 for item in items if item.seq >= key)
            stop = start + limit
        else:
            start, stop = max(0, newer - limit), newer
    page = list(items[start:stop])
    has_more = start + len(page) < len(items)
    has_prev = start > 0
    pagination = {
        "currentOffset": start,
        "currentPage": start // limit + 1,
        "hasMore": has_more,
        "hasPrev": has_prev,
        "limit": limit,
        "nextCursor": encode_cursor(page[-1].seq, "next") if has_more and page else None,
        "prevCursor": encode_cursor(page[0].seq, "prev") if has_prev and page else None,
        "totalCount": len(items),
        "totalPages": math.ceil(len(items) / limit),
    }
    return page, pagination


# ----------------------------------------------------------------------------------------------- views


def compact(value: Any) -> Any:
    """``view=compact``: every string longer than 100 chars becomes a 100-char preview plus ``…``."""
    if isinstance(value, str) and len(value) > COMPACT_LIMIT:
        return value[:COMPACT_LIMIT] + "…"
    if isinstance(value, dict):
        return {key: compact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [compact(item) for item in value]
    return value


def secret_forms(secret: str) -> set[str]:
    """``secret`` as it may appear in a logged query string or body: raw and URL-encoded."""
    return {secret, quote(secret), quote(secret, safe=""), quote_plus(secret)}


def mask(value: Any, secrets: list[str]) -> Any:
    """``value`` with every occurrence of each of ``secrets`` (longest first) in its strings redacted."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "[redacted]")
        return value
    if isinstance(value, dict):
        return {mask(key, secrets): mask(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [mask(item, secrets) for item in value]
    return value
