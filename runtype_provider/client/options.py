"""The one table of Runtype connection options (the connection's extras): names, form labels, defaults, bounds.

The connection reader (:mod:`runtype_provider.client.settings`), the form Airflow draws
(:mod:`runtype_provider.get_provider_info`) and the argument checks (``max_concurrent_pages``) all read this
table, so what the form allows and what the reader accepts cannot drift apart. Standard library only: provider
discovery and DAG parsing import it.

Bounds are chosen so that no working connection is refused: ``timeout`` accepts 0.001 s or more and
``max_response_mb`` 0.001 to 4096 MiB, in the reader and in the form alike. Every option the reader accepts is in
the form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["number", "integer", "url", "boolean"]
_JSON_TYPE = {"number": "number", "integer": "integer", "url": "string", "boolean": "boolean"}


class OptionError(ValueError):
    """A value an option refuses; the message names the option and what it accepts (callers add where)."""


def number_text(number: float) -> str:
    """``30.0`` as ``30``, ``0.001`` as ``0.001``: how bounds and defaults appear in messages and the form."""
    return str(int(number)) if float(number).is_integer() else repr(float(number))


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


@dataclass(frozen=True)
class Option:
    """One connection extra: how the form shows it and which values the reader accepts.

    ``minimum`` and ``maximum`` (inclusive; None for no bound) apply to number and integer options. ``default``
    is the value of an unset option (None: worked out from other fields, described by ``default_text``).
    """

    name: str
    label: str
    summary: str
    """What the option does, for the form; :attr:`description` adds the range and default."""
    kind: Kind
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    default_text: str | None = None

    @property
    def accepts(self) -> str:
        """What a value must be, for error messages: ``an integer from 1 to 32``."""
        if self.kind == "boolean":
            return "true or false"
        if self.kind == "url":
            return "an http:// or https:// URL"
        what = "an integer" if self.kind == "integer" else "a finite number"
        low, high = self.minimum, self.maximum
        if low is not None and high is not None:
            return f"{what} from {number_text(low)} to {number_text(high)}"
        if low is not None:
            return f"{what} >= {number_text(low)}"
        if high is not None:
            return f"{what} <= {number_text(high)}"
        return what

    @property
    def description(self) -> str:
        """The form's help text: the summary, then the accepted range and the default."""
        low, high = self.minimum, self.maximum
        if self.kind == "boolean":
            bounds = "true or false"
        elif low is not None and high is not None:
            bounds = f"{number_text(low)} to {number_text(high)}"
        elif low is not None:
            bounds = f"{number_text(low)} or more"
        elif high is not None:
            bounds = f"at most {number_text(high)}"
        else:
            bounds = ""
        default = self.default_text or self.default_str()
        tail = ", ".join(part for part in (bounds, default and f"default {default}") if part)
        return f"{self.summary} {tail[0].upper()}{tail[1:]}." if tail else self.summary

    def default_str(self) -> str | None:
        """The default as the legacy text form shows it (None when unset)."""
        if self.default is None:
            return None
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        if isinstance(self.default, (int, float)):
            return number_text(self.default)
        return str(self.default)

    def schema(self) -> dict[str, Any]:
        """The JSON schema of the form field (Airflow's ``conn-fields``); empty (null) means the default."""
        schema: dict[str, Any] = {"type": [_JSON_TYPE[self.kind], "null"]}
        if self.kind == "url":
            schema["format"] = "url"
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.default is not None:
            schema["default"] = self.default
        return schema

    def check(self, value: Any, *, strict: bool = False) -> Any:
        """``value`` as the option's type if accepted, else :class:`OptionError` naming the option and the range.

        Not strict (connection extras and hook parameters): numbers may also be written as text (``"12.5"``,
        the URI form and old forms store text), booleans as ``"true"``/``"false"`` in any case. Strict (a Python
        argument such as an operator's): the value must already have the option's type. A URL is only checked
        to be text here; the reader checks its parts.
        """
        if self.kind == "boolean":
            if isinstance(value, bool):
                return value
            if not strict and isinstance(value, str) and value.strip().lower() in ("true", "false"):
                return value.strip().lower() == "true"
        elif self.kind == "url":
            if isinstance(value, str):
                return value.strip()
        else:
            number = self._number(value, strict)
            if number is not None and self._in_range(number):
                return int(number) if self.kind == "integer" else number
        raise OptionError(f"{self.name!r} must be {self.accepts}, got {_shown(value)}")

    def _number(self, value: Any, strict: bool) -> float | None:
        if isinstance(value, bool):
            return None
        if strict and not isinstance(value, int if self.kind == "integer" else (int, float)):
            return None
        if not isinstance(value, (int, float, str)):
            return None
        try:
            number = float(value.strip() if isinstance(value, str) else value)
        except (ValueError, OverflowError):
            return None
        if not math.isfinite(number) or (self.kind == "integer" and not number.is_integer()):
            return None
        return number

    def _in_range(self, number: float) -> bool:
        return (self.minimum is None or number >= self.minimum) and (self.maximum is None or number <= self.maximum)


OPTIONS: dict[str, Option] = {
    option.name: option
    for option in (
        Option(
            "timeout",
            "Request timeout (seconds)",
            "Most seconds one attempt of a Runtype API request may take: connecting and the whole answer.",
            "number",
            default=30.0,
            minimum=0.001,
        ),
        Option(
            "retry_limit",
            "Retry limit",
            "Retries after a connection error, timeout, 5xx or 429 (run-now is never retried into a second run).",
            "integer",
            default=3,
            minimum=0,
            maximum=20,
        ),
        Option(
            "retry_delay",
            "First retry delay (seconds)",
            "Backoff before the first retry; doubles each retry, with jitter.",
            "number",
            default=1.0,
            minimum=0,
        ),
        Option(
            "retry_max_delay",
            "Longest retry delay (seconds)",
            "Cap on the backoff between two retries as it doubles (a server's Retry-After is not capped by it).",
            "number",
            default=60.0,
            minimum=0,
        ),
        Option(
            "max_response_mb",
            "Maximum response size (MiB)",
            "Largest answer accepted from the API, counted after decompression; a larger one fails the request.",
            "number",
            default=64,
            minimum=0.001,
            maximum=4096,
        ),
        Option(
            "max_concurrent_pages",
            "Concurrent result pages",
            "Pages of per-record results fetched at the same time (fewer when the API answers 429; 1 fetches them "
            "one by one).",
            "integer",
            default=16,
            minimum=1,
            maximum=32,
        ),
        Option(
            "dashboard_url",
            "Dashboard URL",
            "Base URL (http:// or https://) of the Runtype dashboard, for the 'Runtype run' link.",
            "url",
            default_text="https://app.runtype.com for the API at api.runtype.com, else the API base URL",
        ),
        Option(
            "shared_run_list_polls",
            "Shared run-list polls",
            "Deferred waits on one schedule share one read of its run list per interval instead of one read per "
            "run (the final status still comes from each run's batch status).",
            "boolean",
            default=False,
        ),
    )
}
"""Every connection extra, by name, in the order the form shows them."""
