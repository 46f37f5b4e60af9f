"""Ids as the API takes them: checked by argument name and quoted into path segments or query lists.

Also the checks of the API's own bounds on arguments (page size, enumerated choices), each raising
:class:`~runtype_provider.exceptions.RuntypeConfigurationError` naming the argument and what to write.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from runtype_provider.api.spec import MAX_PAGE_SIZE
from runtype_provider.exceptions import RuntypeConfigurationError

DOT_SEGMENTS = (".", "..")
"""Ids refused as path segments: HTTP clients (requests/urllib3 and httpx alike) resolve them, so
``cancel_batch("..")`` would post to ``/v1/batch/`` and a surface delete with ``..`` ids would reach a
global schedule. Quoting does not help (``.`` is unreserved; servers may decode ``%2E`` back)."""


def id_text(value: Any, argument: str) -> str:
    """An id argument as text (an int is accepted), stripped; empty or non-string ids are refused by name."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise RuntypeConfigurationError(f"{argument!r} must be a non-empty string, got {value!r}")
    return value.strip()


def segment(value: Any, argument: str) -> str:
    """A path segment from an id argument, URL-quoted (``/``, ``?``, ``#``, ``%`` and spaces included).

    This is the one place ids become path segments: empty, non-string and dot-segment ids (``.``, ``..``)
    are refused here, by argument name, before any request is sent.
    """
    text = id_text(value, argument)
    if text in DOT_SEGMENTS:
        raise RuntypeConfigurationError(
            f"{argument!r} must not be {text!r}: a dot segment would change the request path, not name an id"
        )
    return quote(text, safe="")


def join_ids(values: Any, argument: str, *, max_count: int) -> str:
    """A comma-separated id list for a query parameter (``?ids=a,b``), not URL-quoted (the HTTP client
    encodes query values once). Ids containing the separator are refused, as the server would split them."""
    if not isinstance(values, (list, tuple, set, frozenset)) or not 1 <= len(values) <= max_count:
        raise RuntypeConfigurationError(f"{argument!r} must be a list of 1 to {max_count} schedule ids")
    ids = [id_text(value, argument) for value in values]
    for text in ids:
        if "," in text:
            raise RuntypeConfigurationError(f"{argument!r}: {text!r} contains a comma, which separates the ids")
    return ",".join(ids)


def check_page_size(page_size: Any) -> int:
    """The one page-size check: an integer from 1 to :data:`~runtype_provider.api.spec.MAX_PAGE_SIZE`."""
    if not isinstance(page_size, int) or isinstance(page_size, bool) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise RuntypeConfigurationError(f"'page_size' must be an integer from 1 to {MAX_PAGE_SIZE}, got {page_size!r}")
    return page_size


def check_choice(value: str | None, argument: str, choices: tuple[str, ...]) -> str | None:
    if value is not None and value not in choices:
        raise RuntypeConfigurationError(f"{argument!r} must be one of {', '.join(choices)}; got {value!r}")
    return value
