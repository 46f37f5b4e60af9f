"""Schedules by name: which schedule a ``schedule_name`` means, and which run of a schedule is its newest active one.

Infrastructure-as-code recreates schedules with new ids, so tasks may name a schedule instead. A name
means the one schedule whose name equals it exactly: case-sensitive, inner whitespace as written, outer
whitespace ignored on both sides (a template often renders a trailing newline). The API's ``search`` only
narrows the listing (it may match substrings, any case, or be ignored by the server); the exact comparison
is done here. Bounded: at most :data:`MAX_NAME_CANDIDATES` schedules are read per lookup, and error messages
list at most :data:`MAX_LISTED_CANDIDATES` ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from runtype_provider.exceptions import (
    RuntypeAmbiguousScheduleError,
    RuntypeConfigurationError,
    RuntypeScheduleNotFoundError,
    printable,
    quoted,
)
from runtype_provider.runs.status import is_active_run_status

if TYPE_CHECKING:
    from runtype_provider.api.responses import Schedule

MAX_NAME_CANDIDATES = 1000
"""Most schedules one lookup reads (ten pages of 100); a search matching more is refused as ambiguous."""
MAX_LISTED_CANDIDATES = 10
"""Most candidate ids an error message names (the error's ``candidates`` holds up to 100)."""
MAX_NAME_LENGTH = 1000
MAX_SHOWN_ID = 100
"""Characters of a server-given id or name shown in a message (escaped by :func:`~runtype_provider.exceptions.quoted`:
a hostile server must not forge log lines or fill the log)."""
MAX_CANDIDATE_ID = 256
"""Longest id kept in an error's ``candidates`` (longer ones are no real id)."""


def schedule_name_text(name: Any, argument: str = "schedule_name") -> str:
    """The name to look up: a non-empty string of at most :data:`MAX_NAME_LENGTH` characters, outer spaces dropped."""
    if not isinstance(name, str) or not name.strip():
        raise RuntypeConfigurationError(f"{argument!r} must be a non-empty string, got {name!r}")
    text = name.strip()
    if len(text) > MAX_NAME_LENGTH:
        raise RuntypeConfigurationError(f"{argument!r} is longer than {MAX_NAME_LENGTH} characters")
    return text


def _listed(ids: list[str]) -> str:
    shown = ", ".join(printable(i, MAX_SHOWN_ID) for i in ids[:MAX_LISTED_CANDIDATES])
    return shown + (f" and {len(ids) - MAX_LISTED_CANDIDATES} more" if len(ids) > MAX_LISTED_CANDIDATES else "")


def pick_schedule_by_name(name: str, schedules: Iterable[Schedule], *, where: str = "") -> Schedule:
    """The one schedule in ``schedules`` named exactly ``name`` (see the module docstring).

    Reads at most :data:`MAX_NAME_CANDIDATES` + 1 schedules. Raises
    :class:`~runtype_provider.exceptions.RuntypeScheduleNotFoundError` (naming schedules whose name differs
    only in case or outer spaces, if any) or :class:`~runtype_provider.exceptions.RuntypeAmbiguousScheduleError`
    (naming the candidates' ids).
    """
    exact: list[str] = []
    near: list[str] = []
    found: Schedule | None = None
    scope = f" {where}" if where else ""
    for scanned, schedule in enumerate(schedules, start=1):
        if scanned > MAX_NAME_CANDIDATES:
            raise RuntypeAmbiguousScheduleError(
                f"More than {MAX_NAME_CANDIDATES} Runtype schedules{scope} match the search for {quoted(name)}, so "
                f"cannot tell which one it names (exact matches among the first: {_listed(exact) or 'none'}); "
                "give 'schedule_id' instead",
                name=name,
                candidates=_candidates(exact),
            )
        candidate = (schedule.name or "").strip()
        if candidate == name:
            exact.append(schedule.id)
            found = schedule
        elif candidate.casefold() == name.casefold() and len(near) < MAX_LISTED_CANDIDATES:
            near.append(f"{quoted(schedule.name, MAX_SHOWN_ID)} ({printable(schedule.id, MAX_SHOWN_ID)})")
    if len(exact) == 1 and found is not None:
        return found
    if exact:
        raise RuntypeAmbiguousScheduleError(
            f"{len(exact)} Runtype schedules{scope} are named {quoted(name)}: {_listed(exact)}; "
            "rename all but one, or give 'schedule_id'",
            name=name,
            candidates=_candidates(exact),
        )
    hint = f"; names that differ only in case or spaces: {', '.join(near)}" if near else ""
    raise RuntypeScheduleNotFoundError(
        f"No Runtype schedule{scope} is named {quoted(name)} (names match exactly, case-sensitive){hint}", name=name
    )


def _candidates(ids: list[str]) -> list[str]:
    return [i for i in ids[:100] if len(i) <= MAX_CANDIDATE_ID]


def newest_active_run(runs: Iterable[Any]) -> Any:
    """The newest run (by ``created_at``) that is active: queued, running or of an unknown status; or None."""
    active = [run for run in runs if is_active_run_status(run.status)]
    return max(active, key=lambda run: run.created_at or "", default=None)
